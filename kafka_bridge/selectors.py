"""Reads of the bridge's state for the metrics: what is not yet delivered.

Both are read at scrape time, by the web's ``/metrics`` and the worker's exporter alike, so each is
one cheap, bounded read: the oldest batch's queue time from Redis (the task next to be taken, and
the tasks workers hold unacknowledged), and the pending dead letters in one grouped query. No Kafka
client here: the web imports this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import redis
from django.db import connection, transaction
from django.db.models import Count

from kafka_bridge.models import DeadLetter
from kafka_bridge.queue import DELIVER_QUEUE, task_queued_at

# Entries of kombu's unacked hash read at most per scrape. The intake holds at most
# DELIVERY_CONCURRENCY times TAKE_MAX tasks per worker (200 by default) while Kafka is down; the rest
# wait in the queue. More than this means something else is wrong, and the gauge still shows the
# oldest of those read.
UNACKED_READ_MAX = 1000
_UNACKED_SCAN_COUNT = 200


@dataclass(frozen=True)
class OldestBatches:
    """Ages in seconds (0: none) of the oldest undelivered batch in each state: ``queued``, waiting
    in the ``deliver`` queue; ``taken``, taken by a worker and not yet acknowledged by Kafka (in
    flight, retried while Kafka is down, or held by a worker that died, until the visibility timeout
    puts it back)."""

    queued: float
    taken: float


def _queued_at(message: Mapping[str, Any]) -> float | None:
    try:
        return task_queued_at(message)
    except (ValueError, KeyError, TypeError, IndexError):
        # Not a readable delivery task: the intake hands it to Celery's consumer; not a batch.
        return None


def oldest_batches_get(
    *, client: redis.Redis, prefix: str, unacked_key: str, now: float, queue: str = DELIVER_QUEUE
) -> OldestBatches:
    """The oldest undelivered batches, read with ``client`` (whose socket timeout bounds each of its
    few round trips): the task at the end of the queue the intake takes from next (``LINDEX -1``:
    the web pushes on the left, the intake, kombu's restore and a stopping worker's give-back all
    act on the right, so it is the oldest), decoded alone; and every delivery task in kombu's
    unacked hash (``HSCAN``, at most ``UNACKED_READ_MAX`` entries). Ages come from each task's
    ``queued_at`` (the web's clock), never below 0. Redis errors propagate."""
    queued = 0.0
    raw = client.lindex(prefix + queue, -1)
    if isinstance(raw, bytes):
        try:
            message = orjson.loads(raw)
        except orjson.JSONDecodeError:
            message = None
        queued_at = _queued_at(message) if isinstance(message, dict) else None
        if queued_at is not None:
            queued = max(0.0, now - queued_at)
    taken = 0.0
    for read, (_tag, value) in enumerate(client.hscan_iter(prefix + unacked_key, count=_UNACKED_SCAN_COUNT)):
        if read >= UNACKED_READ_MAX:
            break
        try:
            # kombu keeps [message, exchange, routing key]; the routing key names the queue.
            message, _exchange, routing_key = orjson.loads(value)
        except (orjson.JSONDecodeError, ValueError, TypeError):
            continue
        if routing_key != queue or not isinstance(message, dict):
            continue
        queued_at = _queued_at(message)
        if queued_at is not None:
            taken = max(taken, now - queued_at)
    return OldestBatches(queued=queued, taken=taken)


def dead_letters_pending_count(*, timeout: float) -> dict[str, int]:
    """Pending dead letters (neither replayed nor delivered) per event type, in one grouped query;
    a dead letter whose revision could not be loaded has no type and counts as ``""``. On
    PostgreSQL the query is cancelled after ``timeout`` seconds (``statement_timeout``, for this
    transaction only); SQLite waits on a locked file at most its own ``timeout`` option."""
    rows = (
        DeadLetter.objects.filter(status=DeadLetter.Status.PENDING)
        .order_by()  # the model's ordering would split the groups
        .values_list("event_type")
        .annotate(count=Count("pk"))
    )
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL statement_timeout = %s", [max(1, int(timeout * 1000))])
        return {str(event_type): int(count) for event_type, count in rows}
