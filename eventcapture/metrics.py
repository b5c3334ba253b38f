"""Every Prometheus metric of event capture, the functions that move them, and their exposition.

Web processes serve the metrics at ``/metrics`` (``eventcapture/metrics_web.py``); the Celery
worker serves them from a small HTTP server of its own, started once in its main process when it is
ready (``worker_exporter_start``, on ``WORKER_METRICS_HOST:WORKER_METRICS_PORT``).

Several processes, one set of numbers: gunicorn's workers and Celery's prefork children are
separate processes. With ``PROMETHEUS_MULTIPROC_DIR`` set (it must be set before prometheus-client
is imported, so in the environment of the process), every process writes its values to files in
that folder and the exposition merges them (``MultiProcessCollector``). ``scripts/run`` gives the
web processes and the worker a folder each and empties them at start; a process that exits is
marked dead (``process_exited``) so its live gauges go, while its counts stay in the totals.
Without the variable (one process, the tests) the default registry is used.

Label values are bounded: event types come from the registry only (a type the registry does not
know, or none, is ``unknown``); codes, reasons and errors come from the code or librdkafka's fixed
error names. Label children are cached, so a hot-path update is a dictionary lookup and an add.

Failures are counted from zero: Prometheus's ``increase()`` and ``rate()`` read a series' first
sample as its start, so a counter that appears at 1 hides the failure that made it. Each process
exports, from its start, a zero for every label value known in advance (``web_metrics_zero``,
``worker_metrics_zero``): the API's error codes, the delivery failures' reasons, the tasks and the
exceptions they retry on, librdkafka's usual error names, the ``unknown`` event type, and the
ingestion endpoint's statuses. A registry event type's failure series start at zero once the
worker delivered an event of that type. In multiprocess mode a series with no value written
yet is not in the scrape at all: these zeros are what makes it present.
"""

from __future__ import annotations

import hmac
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar
from wsgiref.simple_server import WSGIServer

import redis
from django.db import connections
from django.utils.module_loading import import_string
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

UNKNOWN = "unknown"
# The same test prometheus-client makes at import to choose file-backed values.
MULTIPROCESS = "PROMETHEUS_MULTIPROC_DIR" in os.environ or "prometheus_multiproc_dir" in os.environ

_M = TypeVar("_M", bound=MetricWrapperBase)

# No `_created` series: multiprocess mode has none, and the two modes should report alike.
disable_created_metrics()  # type: ignore[no-untyped-call]


class _Children(Generic[_M]):
    """A metric's label children by label values, built once (``labels()`` validates and locks);
    ``on_new`` is told of each new one (off the hot path: once per label values)."""

    def __init__(self, metric: _M, *, on_new: Callable[[tuple[str, ...]], None] | None = None) -> None:
        self._metric = metric
        self._children: dict[tuple[str, ...], _M] = {}
        self._on_new = on_new

    def __call__(self, *values: str) -> _M:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._metric.labels(*values)
            if self._on_new is not None:
                self._on_new(values)
        return child

    def label_values(self) -> list[tuple[str, ...]]:
        return list(self._children)


# --- The HTTP edge -------------------------------------------------------------------------------
_accepted = _Children(
    Counter(
        "eventcapture_events_accepted",
        "Events accepted (202: durably queued), by event type.",
        ["event_type"],
    )
)
_rejected = _Children(
    Counter(
        "eventcapture_events_rejected",
        "Errors the API answered with, one per entry of the error body: each problem of each event of "
        "a refused batch, or one for a refused request; by code, and by event type where the registry knows it.",
        ["code", "event_type"],
    )
)
_request_duration = _Children(
    Histogram(
        "eventcapture_http_request_duration_seconds",
        "Time to answer an HTTP request, by method, URL pattern and status.",
        ["method", "route", "status"],
    )
)

# --- The worker ----------------------------------------------------------------------------------


def _event_type_seen(values: tuple[str, ...]) -> None:
    # A type the worker delivers: its failures from zero (when the worker's reasons are known).
    _event_type_zero(values[0])


