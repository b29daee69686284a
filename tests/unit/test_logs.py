import json
import logging

from chatservice.application.observability import current_request_id
from chatservice.entrypoints.logs import JsonFormatter, RequestIdFilter


def record(message: str) -> logging.LogRecord:
    entry = logging.LogRecord("chatservice.test", logging.INFO, __file__, 1, message, None, None)
    RequestIdFilter().filter(entry)
    return entry


def test_json_logs_are_one_object_a_line_with_the_request_id() -> None:
    token = current_request_id.set("req-42")
    try:
        line = JsonFormatter().format(record("a turn ended"))
    finally:
        current_request_id.reset(token)
    entry = json.loads(line)
    assert "\n" not in line
    assert entry["message"] == "a turn ended"
    assert entry["request_id"] == "req-42"
    assert entry["level"] == "INFO" and entry["logger"] == "chatservice.test"
    assert entry["time"].endswith("+00:00")


def test_records_outside_a_request_say_so() -> None:
    assert json.loads(JsonFormatter().format(record("idle")))["request_id"] == "-"
