from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from support.cost_meter import metered_engine
from support.grpc import LiveGrpcFactory, live_grpc_factory
from support.http import Api, ApiFactory, LiveApiFactory, api_factory, live_api_factory
from support.whatsapp import WhatsAppFactory, whatsapp_factory


@pytest.fixture
def open_api(database_url: str) -> ApiFactory:
    return api_factory(database_url)


@pytest.fixture
async def api(open_api: ApiFactory) -> AsyncIterator[Api]:
    async with open_api() as opened:
        yield opened


@pytest.fixture
def open_live_api(database_url: str) -> LiveApiFactory:
    return live_api_factory(database_url)


@pytest.fixture
def open_live_grpc(database_url: str) -> LiveGrpcFactory:
    return live_grpc_factory(database_url)


@pytest.fixture
def open_whatsapp(database_url: str) -> WhatsAppFactory:
    return whatsapp_factory(database_url)


@pytest.fixture
async def cost_engine(database_url: str, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """An engine for a `CostMeter` to measure (`support/cost_meter.py`)."""
    async with metered_engine(database_url, tmp_path) as engine:
        yield engine
