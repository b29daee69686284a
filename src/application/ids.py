"""Ids for what the use cases create: chats, messages, and turns sent without an idempotency key."""

from __future__ import annotations

import uuid


def new_id() -> str:
    return str(uuid.uuid4())
