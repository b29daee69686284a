from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from support.http import Api, ApiFactory, api_factory


@pytest.fixture
def open_api(database_url: str) -> ApiFactory:
    return api_factory(database_url)


@pytest.fixture
async def api(open_api: ApiFactory) -> AsyncIterator[Api]:
    async with open_api() as opened:
        yield opened
