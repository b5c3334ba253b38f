"""What the service says about itself: build facts for ``/api/v0/info`` and probes of the
database, the queue (Redis) and Kafka for ``/ready`` (the web's, and the worker's beside its metrics).

These endpoints are read while a dependency is down, and must answer then, quickly, without
telling the public why: every probe turns failure into a value, and the reason (which may name a
host, a user or a SASL failure) goes to the log, once per change of state, and to callers that
show the metrics token (or when DEBUG is on).

Each process keeps one Redis connection pool and one Kafka admin client for its probes, built on
first use and rebuilt after a fork (gunicorn forks its workers; the Celery worker its pool). A
probe runs in a thread of its own, one at a time per dependency: concurrent readiness calls wait
for the probe in flight (at most ``HEALTH_CHECK_TIMEOUT``) instead of each opening its own
connection and waiting the full timeout in a web thread, and a result younger than
``RESULT_REUSE_SECONDS`` answers without a new probe.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import subprocess
import threading
import time
import tomllib
from collections.abc import Callable, Hashable, Mapping
from concurrent.futures import Future
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import redis
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import DatabaseError, connections
from redis.backoff import NoBackoff
from redis.retry import Retry

from kafka_bridge.connection import ClientLog, client_config
from registry.selectors import subject_list

logger = logging.getLogger(__name__)

_ERROR_TEXT_LIMIT = 300
# A probe's result answers the readiness calls that come within this many seconds of it: a
# load balancer's probes from every node, or fifty at once, cost one probe of each dependency.
RESULT_REUSE_SECONDS = 1.0
# What a caller waits beyond HEALTH_CHECK_TIMEOUT for a probe bounded by it to hand its result over.
_HANDOVER_SECONDS = 0.25


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    # Why it failed: for the log and for callers allowed the details, never for the public.
    error: str | None = None

    def as_dict(self, *, detailed: bool = False) -> dict[str, Any]:
        if self.ok:
            return {"ok": True}
        return {"ok": False, "error": self.error} if detailed else {"ok": False}


@dataclass(frozen=True)
class Readiness:
    """The checks' results; the process is ready when every check it ``needs`` passed. The others
    are shown (and listed in ``failed``) but do not make it unavailable."""

    checks: dict[str, CheckResult]
    needs: tuple[str, ...]

    @property
    def ready(self) -> bool:
        return all(self.checks[name].ok for name in self.needs)

    @property
    def status_code(self) -> int:
        return 200 if self.ready else 503

    @property
    def failed(self) -> list[str]:
        return [name for name, check in self.checks.items() if not check.ok]

    def as_dict(self, *, detailed: bool = False) -> dict[str, Any]:
        """Each check's name and whether it passed; why one failed only when ``detailed``."""
        body: dict[str, Any] = {
            "status": "ready" if self.ready else "unavailable",
            "needs": list(self.needs),
            "checks": {name: check.as_dict(detailed=detailed) for name, check in self.checks.items()},
        }
        if self.failed:
            body["failed"] = self.failed
        return body


def _error_text(exc: BaseException) -> str:
    # No URLs here: they may carry credentials (redis://:password@host).
    return f"{type(exc).__name__}: {exc}"[:_ERROR_TEXT_LIMIT]


# --- Each process's clients for the probes --------------------------------------------------------


class _Clients:
    """The probes' Redis connection pool and Kafka admin client of this process, built on first use
    and again when their configuration changes (the tests change it). After a fork the child starts
    with none (``_after_fork``): a pool's sockets and librdkafka's threads belong to the parent."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.redis: dict[Hashable, redis.ConnectionPool] = {}
        self.kafka: tuple[Hashable, AdminClient, ClientLog] | None = None


_clients = _Clients()


def redis_client(*, url: str, timeout: float) -> redis.Redis:
    """A client of this process's pool for ``url``, every wait within ``timeout``, no retries."""
    key = (url, timeout)
    with _clients.lock:
        pool = _clients.redis.get(key)
        if pool is None:
            pool = _clients.redis[key] = redis.ConnectionPool.from_url(
                url,
                socket_connect_timeout=timeout,
                socket_timeout=timeout,
                retry=Retry(NoBackoff(), 0),
                # One probe at a time per process; a spare for a probe that replaced a stuck one.
                max_connections=2,
            )
    return redis.Redis(connection_pool=pool)


