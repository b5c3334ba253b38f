"""gunicorn settings of every way the service is served: ``make run`` (scripts/run), the image,
and the bench's bare-Django ceiling (``--config eventcapture/gunicorn_conf.py``).

Read by the gunicorn master, as a file: it must not import Django or the project.
"""

from __future__ import annotations

import gc
import logging
import os
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gunicorn import glogging
from pythonjsonlogger.orjson import OrjsonFormatter

# Threads, so that the requests a process holds at once can be queued together (one task for
# several requests: kafka_bridge/queue.py); the measurements behind the choice are in
# docs/throughput.md. The number of processes is WEB_CONCURRENCY, which gunicorn reads itself.
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "8"))


def log_format_read(environ: Mapping[str, str], env_file: Path) -> str:
    """``LOG_FORMAT`` as the settings read it: the environment, else the project's .env, else text."""
    value = environ.get("LOG_FORMAT")
    if value is None and env_file.is_file():
        for line in env_file.read_text(encoding="utf-8").splitlines():
            match = re.fullmatch(r"\s*LOG_FORMAT\s*=\s*['\"]?([A-Za-z]*)['\"]?\s*(#.*)?", line)
            if match:
                value = match.group(1)
    return (value or "text").strip().lower()


class GunicornJsonFormatter(OrjsonFormatter):
    """gunicorn's own lines as JSON, with the fields of the service's (eventcapture/logs.py
    ``JsonFormatter``, which this file may not import). An access line's values ("atoms", the
    record's one argument) add ``request_id`` (the X-Request-ID the service answered with),
    ``method``, ``path``, ``status`` and ``duration_ms``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            fmt=["levelname", "name", "message", "process", "threadName"],
            rename_fields={
                "levelname": "level",
                "name": "logger",
                "threadName": "thread",
                "exc_info": "exception",
                "stack_info": "stack",
            },
            **kwargs,
        )

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        log_data["timestamp"] = datetime.fromtimestamp(record.created, tz=UTC)
        super().add_fields(log_data, record, message_dict)
        atoms = record.args if record.name == "gunicorn.access" and isinstance(record.args, Mapping) else {}
        request_id = atoms.get("{x-request-id}o")
        if request_id and request_id != "-":
            log_data["request_id"] = request_id
        for field, atom in (("method", "m"), ("path", "U"), ("status", "s")):
            if atom in atoms:
                log_data[field] = atoms[atom]
        duration = atoms.get("D")  # microseconds
        if isinstance(duration, int):
            log_data["duration_ms"] = duration / 1000


class GunicornLogs(glogging.Logger):  # type: ignore[misc]  # gunicorn has no type hints
    """gunicorn's logger, its lines in JSON when LOG_FORMAT is json: wherever gunicorn was told to
    write them (``--error-logfile``, ``--access-logfile``; no access log unless asked for, as
    always). Text: gunicorn's lines as they always were."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        if log_format_read(os.environ, Path(__file__).resolve().parent.parent / ".env") != "json":
            return
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                if getattr(handler, "_gunicorn", False):  # the handlers gunicorn set up, no others
                    handler.setFormatter(GunicornJsonFormatter())


logger_class = GunicornLogs


def post_worker_init(worker: Any) -> None:
    """In each worker, once the app is loaded: everything loaded so far (Django, the apps, the
    registry's code) lives as long as the process, so it is moved out of the garbage collector's
    reach. Otherwise every full collection walks all of it again, some 130,000 objects: measured
    here, one such pass stopped every thread of the process for 70 ms, which is what a request that
    arrives then waits (docs/throughput.md)."""
    gc.freeze()


def child_exit(server: Any, worker: Any) -> None:
    """In the master, when a worker ended: with ``PROMETHEUS_MULTIPROC_DIR`` (eventcapture/metrics.py),
    its counts stay in the totals but its live gauges go. prometheus-client is imported only here;
    the master counts nothing itself."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
