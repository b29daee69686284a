from __future__ import annotations

import pytest

from chatservice.adapters.tiktoken_counter import TiktokenTokenCounter
from support.services import COUNTER, Service, build_service


@pytest.fixture
def counter() -> TiktokenTokenCounter:
    return COUNTER


@pytest.fixture
def service() -> Service:
    return build_service()