def kafka_admin(*, timeout: float) -> tuple[AdminClient, ClientLog]:
    """This process's admin client for the probes (and ``/api/v0/info``), and its log."""
    config = {
        **client_config(client_id="eventcapture-health"),
        "socket.connection.setup.timeout.ms": max(1000, int(timeout * 1000)),
    }
    key = tuple(sorted(config.items()))
    with _clients.lock:
        if _clients.kafka is None or _clients.kafka[0] != key:
            # A probe still using the one it replaces holds it until it is done.
            log = ClientLog()
            _clients.kafka = (key, AdminClient(config, logger=log), log)
        _, admin, log = _clients.kafka
    return admin, log


# --- Probes ---------------------------------------------------------------------------------------


def database_check() -> CheckResult:
    """A ``SELECT 1`` on the default database, on a connection of the probe's thread, closed after."""
    connection = connections["default"]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return CheckResult(ok=False, error=_error_text(exc))
    finally:
        connection.close()
    return CheckResult(ok=True)


def queue_check(*, timeout: float) -> CheckResult:
    """A PING to the Celery broker (Redis)."""
    try:
        redis_client(url=settings.CELERY_BROKER_URL, timeout=timeout).ping()
    except (redis.RedisError, OSError, ValueError) as exc:
        return CheckResult(ok=False, error=_error_text(exc))
    return CheckResult(ok=True)


class KafkaUnavailable(Exception):
    pass


def kafka_topic_names(*, timeout: float) -> list[str]:
    """Every topic of the cluster, sorted; ``KafkaUnavailable`` when no broker answers in time."""
    admin, log = kafka_admin(timeout=timeout)
    # The client lives on: a problem it met before (a SASL failure since fixed) is not this call's.
    admin.poll(0)
    log.last_problem = None
    try:
        metadata_ = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        admin.poll(0)  # hands librdkafka's queued log lines to ``log``: why it failed
        detail = f" ({log.last_problem})" if log.last_problem else ""
        raise KafkaUnavailable(_error_text(exc) + detail) from exc
    return sorted(metadata_.topics)


def kafka_check(*, timeout: float) -> CheckResult:
    try:
        kafka_topic_names(timeout=timeout)
    except KafkaUnavailable as exc:
        return CheckResult(ok=False, error=str(exc))
    return CheckResult(ok=True)


# --- One probe in flight per dependency -----------------------------------------------------------


@dataclass
class _Probe:
    key: Hashable
    result: Future[CheckResult]
    finished: float | None = None


@dataclass
class _Probes:
    """This process's probes in flight or recently finished, and each dependency's last state."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    probes: dict[str, _Probe] = field(default_factory=dict)
    states: dict[str, bool] = field(default_factory=dict)


_probes = _Probes()


def _state_log(name: str, result: CheckResult) -> None:
    """The reason in the log once per change of state (down, up), not once per call."""
    with _probes.lock:
        before = _probes.states.get(name)
        _probes.states[name] = result.ok
    if result.ok and before is False:
        logger.info("readiness: %s answers again", name)
    elif not result.ok and before is not False:
        logger.warning("readiness: %s did not answer: %s", name, result.error)


def _probe_run(name: str, probe: _Probe, run: Callable[[], CheckResult]) -> None:
    try:
        result = run()
    except Exception as exc:  # a probe must turn every failure into a value
        result = CheckResult(ok=False, error=_error_text(exc))
    with _probes.lock:
        probe.finished = time.monotonic()
    probe.result.set_result(result)
    _state_log(name, result)


def checks_run(
    checks: Mapping[str, tuple[Hashable, Callable[[], CheckResult]]], *, timeout: float
) -> dict[str, CheckResult]:
    """Each check's result, all within ``timeout``: a result of the same configuration (``key``)
    younger than ``RESULT_REUSE_SECONDS``, the probe in flight, or a new probe in a thread of its
    own; a probe that has not answered by then is a failure ("no answer within ...")."""
    now = time.monotonic()
    waiting: dict[str, Future[CheckResult]] = {}
    starting: list[tuple[str, _Probe, Callable[[], CheckResult]]] = []
    with _probes.lock:
        for name, (key, run) in checks.items():
            probe = _probes.probes.get(name)
            fresh = probe is not None and (probe.finished is None or now - probe.finished < RESULT_REUSE_SECONDS)
            if probe is None or probe.key != key or not fresh:
                probe = _probes.probes[name] = _Probe(key=key, result=Future())
                starting.append((name, probe, run))
            waiting[name] = probe.result
    for name, probe, run in starting:
        threading.Thread(target=_probe_run, args=(name, probe, run), name=f"readiness-{name}", daemon=True).start()
    futures_wait(list(waiting.values()), timeout=timeout + _HANDOVER_SECONDS)
    results: dict[str, CheckResult] = {}
    for name, future in waiting.items():
        if future.done():
            results[name] = future.result()
        else:
            results[name] = CheckResult(ok=False, error=f"no answer within {timeout:g} s")
            _state_log(name, results[name])
    return results


def _after_fork() -> None:
    # A forked child has none of the parent's threads: its probes in flight would never finish.
    global _clients, _probes
    _clients = _Clients()
    _probes = _Probes()


os.register_at_fork(after_in_child=_after_fork)


def probes_reset() -> None:
    """Forget every probe's result and state, and the clients (for tests)."""
    _after_fork()


