"""The worker's Celery tasks: delivering a queued batch, and replaying dead letters."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from celery import Task, shared_task
from celery.signals import worker_process_init, worker_process_shutdown, worker_shutdown
from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections

from eventcapture.celery import TASK_BODY_SERIALIZER, app
from eventcapture.logs import request_ids_bound
from kafka_bridge.dead_letters import ReplayInterrupted, dead_letters_replay
from kafka_bridge.delivery import batch_deliver
from kafka_bridge.intake import TRANSIENT, IntakeStep
from kafka_bridge.numbers import event_counts_count, event_counts_flush, group_tally
from kafka_bridge.producer import DeliveryFailed, producer_flush, producer_reset
from kafka_bridge.queue import (
    DELIVER_TASK,
    REPLAY_TASK,
    REQUEST_IDS_HEADER,
    QueuedEvent,
    request_ids_of,
    requests_read,
)
from kafka_bridge.registry_client import RegistryUnavailable

logger = logging.getLogger(__name__)


# The worker takes delivery tasks through its intake, many at a time.
app.steps["worker"].add(IntakeStep)


# What the intake does for many tasks at once, for one: tasks that reached Celery's own consumer
# (queued by an earlier version in the default queue, or handed over by the intake).
@shared_task(
    name=DELIVER_TASK,
    bind=True,
    # Its retries are written as the web writes it (kafka_bridge/queue.py).
    serializer=TASK_BODY_SERIALIZER,
    # The database unreachable (its dead letters cannot be kept) is as transient as Kafka down.
    autoretry_for=TRANSIENT,
    # Kafka down means retry until it is back, never drop: no retry limit, backoff capped at 5 min.
    max_retries=None,
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=True,
    # Re-queueing the retry must not fail while Redis blinks: a failed retry publish would make
    # Celery acknowledge (drop) the batch. Keep trying; the worker can do nothing without Redis.
    retry_kwargs={"retry": True, "retry_policy": {"max_retries": None, "interval_start": 1, "interval_max": 30}},
)
def deliver_batch(self: Task[Any, Any], events: list[Any], queued_at: float | None = None) -> None:
    # `events`: kafka_bridge.queue.QueuedEvent rows, as JSON arrays. The requests they came from
    # are in a header of the message (kafka_bridge/queue.py), which Celery keeps in its retries.
    header = getattr(self.request, REQUEST_IDS_HEADER, None) or (self.request.headers or {}).get(REQUEST_IDS_HEADER)
    requests = requests_read(header, events=len(events))
    queued = [QueuedEvent.from_task(item) for item in events]
    with request_ids_bound(request_ids_of(requests)):
        try:
            report = batch_deliver(events=queued, retrying=self.request.retries > 0, requests=requests)
        except (DeliveryFailed, RegistryUnavailable) as exc:
            delivery_stall_report(queued_at=queued_at, now=time.time(), events=len(events), error=exc)
            raise
    tally = group_tally(
        tasks=[(queued_at, queued)],
        majors=report.majors,
        delivered=report.delivered,
        delivered_at=datetime.now(tz=UTC),
    )
    event_counts_count(tally=tally)


def delivery_stall_report(*, queued_at: float | None, now: float, events: int, error: Exception) -> bool:
    """Log an error (for alerting) when a batch has waited longer than KAFKA_OUTAGE_ALERT_SECONDS;
    it keeps being retried all the same. True when it logged."""
    if queued_at is None or now - queued_at < settings.KAFKA_OUTAGE_ALERT_SECONDS:
        return False
    logger.error(
        "a batch of %d events has been undelivered for %.0f s and is still being retried: %s",
        events,
        now - queued_at,
        type(error).__name__,
    )
    return True


@shared_task(
    name=REPLAY_TASK,
    # Kafka or the external registry not answering: try again later; only pending letters are replayed.
    autoretry_for=(ReplayInterrupted, OperationalError, InterfaceError),
    max_retries=None,
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=True,
)
def replay_dead_letters(event_ids: list[str]) -> None:
    # The admin's action: the web process never produces to Kafka, the worker does.
    dead_letters_replay(ids=event_ids)


@worker_process_init.connect
def _producer_after_fork(**_: Any) -> None:
    # A forked child (a prefork pool) must never use a producer (and its threads) built in the parent.
    producer_reset()


@worker_process_shutdown.connect
@worker_shutdown.connect
def _producer_on_shutdown(**_: Any) -> None:
    # After the pool finished the batches in hand: deliver what is still buffered. The thread pool
    # shares the worker's process (worker_shutdown); a prefork child has its own (worker_process_shutdown).
    producer_flush()


@worker_shutdown.connect
def _counts_on_shutdown(**_: Any) -> None:
    # After the intake stopped: the live numbers' counts still pending in this process are written.
    try:
        event_counts_flush()
    finally:
        close_old_connections()
