"""Logging for the process: the service's own loggers at the configured level, as text or one
JSON object a line, each record stamped with the trace id of the request it belongs to. The
libraries that would print payloads, headers or SQL parameters stay at WARNING."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from chatservice.application.observability import current_trace_id

#: Loggers that print request bodies, headers or SQL parameters when verbose.
QUIET_LIBRARIES = (
    "sqlalchemy", "httpx", "httpx2", "httpcore", "httpcore2", "openai", "aiosqlite", "asyncmy",
    "alembic", "grpclib", "uvicorn.access", "litestar",
)  # fmt: skip


class TraceIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.trace_id = current_trace_id.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    def __init__(self, with_pid: bool = False) -> None:
        super().__init__()
        self._with_pid = with_pid

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            # Named after the `X-Request-Id` header it echoes; log collectors key on it.
            "request_id": getattr(record, "trace_id", "-"),
        }
        if self._with_pid:
            entry["pid"] = record.process
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str, log_format: str, with_pid: bool = False) -> None:
    """Log to stderr. `with_pid`: each record names the process that wrote it (`serve
    --workers`, where a supervisor and its workers share one stderr)."""
    handler = logging.StreamHandler()
    handler.addFilter(TraceIdFilter())
    pid = " pid=%(process)d" if with_pid else ""
    handler.setFormatter(
        JsonFormatter(with_pid)
        if log_format == "json"
        else logging.Formatter(
            f"%(asctime)s %(levelname)s %(name)s{pid} [%(trace_id)s] %(message)s"
        )
    )
    logging.basicConfig(level=level, handlers=[handler], force=True)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
