"""LOG_FORMAT (eventcapture/logs.py, gunicorn's lines in eventcapture/gunicorn_conf.py): JSON lines
that parse and carry the request id, text lines as they always were unless they name a request."""

from __future__ import annotations

import io
import json
import logging
import os
import runpy
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from celery.utils.log import ColorFormatter

from eventcapture.logs import (
    REQUEST_IDS_LOGGED_MAX,
    TEXT_FORMAT,
    JsonFormatter,
    RequestIdFilter,
    TextFormatter,
    handlers_in_format,
    logging_config,
    request_id_bound,
    request_ids_bound,
)

ROOT = Path(__file__).resolve().parents[2]
GUNICORN_CONF = ROOT / "eventcapture" / "gunicorn_conf.py"


class Captured:
    """A handler on a logger of the test's own, set up as LOGGING sets up the console's."""

    def __init__(self, formatter: logging.Formatter) -> None:
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.addFilter(RequestIdFilter())
        self.handler.setFormatter(formatter)
        self.logger = logging.getLogger(f"tests.logs.{id(self)}")
        self.logger.propagate = False
        self.logger.setLevel(logging.DEBUG)
        self.logger.addHandler(self.handler)

    def lines(self) -> list[str]:
        return self.stream.getvalue().splitlines()

    def objects(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines()]


@pytest.fixture
def as_json() -> Iterator[Captured]:
    captured = Captured(JsonFormatter())
    yield captured
    captured.logger.removeHandler(captured.handler)


@pytest.fixture
def as_text() -> Iterator[Captured]:
    captured = Captured(TextFormatter())
    yield captured
    captured.logger.removeHandler(captured.handler)


def test_a_json_line_is_one_object_with_the_time_in_utc_the_level_logger_message_process_and_thread(as_json):
    before = datetime.now(UTC)
    as_json.logger.warning("%d events of %s", 3, "nudged")

    [line] = as_json.objects()
    assert set(line) == {"timestamp", "level", "logger", "message", "process", "thread"}
    assert (line["level"], line["logger"], line["message"]) == ("WARNING", as_json.logger.name, "3 events of nudged")
    assert (line["process"], line["thread"]) == (os.getpid(), "MainThread")
    stamp = datetime.fromisoformat(line["timestamp"])
    assert stamp.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= stamp <= datetime.now(UTC) + timedelta(seconds=1)


def test_a_json_line_names_the_request_bound_when_it_was_logged_and_only_then(as_json):
    with request_id_bound("4f1c2a"):
        as_json.logger.info("in the request")
    as_json.logger.info("after it")

    inside, after = as_json.objects()
    assert inside["request_id"] == "4f1c2a"
    assert "request_id" not in after
    assert "request_ids" not in after


def test_a_json_line_carries_an_exceptions_text_and_a_message_with_a_line_break_stays_one_line(as_json):
    with request_ids_bound(["a", "b"]):
        try:
            raise RuntimeError("kafka is away")
        except RuntimeError:
            as_json.logger.exception("delivery failed\nsecond line")

    [text] = as_json.lines()
    line = json.loads(text)
    assert line["message"] == "delivery failed\nsecond line"
    assert line["exception"].startswith("Traceback (most recent call last):")
    assert line["exception"].endswith("RuntimeError: kafka is away")
    assert line["request_ids"] == ["a", "b"]
    assert line["level"] == "ERROR"


def test_a_line_names_at_most_so_many_request_ids_and_counts_the_others(as_json, as_text):
    many = [f"r{n}" for n in range(REQUEST_IDS_LOGGED_MAX + 5)]
    with request_ids_bound(many):
        as_json.logger.error("stalled")
        as_text.logger.error("stalled")

    [line] = as_json.objects()
    assert line["request_ids"] == many[:REQUEST_IDS_LOGGED_MAX]
    assert line["request_ids_omitted"] == 5
    assert as_text.lines()[0].endswith(f" stalled request_ids={','.join(many[:REQUEST_IDS_LOGGED_MAX])} (+5 more)")


