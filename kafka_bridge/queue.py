"""The web's side of the queue: what an accepted event is while it waits for the worker, and
putting batches of them in the durable queue (Redis). No Kafka client here: the web never talks to
Kafka, and the tasks are sent by name. Also what a queued task says when read back
(``task_read``, ``task_queued_at``): the worker's intake and the oldest-batch gauge read them.

Group commit: every web process puts its accepted batches in the queue through one ``BatchQueue``.
A batch that arrives while another thread's publish is in flight waits for it to end; the next
publish then carries every batch that waited, as one task. A lone request publishes at once (an
idle service adds no wait), while a busy one sends fewer, larger tasks: what lets the worker keep up
with single-event requests, since every task costs it about the same whatever its size. A request
still answers only after the publish that carried its batch returned: 202 means queued. Every
wait is bounded by ``QUEUE_TIMEOUT``: for the turn to publish (a stuck publish ahead, a frozen
Redis), then for Redis's answer; past it the request answers 503, never hangs.

One publish is one ``LPUSH`` of a Celery task message (``TaskWriter``), in the form Celery and
kombu's Redis transport give it, so any Celery worker reads it: Celery's own ``send_task``
costs 2.5 times the CPU (it looks the queue up in Redis on every publish, a second round trip, and
encodes the message with the standard library's JSON). The body is compressed with Zstandard, as
``send_task(compression="zstd")`` does: a batch's records repeat their field names, page and
session, so a 50-event task is a tenth of its JSON or less. Redis keeps, copies and appends to its
log a tenth as much, and holds ten times as many batches in the same memory while Kafka is away.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import orjson
import redis
from backports import zstd
from celery.utils.nodenames import anon_nodename
from django.conf import settings
from kombu.compression import decompress
from redis.backoff import NoBackoff
from redis.retry import Retry

from eventcapture.celery import TASK_BODY_SERIALIZER, app, task_body_dumps
from eventcapture.exceptions import QueueUnavailable
from eventcapture.logs import request_id_get

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


# The requests a task's events came from, in the order of its events: (the request's id, how many
# of the events are its batch) for each batch, in the task message's ``request_ids`` header (a
# JSON array of [id, count]), so the worker's log lines about the task name them. One short
# string per batch, never one per event. Tasks queued before it carry none (``requests_read``).
RequestSpan = tuple[str | None, int]
REQUEST_IDS_HEADER = "request_ids"

Publish = Callable[[list[QueuedEvent], list[RequestSpan]], None]


def requests_read(value: Any, *, events: int) -> list[RequestSpan]:
    """The request spans of a task's ``request_ids`` header; one span of no request for all its
    ``events`` when the header is missing (a task queued before it) or not as the web writes it."""
    if isinstance(value, list) and all(
        isinstance(span, list)
        and len(span) == 2
        and (span[0] is None or isinstance(span[0], str))
        and isinstance(span[1], int)
        for span in value
    ):
        spans = [(span[0], span[1]) for span in value]
        if sum(count for _, count in spans) == events:
            return spans
    return [(None, events)] if events else []


def request_ids_of(spans: Sequence[RequestSpan]) -> list[str]:
    """The distinct request ids of some spans, in their order."""
    return list(dict.fromkeys(request_id for request_id, _ in spans if request_id is not None))


def event_request_ids(spans: Sequence[RequestSpan], indexes: Sequence[int]) -> list[str | None]:
    """The request id of the events at ``indexes`` (ascending) of the events the spans describe."""
    found: list[str | None] = []
    span_iter = iter(spans)
    request_id, end = None, 0
    for index in indexes:
        while index >= end:
            span = next(span_iter, None)
            if span is None:
                request_id, end = None, index + 1
                break
            request_id, end = span[0], end + span[1]
        found.append(request_id)
    return found


class _Waiting:
    __slots__ = ("done", "error", "events", "request_id", "turn")

    def __init__(self, events: Sequence[QueuedEvent], request_id: str | None) -> None:
        self.events = events
        self.request_id = request_id
        self.done = False
        self.error: BaseException | None = None
        # Set when a publish carried these events, or when it is their thread's turn to publish.
        self.turn = threading.Event()


class BatchQueue:
    """Puts batches in the queue, grouping those that arrive together (see the module's doc).

    One thread at a time publishes; a batch that arrives meanwhile waits on its own event, woken
    only when a publish carried it or when the publishing thread hands it the turn (never a herd
    of waiting threads woken to find their batch still waiting)."""

    def __init__(self, publish: Publish, *, max_events: int = TASK_MAX_EVENTS, wait: float | None = None) -> None:
        self._publish = publish
        self._max_events = max_events
        # How long a batch waits for its turn to publish (None: the queue timeout in settings).
        self._wait = wait
        self._lock = threading.Lock()
        self._waiting: deque[_Waiting] = deque()
        self._publishing = False

    def put(self, events: Sequence[QueuedEvent], *, request_id: str | None = None) -> None:
        """Returns once ``events`` (the batch of the request ``request_id``) are in the queue;
        ``QueueUnavailable`` when they could not be."""
        mine = _Waiting(events, request_id)
        with self._lock:
            self._waiting.append(mine)
            publishing = self._publishing
            self._publishing = True
        if publishing and not mine.turn.wait(self._wait if self._wait is not None else settings.QUEUE_TIMEOUT):
            # The publish in flight is stuck (a frozen Redis): give up, unless a publish already
            # carries this batch or the turn came as the wait ended. Never queued then: a 503.
            with self._lock:
                gave_up = not mine.turn.is_set() and mine in self._waiting
                if gave_up:
                    self._waiting.remove(mine)
            if gave_up:
                raise QueueUnavailable(headers={"Retry-After": RETRY_AFTER})
            # In a publish in flight, which ends within its own timeout.
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
            self._publish(
                [event for waiting in group for event in waiting.events],
                [(waiting.request_id, len(waiting.events)) for waiting in group],
            )
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


# What Celery's protocol 2 puts in a task's body after its arguments (no callbacks, no chain).
_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
# How task bodies are compressed: kombu's name for Zstandard (any Celery worker with the
# ``backports.zstd`` package reads it), and the level (1: the fastest; 3 is no smaller on batches).
TASK_COMPRESSION = "application/zstd"
TASK_COMPRESSION_LEVEL = 1


class TaskWriter:
    """Puts ``deliver_batch`` tasks in the Redis queue, one ``LPUSH`` each: the message Celery's
    ``send_task`` writes (protocol 2, the same headers and properties, the body written by the
    "orjson" serializer), routed straight to the queue by name as kombu does for Celery's default
    exchange; the body compressed with Zstandard, as ``compression="zstd"`` makes it. One
    difference, within what kombu reads: the properties come first, so the intake's script finds
    the delivery tag without scanning the body."""

    def __init__(self, *, url: str, transport_options: dict[str, Any], queue: str = DELIVER_QUEUE) -> None:
        self.queue = queue
        self.key = str(transport_options.get("global_keyprefix", "")) + queue
        self.client = redis.Redis.from_url(
            url,
            socket_connect_timeout=settings.CELERY_BROKER_CONNECTION_TIMEOUT,
            # A Redis that stops answering (frozen, partitioned): 503 after this, never a hang.
            socket_timeout=settings.QUEUE_TIMEOUT,
            # One more try on a connection found broken (Redis restarted since it was last used);
            # none after a timeout, which may have written the task already.
            retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
            health_check_interval=30,
        )
        # One compression context, reused (a third of the cost of a new one each time), and one
        # connection, held: each takes one caller at a time (the group commit publishes one batch
        # at a time anyway).
        self._compressor = zstd.ZstdCompressor(level=TASK_COMPRESSION_LEVEL)
        self._lock = threading.Lock()
        # A redis.Connection (Any: redis-py's connection methods carry no type hints).
        self._connection: Any = None
        # Celery's name for the sending process (gen<pid>@<host>): a writer lives in one process.
        self._origin = anon_nodename()

    def _compressed(self, body: bytes) -> str:
        return base64.b64encode(self._compressor.compress(body, zstd.ZstdCompressor.FLUSH_FRAME)).decode()

    def message(
        self, events: Sequence[QueuedEvent], *, queued_at: float, requests: Sequence[RequestSpan] = ()
    ) -> bytes:
        task_id = str(uuid.uuid4())
        body = self._compressed(task_body_dumps([[events], {"queued_at": queued_at}, _EMBED]))
        return orjson.dumps(
            {
                "properties": {
                    "correlation_id": task_id,
                    "reply_to": "",
                    "delivery_mode": 2,
                    "delivery_info": {"exchange": "", "routing_key": self.queue},
                    "priority": 0,
                    "delivery_tag": str(uuid.uuid4()),
                    "body_encoding": "base64",
                },
                "headers": {
                    "lang": "py",
                    "task": DELIVER_TASK,
                    "id": task_id,
                    "shadow": None,
                    "eta": None,
                    "expires": None,
                    "group": None,
                    "group_index": None,
                    "retries": 0,
                    "timelimit": [None, None],
                    "root_id": task_id,
                    "parent_id": None,
                    # Never a repr of the records.
                    "argsrepr": f"({len(events)} events)",
                    "kwargsrepr": "",
                    "origin": self._origin,
                    "ignore_result": None,
                    "replaced_task_nesting": 0,
                    "stamped_headers": None,
                    "stamps": {},
                    "compression": TASK_COMPRESSION,
                    # Celery keeps headers it does not know (a retry too), and older workers ignore them.
                    REQUEST_IDS_HEADER: requests,
                },
                "content-type": "application/x-orjson",
                "content-encoding": "utf-8",
                "body": body,
            }
        )

    def put(self, events: list[QueuedEvent], requests: list[RequestSpan]) -> None:
        message = self.message(events, queued_at=time.time(), requests=requests)
        with self._lock:
            self._lpush(message)

    def _lpush(self, message: bytes) -> None:
        """``LPUSH`` on the writer's own connection, as the client's ``lpush`` does it but without
        its per-command machinery (a pool checkout, retry and event objects: about 70 µs a publish,
        measured in-process): the health check after 30 idle seconds, one more try on a connection
        found broken, none after a timeout (which may have written the task already)."""
        if self._connection is None:
            self._connection = self.client.connection_pool.get_connection()
        connection = self._connection
        command = connection.pack_command("LPUSH", self.key, message)
        try:
            try:
                connection.send_packed_command(command)
                connection.read_response()
            except redis.ConnectionError:
                connection.disconnect()
                connection.send_packed_command(command)
                connection.read_response()
        except BaseException:
            # Whatever it was, the connection's state is unknown: the next publish starts afresh.
            connection.disconnect()
            raise

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self.client.connection_pool.release(self._connection)
                self._connection = None
        self.client.close()


# --- Reading a queued task back (the worker's intake, the oldest-batch gauge) -----------------------


class NotADeliveryTask(ValueError):
    pass


def _task_arguments(message: Mapping[str, Any]) -> tuple[list[Any], dict[str, Any], Mapping[str, Any]]:
    """The arguments, keyword arguments and headers of a ``deliver_batch`` task message as kombu
    keeps it in Redis (Celery's message protocol 2): the body base64, compressed or not (the web
    compresses it; Celery's own ``send_task`` does not unless asked), or JSON text as earlier
    versions wrote it."""
    if not isinstance(message, Mapping):
        raise NotADeliveryTask(f"a JSON {type(message).__name__}, not a task message, in the {DELIVER_QUEUE} queue")
    headers = message.get("headers") or {}
    if headers.get("task") != DELIVER_TASK:
        raise NotADeliveryTask(f"a {headers.get('task')!r} task in the {DELIVER_QUEUE} queue")
    body = message["body"]
    if (message.get("properties") or {}).get("body_encoding") == "base64":
        body = base64.b64decode(body)
    if headers.get("compression"):
        # Zstandard as the web writes it; kombu reads whatever its codecs know.
        try:
            body = decompress(body, headers["compression"])
        except Exception as exc:  # each codec has its own error (zstd's is no ValueError)
            raise ValueError(f"its body cannot be decompressed as {headers['compression']}: {exc}") from exc
    # Both content types the web has written are JSON: orjson reads either.
    args, kwargs, _embed = orjson.loads(body)
    return args, kwargs, headers


class DecodedTask(NamedTuple):
    events: list[QueuedEvent]
    queued_at: float | None
    retries: int
    requests: list[RequestSpan]


def task_read(raw: bytes) -> DecodedTask:
    """The events, queue time, retry count and requests of a ``deliver_batch`` task message (see
    ``_task_arguments``)."""
    args, kwargs, headers = _task_arguments(orjson.loads(raw))
    queued_at = kwargs.get("queued_at")
    events = [QueuedEvent.from_task(item) for item in args[0]]
    # Put back by kombu after a worker died holding it: an earlier attempt may have left dead letters.
    redelivered = bool(headers.get("redelivered"))
    requests = requests_read(headers.get(REQUEST_IDS_HEADER), events=len(events))
    return DecodedTask(events, queued_at, int(headers.get("retries") or 0) + redelivered, requests)


def task_queued_at(message: Mapping[str, Any]) -> float | None:
    """When the web queued a ``deliver_batch`` task (seconds since the epoch, by the web's clock),
    from its message already parsed; None when the task does not say. The events are not built."""
    _args, kwargs, _headers = _task_arguments(message)
    queued_at = kwargs.get("queued_at")
    return float(queued_at) if isinstance(queued_at, int | float) else None


def _deliver_task_send(events: list[QueuedEvent], requests: list[RequestSpan]) -> None:
    # A broker other than Redis: Celery's own way (the worker's intake needs Redis, and says so).
    app.send_task(
        DELIVER_TASK,
        args=(events,),
        kwargs={"queued_at": time.time()},
        serializer=TASK_BODY_SERIALIZER,
        compression="zstd",
        # Celery would otherwise build a repr of every record for its logs.
        argsrepr=f"({len(events)} events)",
        kwargsrepr="",
        headers={REQUEST_IDS_HEADER: requests},
    )


def _publisher() -> Publish:
    # Where Celery itself would publish to (its write URL).
    url = str(app.conf.broker_write_url)
    if url.startswith(("redis://", "rediss://")):
        return TaskWriter(url=url, transport_options=dict(app.conf.broker_transport_options or {})).put
    return _deliver_task_send


class _Publisher:
    """The publish of this process, made on first use and again after ``queue_reset``."""

    def __init__(self) -> None:
        self._publish: Publish | None = None

    def __call__(self, events: list[QueuedEvent], requests: list[RequestSpan]) -> None:
        if self._publish is None:
            self._publish = _publisher()
        self._publish(events, requests)

    def reset(self) -> None:
        self._publish = None


_publish = _Publisher()

_batches = BatchQueue(_publish)


def queue_reset() -> None:
    """Forget the connection to the queue: the next publish follows the Celery app's broker URL
    as it is then (tests re-point it)."""
    _publish.reset()


def batch_enqueue(*, events: Sequence[QueuedEvent]) -> None:
    """Put one accepted batch in the durable queue, with the id of the request being served (if
    any); ``QueueUnavailable`` if that fails."""
    _batches.put(events, request_id=request_id_get())


def replay_enqueue(*, event_ids: Sequence[str]) -> None:
    """Ask the worker to replay these dead letters (the web never produces to Kafka)."""
    app.send_task(REPLAY_TASK, args=(list(event_ids),), argsrepr=f"({len(event_ids)} dead letters)")
