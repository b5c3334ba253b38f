"""The worker's intake: queued batches taken from Redis many at a time, delivered, acknowledged.

Why not Celery's own consumer: it takes one task per round trip to Redis, copies each whole task
into Redis again to keep it until acknowledged, decodes its body twice, and traces it; about two
milliseconds a task, whatever the task does, which caps a worker at a few hundred batches a second.
The intake takes up to ``TAKE_MAX`` tasks in one atomic script, decodes each once, delivers the
events of all of them together (Kafka's acknowledgement of one group never holds up the next: up
to ``DELIVERY_CONCURRENCY`` groups are in flight on the process's one producer), and acknowledges
them in one round trip.

It keeps Celery's and kombu's ways, so nothing else changes:

* The web puts batches in the queue as Celery tasks (``kafka_bridge.deliver_batch``, routed to the
  ``deliver`` queue); the intake reads the task messages as Celery would (protocol 2).
* A task taken is kept in kombu's ``unacked`` hash and ``unacked_index`` set, in the same script
  that takes it, until Kafka acknowledged its events. A worker that dies holding tasks leaves them
  there, and kombu (any Celery worker on the same Redis) puts them back in the queue once they are
  older than the visibility timeout: at-least-once, duplicates only after a crash, with the same
  event ids. While it is still working on a task (Kafka down, retrying) the intake keeps its time
  in ``unacked_index`` fresh, so it is never handed to another worker meanwhile.
* Kafka or the external registry not answering: the group is retried with backoff for as long as
  it takes (no new tasks are taken meanwhile; they wait in Redis). Events that cannot be encoded
  become dead letters (kafka_bridge/delivery.py).
* On a warm shutdown the intake stops taking, lets the groups in flight finish their attempt, and
  puts back at the head of the queue the tasks of any that did not succeed.

It runs as a bootstep of the Celery worker (``celery -A eventcapture worker``), and answers the
remote-control commands ``intake_pause`` and ``intake_resume``.
"""

from __future__ import annotations

import itertools
import logging
import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis
from celery import bootsteps
from celery.worker.control import control_command
from django.conf import settings
from django.db import close_old_connections

from eventcapture import metrics
from eventcapture.logs import request_ids_bound
from kafka_bridge.delivery import DeliveryReport, batch_deliver
from kafka_bridge.numbers import event_counts_count, group_tally
from kafka_bridge.producer import DeliveryFailed
from kafka_bridge.queue import (
    DELIVER_QUEUE,
    DELIVER_TASK,
    QueuedEvent,
    RequestSpan,
    request_ids_of,
    task_read,
)
from kafka_bridge.targets import TRANSIENT as TARGET_TRANSIENT

logger = logging.getLogger(__name__)

# Tasks taken in one round trip (one group, delivered together).
TAKE_MAX = 50
# After a take that emptied the queue, the wait before the next one (seconds).
TAKE_LINGER = 0.005
# Waits between looks at an empty queue, growing from the first to the last.
IDLE_WAITS = (0.001, 0.002, 0.005, 0.01, 0.02)
# Backoff between attempts of a group Kafka did not acknowledge: 1, 2, 4 ... up to this, with jitter.
RETRY_BACKOFF_MAX = 60.0
# Tries of a Redis operation on tasks taken, once the worker is stopping.
STOPPING_REDIS_TRIES = 3
# Failures that retrying can mend: Kafka, the external registry or the database not answering.
TRANSIENT = (DeliveryFailed, *TARGET_TRANSIENT)

# Takes up to ARGV[1] tasks from the queue (KEYS[1]) and keeps each, as kombu does, in the unacked
# hash (KEYS[2]) with its time in the unacked index (KEYS[3]): in one step, so no task is ever out
# of both the queue and the hash. kombu's producers push on the left; consumers pop on the right.
_TAKE = """
local taken = {}
for i = 1, tonumber(ARGV[1]) do
  local raw = redis.call('RPOP', KEYS[1])
  if not raw then break end
  local tag = string.match(raw, '"delivery_tag":%s*"([^"]+)"')
  if not tag then tag = 'intake-' .. ARGV[2] .. '-' .. i end
  redis.call('HSET', KEYS[2], tag, '[' .. raw .. ',"",' .. cjson.encode(ARGV[3]) .. ']')
  redis.call('ZADD', KEYS[3], ARGV[2], tag)
  taken[#taken + 1] = tag
  taken[#taken + 1] = raw
end
return taken
"""


