"""Logging for the process: the service's own loggers at the configured level, and the libraries
that would print payloads, headers or SQL parameters held at WARNING."""

from __future__ import annotations

import logging

#: Loggers that print request bodies, headers or SQL parameters when verbose.
QUIET_LIBRARIES = (
    "sqlalchemy",
    "httpx",
    "httpx2",
    "httpcore",
    "openai",
    "aiosqlite",
    "asyncmy",
    "alembic",
    "grpclib",
    "uvicorn.access",
    "litestar",
)


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s", force=True
    )
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