_produced = _Children(
    Counter(
        "eventcapture_events_produced",
        "Events Kafka acknowledged, by event type.",
        ["event_type"],
    ),
    on_new=_event_type_seen,
)
_failed = _Children(
    Counter(
        "eventcapture_events_failed",
        "Events of batches whose delivery attempt failed and will be retried (the whole batch is), "
        "by event type and reason.",
        ["event_type", "reason"],
    )
)
_dead_lettered = _Children(
    Counter(
        "eventcapture_events_dead_lettered",
        "Events that could not be encoded and went to the dead-letter store, by event type.",
        ["event_type"],
    )
)
_kafka_delivery = Histogram(
    "eventcapture_kafka_delivery_seconds",
    "Time from producing a batch's records to Kafka's acknowledgement of the last of them.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
_producer_errors = _Children(
    Counter(
        "eventcapture_producer_errors",
        "Errors of the Kafka producer: failed delivery reports and librdkafka's error callbacks, by "
        "librdkafka error name (e.g. _MSG_TIMED_OUT, _TRANSPORT, _ALL_BROKERS_DOWN).",
        ["error"],
    )
)
_batches_delivered = Counter(
    "eventcapture_batches_delivered",
    "Task batches whose every record Kafka acknowledged.",
)
_task_retries = _Children(
    Counter(
        "eventcapture_task_retries",
        "Celery task retries, by task and the exception that caused them.",
        ["task", "exception"],
    )
)


def events_accepted(*, counts: Mapping[str, int]) -> None:
    """A batch was queued: ``counts`` is its number of events per registry event type."""
    for event_type, count in counts.items():
        _accepted(event_type).inc(count)


def events_rejected(*, code: str, event_type: str | None, count: int = 1) -> None:
    """``count`` errors of one code the API answered with; ``event_type`` only when the registry
    knows the type."""
    _rejected(code, event_type or UNKNOWN).inc(count)


def request_observed(*, method: str, route: str, status: int, seconds: float) -> None:
    _request_duration(method, route, str(status)).observe(seconds)


def batch_delivered(*, counts: Mapping[str, int]) -> None:
    """Kafka acknowledged every record of a batch: ``counts`` per event type."""
    for event_type, count in counts.items():
        _produced(event_type).inc(count)
    _batches_delivered.inc()


def events_failed(*, counts: Mapping[str, int], reason: str) -> None:
    """A batch's delivery failed and will be retried: ``counts`` per event type."""
    for event_type, count in counts.items():
        _failed(event_type, reason).inc(count)


def events_dead_lettered(*, event_type: str | None, count: int = 1) -> None:
    """Events went to the dead-letter store; ``event_type`` only when the registry knows it."""
    _dead_lettered(event_type or UNKNOWN).inc(count)


def kafka_delivered(*, seconds: float) -> None:
    _kafka_delivery.observe(seconds)


def producer_error(*, error: str) -> None:
    _producer_errors(error).inc()


def task_retried(*, task: str, exception: str) -> None:
    _task_retries(task, exception).inc()


# --- Zeros from the start -----------------------------------------------------------------------
# The ingestion endpoint's answers, at zero in the web's latency histogram: what the dashboard's
# and the alerts' ratios divide by and count (other routes' series start at their first request).
INGESTION_STATUSES = (202, 400, 413, 415, 422, 429, 500, 503)


@dataclass(frozen=True)
class WorkerLabelValues:
    """The worker's label values known in advance (``METRICS_WORKER_LABEL_VALUES`` names the
    function that gives them: this package imports none of the apps)."""

    failure_reasons: tuple[str, ...]
    producer_errors: tuple[str, ...]
    # (task, exception) pairs a task retries on.
    task_retries: tuple[tuple[str, str], ...]


_zeroed: dict[str, int] = {}
_worker_reasons: tuple[str, ...] = ()


def _once_per_process(role: str) -> bool:
    """True the first time in this process (a forked child starts afresh)."""
    if _zeroed.get(role) == os.getpid():
        return False
    _zeroed[role] = os.getpid()
    return True


def web_metrics_zero(*, codes: Iterable[str], routes: Iterable[tuple[str, str]]) -> None:
    """A web process's failure series at zero, once per process: ``eventcapture_events_rejected``
    for each of ``codes`` (event type ``unknown``), ``eventcapture_events_accepted`` for
    ``unknown``, and the latency histogram of each ``(method, route)`` for ``INGESTION_STATUSES``."""
    if not _once_per_process("web"):
        return
    _accepted(UNKNOWN)
    for code in codes:
        _rejected(code, UNKNOWN)
    for method, route in routes:
        for status in INGESTION_STATUSES:
            _request_duration(method, route, str(status))


def worker_metrics_zero(*, values: WorkerLabelValues) -> None:
    """The worker's series at zero, once per process: delivery failures by reason, dead letters,
    producer errors and task retries, for their known label values and the ``unknown`` event
    type; each registry event type's once the worker delivered one of its events."""
    global _worker_reasons
    if not _once_per_process("worker"):
        return
    _worker_reasons = tuple(values.failure_reasons)
    _produced(UNKNOWN)
    for (event_type,) in _produced.label_values():
        _event_type_zero(event_type)
    for error in values.producer_errors:
        _producer_errors(error)
    for task, exception in values.task_retries:
        _task_retries(task, exception)


def _event_type_zero(event_type: str) -> None:
    for reason in _worker_reasons:
        _failed(event_type, reason)
    if _worker_reasons:
        _dead_lettered(event_type)


# --- Queue depth, read from Redis at scrape time --------------------------------------------------
QUEUE_DEPTH_TIMEOUT = 0.5
_SCRAPE_WARN_EVERY = 60.0


class ScrapeWarning:
    """A warning logged at most once a minute: a scrape every few seconds must not flood the log
    with the same failure."""

    def __init__(self) -> None:
        self._at = float("-inf")

    def warn(self, message: str, exc: BaseException) -> None:
        """``message`` with one ``%s``: the exception's type."""
        now = time.monotonic()
        if now - self._at >= _SCRAPE_WARN_EVERY:
            self._at = now
            logger.warning(message, type(exc).__name__)


class BrokerRedis:
    """The Redis the web publishes Celery tasks to, for collectors that read it at scrape time:
    one client per URL, every wait within ``QUEUE_DEPTH_TIMEOUT``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[str, redis.Redis] = {}

    def get(self) -> tuple[redis.Redis, dict[str, Any]] | None:
        """The client and Celery's broker transport options; None when the broker is not Redis."""
        from eventcapture.celery import app

        # Where the API publishes tasks (Celery's write URL falls back to the broker URL itself).
        url = str(app.conf.broker_write_url)
        if not url.startswith(("redis://", "rediss://", "unix://")):
            return None
        with self._lock:
            client = self._clients.get(url)
            if client is None:
                client = self._clients[url] = redis.Redis.from_url(
                    url, socket_connect_timeout=QUEUE_DEPTH_TIMEOUT, socket_timeout=QUEUE_DEPTH_TIMEOUT
                )
        return client, dict(app.conf.broker_transport_options or {})


class QueueDepthCollector(Collector):
    """``eventcapture_queue_depth{queue}``: tasks waiting in each Celery queue in Redis, read at
    scrape time. When Redis does not answer within ``QUEUE_DEPTH_TIMEOUT`` the metric is left out
    of that scrape (a warning is logged at most once a minute); the scrape itself never fails."""

    def __init__(self) -> None:
        self._broker = BrokerRedis()
        self._warning = ScrapeWarning()

    def depths(self) -> dict[str, int] | None:
        """Waiting tasks per queue, or None when they cannot be read."""
        from eventcapture.celery import app

        broker = self._broker.get()
        if broker is None:
            return None
        client, options = broker
        prefix = str(options.get("global_keyprefix", ""))
        routes = app.conf.task_routes if isinstance(app.conf.task_routes, dict) else {}
        routed = {str(route["queue"]) for route in routes.values() if isinstance(route, dict) and "queue" in route}
        queues = sorted(set(app.amqp.queues) | {str(app.conf.task_default_queue)} | routed)
        # Kombu keeps a queue's messages in one list per priority step: `celery`, `celery\x06\x163`, ...
        steps = list(options.get("priority_steps", [0, 3, 6, 9]))
        try:
            pipe = client.pipeline(transaction=False)
            for queue in queues:
                for step in steps:
                    pipe.llen(f"{prefix}{queue}\x06\x16{step}" if step else f"{prefix}{queue}")
            lengths = pipe.execute()
        except Exception as exc:  # any failure must leave the rest of the scrape intact
            self._warning.warn("queue depth not reported: the Celery broker did not answer (%s)", exc)
            return None
        return {queue: sum(lengths[i * len(steps) : (i + 1) * len(steps)]) for i, queue in enumerate(queues)}

    def collect(self) -> Iterable[Metric]:
        try:
            depths = self.depths()
        except Exception:
            logger.exception("queue depth not reported")
            depths = None
        if depths is None:
            return []
        family = GaugeMetricFamily(
            "eventcapture_queue_depth", "Tasks (batches) waiting in the Celery queue in Redis.", labels=["queue"]
        )
        for queue, depth in depths.items():
            family.add_metric([queue], depth)
        return [family]


class _DefaultRegistry(Collector):
    """This process's own metrics (the default registry), when there is one process to report."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


_exposition: CollectorRegistry | None = None
_exposition_lock = threading.Lock()


def exposition_registry() -> CollectorRegistry:
    """What a scrape reports: every process's metrics (merged from ``PROMETHEUS_MULTIPROC_DIR`` in
    multiprocess mode, else this process's), plus the queue depth and the collectors named in
    ``METRICS_COLLECTORS`` (the apps' gauges read at scrape time: by name, since this package
    imports none of the apps)."""
    from django.conf import settings

    global _exposition
    with _exposition_lock:
        if _exposition is None:
            registry = CollectorRegistry(auto_describe=False)
            if MULTIPROCESS:
                MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            else:
                registry.register(_DefaultRegistry())
            registry.register(QueueDepthCollector())
            for name in getattr(settings, "METRICS_COLLECTORS", ()):
                registry.register(import_string(name)())
            _exposition = registry
        return _exposition


def exposition(*, accept: str | None) -> tuple[bytes, str]:
    """The scrape's body and content type (Prometheus text, or OpenMetrics when asked for)."""
    encoder, content_type = choose_encoder(accept or "")
    return encoder(exposition_registry()), content_type


def metrics_token_presented(*, authorization: str) -> bool:
    """``authorization`` (an ``Authorization`` header) is ``Bearer <METRICS_TOKEN>``, and the token
    is set: what lets a caller read ``/metrics`` from anywhere and ``/ready``'s reasons."""
    from django.conf import settings

    token: str = settings.METRICS_TOKEN
    if not token:
        return False
    scheme, _, presented = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode())