@dataclass(frozen=True)
class Taken:
    """One task taken from the queue: its delivery tag, as it was in the queue, and its events."""

    tag: str
    raw: bytes
    events: list[QueuedEvent]
    queued_at: float | None
    retries: int
    # The requests its events came from (one span of no request for a task queued before they were named).
    requests: list[RequestSpan] = field(default_factory=list)


@dataclass
class _Keys:
    queue: str
    unacked: str
    unacked_index: str


class IntakeQueue:
    """The Redis side: taking, keeping fresh, acknowledging and giving back tasks."""

    def __init__(self, *, url: str, transport_options: dict[str, Any], queue: str = DELIVER_QUEUE) -> None:
        prefix = str(transport_options.get("global_keyprefix", ""))
        self.keys = _Keys(
            queue=prefix + queue,
            unacked=prefix + str(transport_options.get("unacked_key", "unacked")),
            unacked_index=prefix + str(transport_options.get("unacked_index_key", "unacked_index")),
        )
        self.queue = queue
        self.client = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5, health_check_interval=30)
        self._take = self.client.register_script(_TAKE)

    def take(self, count: int) -> list[tuple[str, bytes]]:
        reply = self._take(
            keys=[self.keys.queue, self.keys.unacked, self.keys.unacked_index], args=[count, time.time(), self.queue]
        )
        return [(tag.decode(), raw) for tag, raw in zip(reply[::2], reply[1::2], strict=True)]

    def ack(self, tags: Sequence[str]) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.zrem(self.keys.unacked_index, *tags)
        pipe.hdel(self.keys.unacked, *tags)
        pipe.execute()

    def hold(self, tags: Sequence[str]) -> None:
        """Still working on these: their time in the unacked index is now (kombu restores only
        tasks older than the visibility timeout)."""
        now = time.time()
        self.client.zadd(self.keys.unacked_index, dict.fromkeys(tags, now), xx=True)

    def give_back(self, taken: Sequence[tuple[str, bytes]]) -> None:
        """Back at the head of the queue (next to be taken), out of the unacked hash."""
        pipe = self.client.pipeline(transaction=True)
        for _tag, raw in reversed(taken):
            pipe.rpush(self.keys.queue, raw)
        tags = [tag for tag, _ in taken]
        pipe.zrem(self.keys.unacked_index, *tags)
        pipe.hdel(self.keys.unacked, *tags)
        pipe.execute()

    def to_celery(self, tag: str, raw: bytes, queue: str) -> None:
        """A message the intake does not handle, handed to Celery's own consumer."""
        pipe = self.client.pipeline(transaction=True)
        pipe.lpush(queue, raw)
        pipe.zrem(self.keys.unacked_index, tag)
        pipe.hdel(self.keys.unacked, tag)
        pipe.execute()


def _backoff(attempt: int) -> float:
    return float(random.uniform(0.5, 1.0) * min(RETRY_BACKOFF_MAX, 2.0 ** (attempt - 1)))  # noqa: S311 (jitter)


@dataclass
class _Group:
    taken: list[Taken] = field(default_factory=list)

    @property
    def tags(self) -> list[str]:
        return [task.tag for task in self.taken]

    def events(self) -> list[QueuedEvent]:
        return [event for task in self.taken for event in task.events]

    def requests(self) -> list[RequestSpan]:
        """The request spans of ``events()``."""
        return [span for task in self.taken for span in task.requests]


