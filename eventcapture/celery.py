"""The Celery application: configured from Django settings (``CELERY_*``), tasks autodiscovered.

Its lines are in ``LOG_FORMAT`` and name request ids (eventcapture/logs.py): Celery sets up the
worker's logging itself (its format, ``--loglevel``, the root logger taken over), then hands its
handlers over here. A worker refuses to start with settings unsafe for production
(eventcapture/guards.py), as the web does. It also wires the worker's metrics
(eventcapture/metrics.py): the HTTP exporter started once in the worker's main process when it
is ready, task retries counted, and pool processes marked dead when they exit.
"""

from __future__ import annotations

import gc
import logging
import os
from typing import Any

import orjson
from celery import Celery
from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    task_retry,
    worker_init,
    worker_process_shutdown,
    worker_ready,
)
from kombu.serialization import register

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eventcapture.settings")


def _tuple_as_list(value: Any) -> list[Any]:
    # A task's events are named tuples (kafka_bridge.queue.QueuedEvent), JSON arrays on the wire.
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def task_body_dumps(value: Any) -> bytes:
    """A task body as the "orjson" serializer writes it."""
    return orjson.dumps(value, default=_tuple_as_list)


# The delivery task's bodies as orjson writes and reads them: for a batch's records the standard
# library's json, which kombu's "json" uses, takes ten times as long. Everything else (control
# messages, and tasks queued by earlier versions) stays plain "json", which workers still accept.
TASK_BODY_SERIALIZER = "orjson"
register(
    TASK_BODY_SERIALIZER,
    task_body_dumps,  # type: ignore[arg-type]  # kombu's stubs want text; a "binary" encoding gives bytes
    orjson.loads,
    content_type="application/x-orjson",
    content_encoding="binary",
)

app = Celery("eventcapture")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _production_guards(**_: Any) -> None:
    # Sent by every worker as it is built, before it connects to anything. Celery logs an exception
    # of a signal handler and goes on: SystemExit, which it lets through, is what stops the worker.
    from django.core.exceptions import ImproperlyConfigured

    from eventcapture.guards import production_guards

    try:
        production_guards()
    except ImproperlyConfigured as error:
        raise SystemExit(f"{type(error).__module__}.{type(error).__name__}: {error}") from error


@after_setup_logger.connect
@after_setup_task_logger.connect
def _logs_in_format(logger: logging.Logger | None = None, **_: Any) -> None:
    # Celery's handlers (its text format, to stderr or --logfile) with the request ids, as JSON
    # when LOG_FORMAT is json. Sent by `celery worker` only, not by the test suite's in-thread worker.
    from django.conf import settings

    from eventcapture.logs import handlers_in_format

    if logger is not None:
        handlers_in_format(logger.handlers, log_format=settings.LOG_FORMAT)


@worker_ready.connect
def _metrics_exporter_start(sender: Any = None, **_: Any) -> None:
    # Sent by `celery worker` in its main process only (not by the test suite's in-thread worker).
    from eventcapture.metrics import worker_exporter_start_from_settings

    worker_exporter_start_from_settings(pool=getattr(sender, "pool", None))


@worker_ready.connect
def _garbage_collector_settle(**_: Any) -> None:
    # As in the web processes (gunicorn_conf.py): what is loaded by now lives as long as the worker,
    # and need not be scanned by every full pass of the garbage collector.
    gc.freeze()


@task_retry.connect
def _metrics_task_retried(sender: Any = None, reason: Any = None, **_: Any) -> None:
    from eventcapture.metrics import task_retried

    # `reason` is Celery's Retry, wrapping the exception that caused it when there was one.
    cause = getattr(reason, "exc", None) or reason
    task_retried(task=str(getattr(sender, "name", "unknown")), exception=type(cause).__name__)


@worker_process_shutdown.connect
def _metrics_process_exited(**_: Any) -> None:
    from eventcapture.metrics import process_exited

    process_exited(pid=os.getpid())