class Readiness(Protocol):
    """What answers the worker's ``/ready``: a status code and a JSON body, which says why a check
    failed only when ``detailed``."""

    def __call__(self, *, detailed: bool = False) -> tuple[int, bytes]: ...


def _with_readiness(
    metrics_app: Callable[..., Iterable[bytes]], readiness: Readiness
) -> Callable[..., Iterable[bytes]]:
    """``/ready`` answered by ``readiness`` (its reasons with DEBUG on or the metrics token);
    every other path by the metrics app."""
    from django.conf import settings

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/ready":
            return metrics_app(environ, start_response)
        detailed = settings.DEBUG or metrics_token_presented(authorization=environ.get("HTTP_AUTHORIZATION", ""))
        status, body = readiness(detailed=detailed)
        reason = "OK" if status == 200 else "Service Unavailable"
        start_response(
            f"{status} {reason}",
            [("Content-Type", "application/json"), ("Content-Length", str(len(body))), ("Cache-Control", "no-store")],
        )
        return [body]

    return app


def _closing_connections(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """The database connections a scrape opened (the pending dead letters) closed once it is
    answered, as Django closes a request's: the exporter answers each request in a new thread."""

    def closing(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            return app(environ, start_response)
        finally:
            connections.close_all()

    return closing


def worker_exporter_start(*, host: str, port: int, readiness: Readiness | None = None) -> WSGIServer:
    """Serve the metrics over HTTP on ``host:port`` from a daemon thread of this process, and
    ``/ready`` from ``readiness`` when given."""
    server, _thread = start_http_server(port, addr=host, registry=exposition_registry())
    metrics_app = server.get_app()
    if metrics_app is not None:
        if readiness is not None:
            metrics_app = _with_readiness(metrics_app, readiness)
        server.set_app(_closing_connections(metrics_app))
    return server


def worker_exporter_start_from_settings(*, pool: object | None = None) -> WSGIServer | None:
    """The worker's series at zero (``worker_metrics_zero``), and its exporter on
    ``WORKER_METRICS_HOST:WORKER_METRICS_PORT`` (port 0: none). A port that is taken is logged,
    not fatal: delivering events matters more than reporting on it."""
    from django.conf import settings

    worker_metrics_zero(values=import_string(settings.METRICS_WORKER_LABEL_VALUES)())

    if not MULTIPROCESS and pool is not None and type(pool).__module__.endswith(".prefork"):
        logger.warning(
            "PROMETHEUS_MULTIPROC_DIR is not set: the worker's metrics leave out what its pool processes count"
        )
    host: str = settings.WORKER_METRICS_HOST
    port: int = settings.WORKER_METRICS_PORT
    if not port:
        logger.info("worker metrics are not served (WORKER_METRICS_PORT=0)")
        return None
    # By name, as Django names its parts: this package imports none of the apps.
    readiness: Readiness = import_string(settings.WORKER_READINESS)
    try:
        server = worker_exporter_start(host=host, port=port, readiness=readiness)
    except OSError as exc:
        logger.error("worker metrics are not served: cannot listen on %s:%d (%s)", host, port, exc)
        return None
    logger.info("worker metrics on http://%s:%d/metrics, readiness on /ready", host, port)
    return server


def process_exited(*, pid: int) -> None:
    """A process (gunicorn worker, Celery pool child) ended: drop its live gauges' files."""
    if MULTIPROCESS:
        mark_process_dead(pid)  # type: ignore[no-untyped-call]
