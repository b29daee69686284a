"""Prometheus metrics: turns, tokens, provider latency, fallbacks, erasures, active turns,
summary folds, gRPC calls.

HTTP requests are counted by Litestar's Prometheus middleware (`chatservice_requests_total`,
`chatservice_request_duration_seconds`, by route template). The metrics live in the process's
default registry, shared by every container of the process, as Prometheus clients expect.

Under `serve --workers N` each worker is its own process: prometheus-client's multiprocess mode
(`PROMETHEUS_MULTIPROC_DIR`, set by the supervisor) keeps each worker's values in files, and
`/metrics` sums the counters and histograms over every worker that ever ran, and the gauges over
the workers alive.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from chatservice.application.observability import TurnReport
from chatservice.application.retention import PruneReport
from chatservice.application.summaries import FoldReport

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)

TURNS = Counter("chatservice_turns_total", "Turns by how they ended", ["outcome"])
TOKENS = Counter(
    "chatservice_tokens_total", "Tokens reported by the provider", ["direction", "model"]
)
# Dollars as a float: Prometheus keeps every value as a float64, which is close enough for a
# dashboard; the exact figures are the API's decimal strings.
COST = Counter("chatservice_cost_usd_total", "USD the model calls cost", ["model"])
ERASED = Counter("chatservice_erased_messages_total", "Messages erased from context windows")
# Under `serve --workers`, the sum over the workers alive (prometheus-client's multiprocess mode).
ACTIVE_TURNS = Gauge(
    "chatservice_active_turns", "Turns (model streams) in flight", multiprocess_mode="livesum"
)
PROVIDER_SECONDS = Histogram(
    "chatservice_provider_duration_seconds",
    "From the request to the model until its stream ended",
    buckets=_LATENCY_BUCKETS,
)
FIRST_TOKEN_SECONDS = Histogram(
    "chatservice_time_to_first_token_seconds",
    "From the request to the model until its first text",
    buckets=_LATENCY_BUCKETS,
)
FALLBACKS = Counter(
    "chatservice_fallbacks_total",
    "Turns moved to another model after theirs failed before its first text",
    ["from_model", "to_model"],
)
LIMIT_STORE_FAILURES = Counter(
    "chatservice_rate_limit_store_failures_total",
    "Times Redis failed to count a turn against the per-user limit (then counted per process)",
)
PRUNED = Counter(
    "chatservice_pruned_total", "Rows deleted by retention (sweeper and prune)", ["kind"]
)
SUMMARY_FOLDS = Counter(
    "chatservice_summary_folds_total",
    "Folds of erased exchanges into chats' summaries, by how they ended",
    ["outcome"],
)
GRPC_CALLS = Counter("chatservice_grpc_calls_total", "gRPC calls", ["method", "status"])
FORBIDDEN_USERS = Counter(
    "chatservice_forbidden_user_total",
    "Requests and calls refused because a scoped token acted for a user outside its glob",
    ["token"],
)
GRPC_SECONDS = Histogram(
    "chatservice_grpc_call_duration_seconds",
    "gRPC call duration",
    ["method"],
    buckets=_LATENCY_BUCKETS,
)


class PrometheusTurnObserver:
    def turn_started(self) -> None:
        ACTIVE_TURNS.inc()

    def turn_ended(self, report: TurnReport) -> None:
        ACTIVE_TURNS.dec()
        TURNS.labels(report.outcome).inc()
        if report.model is not None and (report.prompt_tokens or report.completion_tokens):
            TOKENS.labels("prompt", report.model).inc(report.prompt_tokens)
            TOKENS.labels("completion", report.model).inc(report.completion_tokens)
            COST.labels(report.model).inc(float(report.cost))
        if report.erased:
            ERASED.inc(report.erased)

    def first_text(self, seconds: float) -> None:
        FIRST_TOKEN_SECONDS.observe(seconds)

    def stream_ended(self, seconds: float) -> None:
        PROVIDER_SECONDS.observe(seconds)

    def fell_back(self, from_model: str, to_model: str) -> None:
        FALLBACKS.labels(from_model, to_model).inc()


class PrometheusSummaryObserver:
    def fold_ended(self, report: FoldReport) -> None:
        SUMMARY_FOLDS.labels(report.outcome).inc()
        # The summary calls are billed like turns: their tokens count with the turns'.
        if report.model is not None and report.calls:
            TOKENS.labels("prompt", report.model).inc(report.usage.prompt_tokens)
            TOKENS.labels("completion", report.model).inc(report.usage.completion_tokens)
            COST.labels(report.model).inc(float(report.usage.cost))


class PrometheusLimitStoreObserver:
    def store_unreachable(self) -> None:
        LIMIT_STORE_FAILURES.inc()


class PrometheusPruneObserver:
    def pruned(self, report: PruneReport) -> None:
        PRUNED.labels("chats").inc(report.chats)
        PRUNED.labels("whatsapp_messages").inc(report.whatsapp_messages)


def observe_grpc_call(method: str, status: str, seconds: float) -> None:
    GRPC_CALLS.labels(method, status).inc()
    GRPC_SECONDS.labels(method).observe(seconds)


def observe_forbidden_user(token_name: str) -> None:
    """`token_name`: the `[[tokens]]` entry's name, never its value."""
    FORBIDDEN_USERS.labels(token_name).inc()
