"""The web's side of the queue: what an accepted event is while it waits for the worker, and
putting batches of them in the durable queue (Redis, through Celery). No Kafka client here: the
web never talks to Kafka, and the tasks are sent by name.

Group commit: every web process puts its accepted batches in the queue through one ``BatchQueue``.
A batch that arrives while another thread's publish is in flight waits for it to end; the next
publish then carries every batch that waited, as one task. A lone request publishes at once (an
idle service adds no wait), while a busy one sends fewer, larger tasks: what lets the worker keep up
with single-event requests, since every task costs it about the same whatever its size. A request
still answers only after the publish that carried its batch returned: 202 means queued.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from django.conf import settings

from eventcapture.celery import TASK_BODY_SERIALIZER, app
from eventcapture.exceptions import QueueUnavailable

logger = logging.getLogger(__name__)

DELIVER_TASK = "kafka_bridge.deliver_batch"
REPLAY_TASK = "kafka_bridge.replay_dead_letters"
# The queue of its own the delivery tasks go to (CELERY_TASK_ROUTES), which the worker's intake
# takes them from (kafka_bridge/intake.py); other tasks go to Celery's default queue.
DELIVER_QUEUE: str = settings.CELERY_TASK_ROUTES[DELIVER_TASK]["queue"]
# Events one task carries at most when batches are grouped (a batch larger than this goes alone).
TASK_MAX_EVENTS = 1000
RETRY_AFTER = "5"


class QueuedEvent(NamedTuple):
    """One accepted event as it travels in a task, as a JSON array: its id (minted at the edge),
    the schema revision it was validated against, its Kafka key and its record (JSON-safe: UUIDs
    as text; the worker's encoder makes them bytes)."""

    event_id: str
    schema_id: int
    key: str
    record: dict[str, Any]

    @classmethod
    def from_task(cls, item: Sequence[Any] | dict[str, Any]) -> QueuedEvent:
        # Tasks queued by earlier versions carry objects; a worker upgraded before the queue is
        # empty must still deliver them.
        return cls(**item) if isinstance(item, dict) else cls._make(item)


Publish = Callable[[list[QueuedEvent]], None]


class _Waiting:
    __slots__ = ("done", "error", "events", "turn")

    def __init__(self, events: Sequence[QueuedEvent]) -> None:
        self.events = events
        self.done = False
        self.error: BaseException | None = None
        # Set when a publish carried these events, or when it is their thread's turn to publish.
        self.turn = threading.Event()


class BatchQueue:
    """Puts batches in the queue, grouping those that arrive together (see the module's doc).

    One thread at a time publishes; a batch that arrives meanwhile waits on its own event, woken
    only when a publish carried it or when the publishing thread hands it the turn (never a herd
    of waiting threads woken to find their batch still waiting)."""

    def __init__(self, publish: Publish, *, max_events: int = TASK_MAX_EVENTS) -> None:
        self._publish = publish
        self._max_events = max_events
        self._lock = threading.Lock()
        self._waiting: deque[_Waiting] = deque()
        self._publishing = False

    def put(self, events: Sequence[QueuedEvent]) -> None:
        """Returns once ``events`` are in the queue; ``QueueUnavailable`` when they could not be."""
        mine = _Waiting(events)
        with self._lock:
            self._waiting.append(mine)
            publishing = self._publishing
            self._publishing = True
        if publishing:
            mine.turn.wait()
        while not mine.done:
            self._publish_next(mine)
        if mine.error is not None:
            raise QueueUnavailable(headers={"Retry-After": RETRY_AFTER}) from mine.error

    def _publish_next(self, mine: _Waiting) -> None:
        """Publish the batches waiting longest, as many as one task carries; then, once ``mine`` is
        in the queue, hand the turn to the next waiting batch."""
        with self._lock:
            group = [self._waiting.popleft()]
            size = len(group[0].events)
            while self._waiting and size + len(self._waiting[0].events) <= self._max_events:
                size += len(self._waiting[0].events)
                group.append(self._waiting.popleft())
        error: BaseException | None = None
        try:
            self._publish([event for waiting in group for event in waiting.events])
        except BaseException as exc:
            # Whatever stopped the publish (connection, timeout, a closed pool, the process being
            # stopped), these batches are not in the queue: their clients must hear 503 and retry,
            # never 202 and never 500.
            logger.warning("could not queue %d events of %d requests: %s", size, len(group), type(exc).__name__)
            error = exc
        for waiting in group:
            waiting.error = error
            waiting.done = True
            if waiting is not mine:
                waiting.turn.set()
        if mine.done:
            with self._lock:
                if self._waiting:
                    self._waiting[0].turn.set()
                else:
                    self._publishing = False
        if error is not None and not isinstance(error, Exception):
            raise error


def _deliver_task_send(events: list[QueuedEvent]) -> None:
    app.send_task(
        DELIVER_TASK,
        args=(events,),
        kwargs={"queued_at": time.time()},
        serializer=TASK_BODY_SERIALIZER,
        # Celery would otherwise build a repr of every record for its logs.
        argsrepr=f"({len(events)} events)",
        kwargsrepr="",
    )


_batches = BatchQueue(_deliver_task_send)


def batch_enqueue(*, events: Sequence[QueuedEvent]) -> None:
    """Put one accepted batch in the durable queue; ``QueueUnavailable`` if that fails."""
    _batches.put(events)


def replay_enqueue(*, event_ids: Sequence[str]) -> None:
    """Ask the worker to replay these dead letters (the web never produces to Kafka)."""
    app.send_task(REPLAY_TASK, args=(list(event_ids),), argsrepr=f"({len(event_ids)} dead letters)")
