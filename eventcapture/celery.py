"""The Celery application: configured from Django settings (``CELERY_*``), tasks autodiscovered.

It also wires the worker's metrics (eventcapture/metrics.py): the HTTP exporter started once in the
worker's main process when it is ready, task retries counted, and pool processes marked dead when
they exit.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import task_retry, worker_process_shutdown, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eventcapture.settings")

app = Celery("eventcapture")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def _metrics_exporter_start(sender: Any = None, **_: Any) -> None:
    # Sent by `celery worker` in its main process only (not by the test suite's in-thread worker).
    from eventcapture.metrics import worker_exporter_start_from_settings

    worker_exporter_start_from_settings(pool=getattr(sender, "pool", None))


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
