"""Log lines as text or JSON (``LOG_FORMAT``), each naming the request it belongs to.

The request id lives in a context variable for as long as its request is served (the web's
middleware, eventcapture/request_ids.py, binds it), and the worker binds the ids of the requests
whose events a group or task carries while it delivers them (kafka_bridge/intake.py,
kafka_bridge/tasks.py). ``RequestIdFilter``, on every handler, copies them onto each record as
``request_id`` (one) or ``request_ids`` (several); a record that names its own (a dead letter names
the request of its one event) keeps it. The formatters show them: JSON as fields, text as a suffix
(` request_id=…`), so a line without one reads exactly as before.

gunicorn's own lines are configured in eventcapture/gunicorn_conf.py, which must not import the
project: it lays out its JSON lines as ``JsonFormatter`` does (tests/eventcapture/test_logs.py
holds the two to the same fields).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.orjson import OrjsonFormatter

LOG_FORMATS = ("text", "json")
# The text format of the web and the management commands, as it was before this module existed
# (the worker's lines keep Celery's format).
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# A log line names at most this many request ids: a group of the worker may carry thousands of
# one-event requests, and an unbounded line helps nobody (the count of the others is given).
REQUEST_IDS_LOGGED_MAX = 20

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
_request_ids: ContextVar[tuple[str, ...]] = ContextVar("request_ids", default=())


def request_id_get() -> str | None:
    """The id of the request being served in this context, if any."""
    return _request_id.get()


def request_id_set(request_id: str | None) -> None:
    """Log records made from now on in this context name ``request_id`` (None: no request)."""
    _request_id.set(request_id)


@contextmanager
def request_id_bound(request_id: str) -> Iterator[None]:
    """Log records made inside name ``request_id``."""
    token = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(token)


@contextmanager
def request_ids_bound(request_ids: Iterable[str]) -> Iterator[None]:
    """Log records made inside name these requests (the worker: those whose events it holds)."""
    token = _request_ids.set(tuple(request_ids))
    try:
        yield
    finally:
        _request_ids.reset(token)


class RequestIdFilter(logging.Filter):
    """Puts the request id (or ids) bound in the current context on every record it passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        if hasattr(record, "request_id") or hasattr(record, "request_ids"):
            return True
        request_id = _request_id.get()
        if request_id is not None:
            record.request_id = request_id
        else:
            request_ids = _request_ids.get()
            if request_ids:
                record.request_ids = request_ids
        return True


def _ids_shown(record: logging.LogRecord) -> tuple[list[str], int]:
    """The request ids a record names (at most ``REQUEST_IDS_LOGGED_MAX``), and how many more."""
    ids: Sequence[str] = getattr(record, "request_ids", None) or ()
    return list(ids[:REQUEST_IDS_LOGGED_MAX]), max(0, len(ids) - REQUEST_IDS_LOGGED_MAX)


def request_ids_suffix(record: logging.LogRecord) -> str:
    """`` request_id=…`` or `` request_ids=…,…`` for a text line; empty when it names none."""
    request_id = getattr(record, "request_id", None)
    if request_id:
        return f" request_id={request_id}"
    shown, more = _ids_shown(record)
    if not shown:
        return ""
    return f" request_ids={','.join(shown)}" + (f" (+{more} more)" if more else "")


class RequestIdSuffix(logging.Formatter):
    """A mixin for text formatters: the request id(s) after the message, before any traceback."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return super().formatMessage(record) + request_ids_suffix(record)


class TextFormatter(RequestIdSuffix, logging.Formatter):
    """``TEXT_FORMAT``, plus the request id(s) when a line has any."""

    def __init__(self, fmt: str | None = TEXT_FORMAT, datefmt: str | None = None) -> None:
        super().__init__(fmt, datefmt)


class JsonFormatter(OrjsonFormatter):
    """One JSON object a line: ``timestamp`` (ISO 8601, UTC), ``level``, ``logger``, ``message``,
    ``process``, ``thread``; ``request_id`` or ``request_ids`` when there are any, ``exception``
    (the traceback's text) when there is one, and whatever a record was given as ``extra``."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", ["levelname", "name", "message", "process", "threadName"])
        kwargs.setdefault(
            "rename_fields",
            {
                "levelname": "level",
                "name": "logger",
                "threadName": "thread",
                "exc_info": "exception",
                "stack_info": "stack",
            },
        )
        super().__init__(**kwargs)

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        # The time first, for people reading the lines; the rest as python-json-logger lays it out.
        log_data["timestamp"] = datetime.fromtimestamp(record.created, tz=UTC)
        super().add_fields(log_data, record, message_dict)
        shown, more = _ids_shown(record)
        if shown:
            log_data["request_ids"] = shown
            if more:
                log_data["request_ids_omitted"] = more
        else:
            log_data.pop("request_ids", None)
        if not log_data.get("request_id"):
            log_data.pop("request_id", None)


def logging_config(*, log_format: str, level: str) -> dict[str, Any]:
    """The ``LOGGING`` of the settings: every record to stderr, as text or JSON lines."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format {log_format!r} is not one of {', '.join(LOG_FORMATS)}")
    formatter = "json" if log_format == "json" else "text"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"text": {"()": TextFormatter}, "json": {"()": JsonFormatter}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": formatter, "filters": ["request_id"]}},
        "root": {"handlers": ["console"], "level": level},
    }


def handlers_in_format(handlers: Iterable[logging.Handler], *, log_format: str) -> None:
    """Handlers another library set up (Celery's, gunicorn's) made to name request ids, and to
    write JSON when ``log_format`` is ``json``; in text mode their own format is kept."""
    for handler in handlers:
        if not any(isinstance(existing, RequestIdFilter) for existing in handler.filters):
            handler.addFilter(RequestIdFilter())
        if log_format == "json":
            handler.setFormatter(JsonFormatter())
        elif handler.formatter is not None and not isinstance(handler.formatter, RequestIdSuffix):
            handler.setFormatter(_with_request_ids_suffix(handler.formatter))


def _with_request_ids_suffix(formatter: logging.Formatter) -> logging.Formatter:
    # The same formatter (Celery's colours and all), its message followed by the request id(s).
    suffixed = type(f"{type(formatter).__name__}WithRequestIds", (RequestIdSuffix, type(formatter)), {})
    copy: logging.Formatter = object.__new__(suffixed)
    copy.__dict__.update(formatter.__dict__)
    return copy