# What a worker needs to deliver: the queue it takes batches from and Kafka it produces to. The
# database is read for schemas not yet cached and written for dead letters: shown, not needed.
WORKER_NEEDS = ("queue", "kafka")
# What a web process needs to accept events: the registry (the database) and the queue. Kafka is
# the worker's: while it is down the web keeps accepting and queuing, which is what a Kafka outage
# asks of it, so a readiness probe must not take the web out of service for it.
WEB_NEEDS = ("database", "queue")


def readiness_get(*, needs: tuple[str, ...] = WEB_NEEDS) -> Readiness:
    """The database, the queue and Kafka, probed at once, the answer within
    ``HEALTH_CHECK_TIMEOUT``, every state shown; ready when ``needs`` answer (a web process's by
    default)."""
    timeout: float = settings.HEALTH_CHECK_TIMEOUT
    database = settings.DATABASES["default"]
    checks: dict[str, tuple[Hashable, Callable[[], CheckResult]]] = {
        "database": (
            (database["ENGINE"], str(database.get("NAME")), database.get("HOST"), database.get("PORT")),
            database_check,
        ),
        "queue": ((settings.CELERY_BROKER_URL, timeout), functools.partial(queue_check, timeout=timeout)),
        "kafka": (
            (*sorted(client_config(client_id="eventcapture-health").items()), timeout),
            functools.partial(kafka_check, timeout=timeout),
        ),
    }
    return Readiness(checks=checks_run(checks, timeout=timeout), needs=needs)


def worker_readiness_response(*, detailed: bool = False) -> tuple[int, bytes]:
    """The worker's ``/ready`` (``WORKER_READINESS``, served beside its metrics): 200 when its needs
    (``WORKER_NEEDS``) answer, else 503, with the body the web's ``/ready`` has (why a check failed
    only when ``detailed``)."""
    readiness = readiness_get(needs=WORKER_NEEDS)
    return readiness.status_code, json.dumps(readiness.as_dict(detailed=detailed)).encode()


# --- /api/v0/info ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def app_version() -> str:
    """The project's version: pyproject.toml's, else the installed package's, else "unknown"."""
    try:
        with (Path(settings.BASE_DIR) / "pyproject.toml").open("rb") as file:
            version = tomllib.load(file)["project"]["version"]
        return str(version)
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        pass
    try:
        return metadata.version("eventcapture")
    except metadata.PackageNotFoundError:
        return "unknown"


@functools.lru_cache(maxsize=1)
def git_sha() -> str:
    """``GIT_SHA``, else the checkout's HEAD (read once per process), else "unknown"."""
    if settings.GIT_SHA:
        return str(settings.GIT_SHA)
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],  # noqa: S607 (git from PATH, a fixed command)
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            timeout=2,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip() or "unknown"


def requester_is_admin(*, user: AbstractBaseUser | AnonymousUser | None, user_uuid: str | None) -> bool:
    """A staff session, or an SSO user listed in ``ADMIN_UUIDS``."""
    if user is not None and user.is_active and getattr(user, "is_staff", False):
        return True
    return user_uuid is not None and user_uuid.lower() in settings.ADMIN_UUIDS


def _admin_data() -> dict[str, Any]:
    errors = []
    try:
        topics = kafka_topic_names(timeout=settings.HEALTH_CHECK_TIMEOUT)
    except KafkaUnavailable as exc:
        errors.append(f"Kafka: {exc}")
    try:
        subjects = subject_list()
    except DatabaseError as exc:
        errors.append(f"database: {_error_text(exc)}")
    if errors:
        return {"errors": errors}
    return {"kafka_topics": topics, "schema_registry_subjects": subjects}


def info_get(*, admin: bool, started: float) -> dict[str, Any]:
    """The body of ``/api/v0/info``; ``started`` is the request's ``time.monotonic()``."""
    body: dict[str, Any] = {
        "env_name": settings.ENV_NAME,
        "accounts_env_name": settings.ACCOUNTS_ENV_NAME,
        "git_sha": git_sha(),
        "version": app_version(),
    }
    if admin:
        body["data"] = _admin_data()
    body["overall_took_ms"] = round((time.monotonic() - started) * 1000)
    return body