class Intake:
    """Takes, delivers and acknowledges tasks from a thread of its own, with up to
    ``concurrency`` groups in flight (see the module's doc)."""

    def __init__(self, queue: IntakeQueue, *, concurrency: int, visibility_timeout: float, celery_queue: str) -> None:
        self.queue = queue
        self.concurrency = concurrency
        self.visibility_timeout = visibility_timeout
        self.celery_queue = celery_queue
        self._slots = threading.Semaphore(concurrency)
        self._stopping = threading.Event()
        self._resumed = threading.Event()
        self._resumed.set()
        self._executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="intake-delivery")
        self._thread = threading.Thread(target=self._run, name="intake", daemon=True)

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()
        logger.info("intake: taking up to %d tasks at a time from %r", TAKE_MAX, self.queue.queue)

    def stop(self) -> None:
        """Stop taking; wait for the groups in flight to end their attempt (those that fail are
        given back to the queue)."""
        self._stopping.set()
        self._resumed.set()
        if self._thread.is_alive():
            self._thread.join()
        self._executor.shutdown(wait=True)

    def pause(self) -> None:
        self._resumed.clear()

    def resume(self) -> None:
        self._resumed.set()

    @property
    def paused(self) -> bool:
        return not self._resumed.is_set()

    # --- taking ----------------------------------------------------------------------------------

    def _run(self) -> None:
        idle = 0
        while not self._stopping.is_set():
            self._resumed.wait()
            if self._stopping.is_set() or not self._slots.acquire(timeout=0.5):
                continue
            try:
                taken = self._take()
            except Exception:
                # Never let the intake end while the worker runs: what was taken is in the unacked
                # hash, and comes back after the visibility timeout.
                self._slots.release()
                logger.exception("intake: taking tasks failed; trying again")
                self._stopping.wait(1.0)
                continue
            if not taken:
                self._slots.release()
                self._stopping.wait(IDLE_WAITS[min(idle, len(IDLE_WAITS) - 1)])
                idle += 1
                continue
            idle = 0
            self._executor.submit(self._deliver, _Group(taken))
            if len(taken) < TAKE_MAX:
                # The queue is short: let it gather a little before the next take, so that a
                # trickle of small tasks is taken and delivered a few at a time, not one by one.
                self._stopping.wait(TAKE_LINGER)

    def _take(self) -> list[Taken]:
        while not self._stopping.is_set():
            try:
                messages = self.queue.take(TAKE_MAX)
                break
            except redis.RedisError as exc:
                logger.warning("intake: Redis does not answer (%s); trying again", type(exc).__name__)
                self._stopping.wait(1.0)
        else:
            return []
        taken = []
        for tag, raw in messages:
            try:
                events, queued_at, retries, requests = task_read(raw)
            except (ValueError, KeyError, TypeError, IndexError) as exc:
                # Not one of ours, or not readable: Celery's own consumer handles it (and logs).
                logger.error("intake: a message in %r is not a readable delivery task: %s", self.queue.queue, exc)
                self._redis_retrying(lambda tag=tag, raw=raw: self.queue.to_celery(tag, raw, self.celery_queue))
                continue
            taken.append(
                Taken(tag=tag, raw=raw, events=events, queued_at=queued_at, retries=retries, requests=requests)
            )
        return taken

    # --- delivering ------------------------------------------------------------------------------

    def _deliver(self, group: _Group) -> None:
        requests = group.requests()
        try:
            # Every line logged about this group (retries, stalls, give-back, Kafka's failures)
            # names the requests whose events it holds.
            with request_ids_bound(request_ids_of(requests)):
                self._deliver_until_acknowledged(group, requests)
        finally:
            self._slots.release()

    def _deliver_until_acknowledged(self, group: _Group, requests: list[RequestSpan]) -> None:
        events = group.events()
        attempt = 0
        retrying = any(task.retries for task in group.taken)
        while True:
            attempt += 1
            if attempt > 1:
                # The take stamped them just now; a retry comes after a wait.
                self._redis_retrying(lambda: self.queue.hold(group.tags))
            try:
                report = batch_deliver(events=events, retrying=retrying or attempt > 1, requests=requests)
                break
            except Exception as exc:
                if not isinstance(exc, TRANSIENT):
                    # A fault of ours, not of the events (those become dead letters): never drop
                    # the tasks, never spin on them either; retried with backoff, loudly.
                    logger.exception("intake: delivering %d tasks failed unexpectedly", len(group.taken))
                metrics.task_retried(task=DELIVER_TASK, exception=type(exc).__name__)
                self._stall_report(group, error=exc)
                if not self._stopping.is_set():
                    self._backoff_holding(group, attempt)
                if self._stopping.is_set():
                    self._give_back(group)
                    return
            finally:
                close_old_connections()
        self._redis_retrying(lambda: self.queue.ack(group.tags))
        self._count(group, report)

    def _count(self, group: _Group, report: DeliveryReport) -> None:
        """The group's counts, in one write once its tasks are acknowledged: counting never holds
        up an acknowledgement, and a group delivered again after a crash is not counted twice."""
        try:
            tally = group_tally(
                tasks=[(task.queued_at, task.events) for task in group.taken],
                majors=report.majors,
                delivered=report.delivered,
                delivered_at=datetime.now(tz=UTC),
            )
            event_counts_count(tally=tally)
        finally:
            close_old_connections()

    def _backoff_holding(self, group: _Group, attempt: int) -> None:
        deadline = time.monotonic() + _backoff(attempt)
        # Kept fresh well within the visibility timeout, however long the wait.
        step = max(0.5, self.visibility_timeout / 4)
        while not self._stopping.is_set() and (left := deadline - time.monotonic()) > 0:
            self._stopping.wait(min(step, left))
            self._redis_retrying(lambda: self.queue.hold(group.tags))

    def _stall_report(self, group: _Group, *, error: Exception) -> None:
        queued = [task.queued_at for task in group.taken if task.queued_at is not None]
        if queued and time.time() - min(queued) >= settings.KAFKA_OUTAGE_ALERT_SECONDS:
            logger.error(
                "%d events of %d batches have been undelivered for %.0f s and are still being retried: %s",
                sum(len(task.events) for task in group.taken),
                len(group.taken),
                time.time() - min(queued),
                type(error).__name__,
            )

    def _give_back(self, group: _Group) -> None:
        logger.warning("intake: %d tasks not delivered before stopping; back in the queue", len(group.taken))
        self._redis_retrying(lambda: self.queue.give_back([(task.tag, task.raw) for task in group.taken]))

    def _redis_retrying(self, operation: Any) -> None:
        """Redis operations on tasks already taken: retried until Redis answers (a task acknowledged
        late is not lost; one given up on is delivered again after the visibility timeout). While
        stopping, given up on after a few tries: a worker must not hang on its way out."""
        wait = 0.5
        for attempt in itertools.count(1):
            try:
                operation()
                return
            except redis.RedisError as exc:
                if self._stopping.is_set() and attempt >= STOPPING_REDIS_TRIES:
                    logger.warning(
                        "intake: Redis does not answer (%s); stopping without it: the tasks taken come "
                        "back after the visibility timeout",
                        type(exc).__name__,
                    )
                    return
                logger.warning("intake: Redis does not answer (%s); trying again", type(exc).__name__)
                time.sleep(wait)
                wait = min(wait * 2, 10.0)