def test_a_record_that_names_its_own_request_keeps_it(as_json):
    with request_ids_bound(["a", "b"]):
        as_json.logger.error("a dead letter", extra={"request_id": "b"})
        as_json.logger.error("of no request", extra={"request_ids": ()})

    own, none = as_json.objects()
    assert own["request_id"] == "b"
    assert "request_ids" not in own
    assert "request_id" not in none
    assert "request_ids" not in none


def test_a_text_line_without_a_request_is_exactly_the_format_of_before(as_text):
    as_text.logger.info("intake: taking up to %d tasks", 50)

    record = logging.LogRecord(
        as_text.logger.name, logging.INFO, __file__, 1, "intake: taking up to %d tasks", (50,), None
    )
    [line] = as_text.lines()
    # The time differs; the rest is the old formatter's.
    assert line.split(" ", 2)[2] == logging.Formatter(TEXT_FORMAT).format(record).split(" ", 2)[2]
    assert line.endswith(f" INFO {as_text.logger.name} intake: taking up to 50 tasks")


def test_a_text_line_names_its_request_after_the_message_and_before_a_traceback(as_text):
    with request_id_bound("4f1c2a"):
        as_text.logger.warning("refused")
        try:
            raise ValueError("bad")
        except ValueError:
            as_text.logger.exception("failed")

    lines = as_text.lines()
    assert lines[0].endswith(" WARNING " + as_text.logger.name + " refused request_id=4f1c2a")
    assert lines[1].endswith(" failed request_id=4f1c2a")
    assert lines[2] == "Traceback (most recent call last):"
    assert lines[-1] == "ValueError: bad"


def test_the_settings_logging_puts_the_request_id_filter_and_the_chosen_formatter_on_the_console():
    for log_format, formatter in (("text", TextFormatter), ("json", JsonFormatter)):
        config = logging_config(log_format=log_format, level="INFO")
        console = config["handlers"]["console"]
        assert config["formatters"][console["formatter"]]["()"] is formatter
        assert [config["filters"][name]["()"] for name in console["filters"]] == [RequestIdFilter]
        assert config["root"] == {"handlers": ["console"], "level": "INFO"}
    with pytest.raises(ValueError, match="'xml' is not one of text, json"):
        logging_config(log_format="xml", level="INFO")


def manage_check(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "SECRET_KEY": "test-only", "DJANGO_SETTINGS_MODULE": "eventcapture.settings"}
        | env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_an_unknown_log_format_is_refused_at_start_up_naming_the_variable():
    result = manage_check(LOG_FORMAT="yaml")
    assert result.returncode != 0
    assert "ImproperlyConfigured: LOG_FORMAT must be one of text, json, got 'yaml'." in result.stderr


