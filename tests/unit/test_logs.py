import json
import logging

from chatservice.application.observability import current_trace_id
from chatservice.entrypoints.logs import JsonFormatter, TraceIdFilter


def record(message: str) -> logging.LogRecord:
    entry = logging.LogRecord("chatservice.test", logging.INFO, __file__, 1, message, None, None)
    TraceIdFilter().filter(entry)
    return entry


def test_json_logs_are_one_object_a_line_with_the_trace_id_as_request_id() -> None:
    token = current_trace_id.set("req-42")
    try:
        line = JsonFormatter().format(record("a turn ended"))
    finally:
        current_trace_id.reset(token)
    entry = json.loads(line)
    assert "\n" not in line
    assert entry["message"] == "a turn ended"
    assert entry["request_id"] == "req-42"
    assert entry["level"] == "INFO" and entry["logger"] == "chatservice.test"
    assert entry["time"].endswith("+00:00")


def test_records_outside_a_request_say_so() -> None:
    assert json.loads(JsonFormatter().format(record("idle")))["request_id"] == "-"


def test_json_logs_of_workers_name_the_process_that_wrote_them() -> None:
    entry = record("worker ready")
    assert json.loads(JsonFormatter(with_pid=True).format(entry))["pid"] == entry.process
    assert "pid" not in json.loads(JsonFormatter().format(entry))