class IntakeStep(bootsteps.StartStopStep):
    """The intake as a step of the Celery worker: started with it, stopped at its warm shutdown
    (before the producer is flushed)."""

    requires = ("celery.worker.components:Pool",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        parent.intake = None

    def create(self, parent: Any) -> Intake | None:  # type: ignore[override]
        app = parent.app
        url = str(app.conf.broker_url)
        if not url.startswith(("redis://", "rediss://")):
            logger.error("intake: the broker is not Redis (%s); queued batches are not taken", url.split(":", 1)[0])
            return None
        intake = Intake(
            IntakeQueue(url=url, transport_options=dict(app.conf.broker_transport_options or {})),
            concurrency=settings.DELIVERY_CONCURRENCY,
            visibility_timeout=float((app.conf.broker_transport_options or {}).get("visibility_timeout", 3600)),
            celery_queue=str(app.conf.task_default_queue),
        )
        parent.intake = intake
        return intake


def _intake(state: Any) -> Intake | None:
    return getattr(state.consumer.controller, "intake", None)


@control_command()
def intake_pause(state: Any) -> dict[str, str]:
    """Stop taking queued batches (those in flight are finished); `intake_resume` starts again."""
    intake = _intake(state)
    if intake is None:
        return {"error": "this worker has no intake"}
    intake.pause()
    return {"ok": "intake paused"}


@control_command()
def intake_resume(state: Any) -> dict[str, str]:
    """Take queued batches again."""
    intake = _intake(state)
    if intake is None:
        return {"error": "this worker has no intake"}
    intake.resume()
    return {"ok": "intake resumed"}