def test_a_process_set_up_by_the_settings_a_command_or_the_web_logs_json_lines_when_asked():
    # What manage.py and the WSGI app do first; the format name is read case-insensitively.
    script = "import logging, django; django.setup(); logging.getLogger('command').warning('hello')"
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={
            "PATH": os.environ["PATH"],
            "SECRET_KEY": "test-only",
            "DJANGO_SETTINGS_MODULE": "eventcapture.settings",
            "LOG_FORMAT": "JSON",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    [line] = [json.loads(text) for text in result.stderr.splitlines() if text.startswith("{")]
    assert (line["level"], line["logger"], line["message"]) == ("WARNING", "command", "hello")


# --- The worker: Celery's own handlers ------------------------------------------------------------


def celery_handler() -> tuple[logging.StreamHandler[io.StringIO], logging.Logger]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(ColorFormatter("[%(asctime)s: %(levelname)s/%(processName)s] %(message)s", use_color=False))
    logger = logging.getLogger(f"tests.logs.celery.{id(handler)}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    return handler, logger


def test_celerys_handlers_keep_their_text_format_and_add_the_request_ids():
    handler, logger = celery_handler()
    handlers_in_format([handler], log_format="text")
    handlers_in_format([handler], log_format="text")  # Celery sets up the root and the task logger

    logger.warning("plain")
    with request_ids_bound(["a"]):
        logger.warning("stalled")

    plain, stalled = handler.stream.getvalue().splitlines()
    assert plain.endswith(": WARNING/MainProcess] plain")
    assert stalled.endswith(": WARNING/MainProcess] stalled request_ids=a")
    assert isinstance(handler.formatter, ColorFormatter)
    assert len(handler.filters) == 1


def test_celerys_handlers_write_json_when_asked():
    handler, logger = celery_handler()
    handlers_in_format([handler], log_format="json")

    with request_ids_bound(["a", "b"]):
        logger.error("stalled")

    line = json.loads(handler.stream.getvalue())
    assert (line["message"], line["request_ids"]) == ("stalled", ["a", "b"])


# --- gunicorn's own lines --------------------------------------------------------------------------


def gunicorn_conf(monkeypatch: pytest.MonkeyPatch, log_format: str) -> dict[str, Any]:
    monkeypatch.setenv("LOG_FORMAT", log_format)
    return runpy.run_path(str(GUNICORN_CONF))


def access_record(atoms: dict[str, Any]) -> logging.LogRecord:
    return logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, '%(h)s "%(r)s" %(s)s', (atoms,), None)


def test_gunicorns_json_lines_have_the_fields_of_the_services_and_an_access_line_its_request(monkeypatch):
    conf = gunicorn_conf(monkeypatch, "json")
    formatter = conf["GunicornJsonFormatter"]()
    error = logging.LogRecord("gunicorn.error", logging.INFO, __file__, 1, "Booting worker with pid: %s", (7,), None)
    ours = json.loads(JsonFormatter().format(error))

    assert set(json.loads(formatter.format(error))) == set(ours)
    atoms = {
        "h": "127.0.0.1",
        "r": "POST /api/v0/events HTTP/1.1",
        "m": "POST",
        "U": "/api/v0/events",
        "s": "202",
        "D": 1500,
        "{x-request-id}o": "4f1c2a",
    }
    access = json.loads(formatter.format(access_record(atoms)))
    assert access["message"] == '127.0.0.1 "POST /api/v0/events HTTP/1.1" 202'
    assert (access["request_id"], access["method"], access["path"], access["status"]) == (
        "4f1c2a",
        "POST",
        "/api/v0/events",
        "202",
    )
    assert access["duration_ms"] == 1.5
    assert access["logger"] == "gunicorn.access"


@pytest.mark.parametrize(("log_format", "json_lines"), [("json", True), ("text", False)])
def test_gunicorns_logger_writes_json_only_when_asked(monkeypatch, log_format, json_lines):
    from gunicorn.config import Config

    conf = gunicorn_conf(monkeypatch, log_format)
    assert conf["logger_class"] is conf["GunicornLogs"]
    cfg = Config()
    cfg.set("accesslog", "-")
    logs = conf["logger_class"](cfg)
    handlers = [h for h in logs.error_log.handlers + logs.access_log.handlers if getattr(h, "_gunicorn", False)]
    try:
        assert len(handlers) == 2
        for handler in handlers:
            assert isinstance(handler.formatter, conf["GunicornJsonFormatter"]) is json_lines
    finally:
        for log in (logs.error_log, logs.access_log):
            for handler in [h for h in log.handlers if getattr(h, "_gunicorn", False)]:
                log.removeHandler(handler)


def test_gunicorn_reads_the_log_format_from_the_environment_then_the_env_file(tmp_path, monkeypatch):
    read = gunicorn_conf(monkeypatch, "text")["log_format_read"]
    env_file = tmp_path / ".env"
    env_file.write_text("LOG_LEVEL=INFO\nLOG_FORMAT=json  # one object a line\n", encoding="utf-8")

    assert read({}, env_file) == "json"
    assert read({"LOG_FORMAT": "TEXT"}, env_file) == "text"
    assert read({}, tmp_path / "missing") == "text"
