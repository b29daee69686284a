"""Liveness and readiness probes, open without a token."""

from __future__ import annotations

from litestar import get
from litestar.di import NamedDependency

from chatservice.application.chats import CheckReadiness
from chatservice.entrypoints.http.errors import error_responses


@get("/healthz", tags=["operations"], summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get("/readyz", tags=["operations"], summary="The database answers", responses=error_responses(503))
async def readyz(check_readiness: NamedDependency[CheckReadiness]) -> dict[str, str]:
    await check_readiness()
    return {"status": "ready"}
