"""What the use cases report about their work, for metrics and logs, without knowing who listens."""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from chatservice.domain.chat import IDEMPOTENCY_KEY_PATTERN
from chatservice.domain.prices import ZERO

#: The trace id of the request being served, to follow it through the logs and into the model
#: provider's: the caller's HTTP `X-Request-Id` or gRPC `x-request-id`, else a new one. Set by
#: the transports; `None` outside a request. Not the idempotency key, which names a turn.
current_trace_id: ContextVar[str | None] = ContextVar("current_trace_id", default=None)


def trace_id_from(given: str | None) -> str:
    """The caller's trace id when it is one we can log and pass on (the same rule as
    idempotency keys: 1 to 128 printable ASCII characters), else a new one."""
    if given is not None and IDEMPOTENCY_KEY_PATTERN.fullmatch(given):
        return given
    return uuid.uuid4().hex


@dataclass(frozen=True)
class TurnReport:
    """One turn, as it ended. `outcome` is `completed`, `replayed`, `cancelled`, or the code of
    the error that ended it (`turn_in_progress`, `provider_timeout`, …). A replayed turn reports
    no model, tokens or erasures: it asked the model nothing and changed nothing."""

    outcome: str
    model: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    erased: int = 0
    #: What the reply cost in USD (`domain/prices.py`).
    cost: Decimal = ZERO


class TurnObserver(Protocol):
    """Listens to turns (`ObservedTurn`) and to the model's streams (`ObservedChatGateway`)."""

    def turn_started(self) -> None:
        """A turn began (it counts as active until `turn_ended`)."""

    def turn_ended(self, report: TurnReport) -> None: ...

    def first_text(self, seconds: float) -> None:
        """The model's first text arrived, `seconds` after the request to it."""

    def stream_ended(self, seconds: float) -> None:
        """The model's stream ended in full, `seconds` after the request to it."""

    def fell_back(self, from_model: str, to_model: str) -> None:
        """A turn moved from `from_model`, which failed before its first text, to `to_model`."""
