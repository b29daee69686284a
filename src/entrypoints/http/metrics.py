"""`GET /metrics` for Prometheus, and the middleware that counts HTTP requests by route.

Under `serve --workers N` (`PROMETHEUS_MULTIPROC_DIR` set), Litestar's controller answers from a
`MultiProcessCollector` over every worker's files instead of this process's registry, so any
worker answers for the whole server; its own gauge of requests in progress sums the live workers.
"""

from __future__ import annotations

from litestar.middleware.base import DefineMiddleware
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController


class MetricsController(PrometheusController):
    path = "/metrics"
    include_in_schema = False


def metrics_middleware() -> DefineMiddleware:
    return PrometheusConfig(
        app_name="chatservice",
        prefix="chatservice",
        # By route template (`/v1/users/{user_id}/chats`), never by user: bounded label values.
        group_path=True,
        exclude_unhandled_paths=True,
        exclude=["^/metrics$"],
    ).middleware
