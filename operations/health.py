"""What the service says about itself: build facts for ``/api/v0/info`` and probes of the
database, the queue (Redis) and Kafka for ``/ready``.

Every probe has a short timeout (``HEALTH_CHECK_TIMEOUT``) and turns failure into a value: these
endpoints must answer while a dependency is down, which is when they are read. Nothing here is
built at import time; each probe opens its own short-lived connection and closes it.
"""

from __future__ import annotations

import functools
import json
import logging
import subprocess
import time
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import redis
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import DatabaseError, connection
from redis.backoff import NoBackoff
from redis.retry import Retry

from kafka_bridge.connection import ClientLog, client_config
from registry.selectors import subject_list

logger = logging.getLogger(__name__)

_ERROR_TEXT_LIMIT = 300


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"ok": True} if self.ok else {"ok": False, "error": self.error}


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
    def failed(self) -> list[str]:
        return [name for name, check in self.checks.items() if not check.ok]

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": "ready" if self.ready else "unavailable",
            "needs": list(self.needs),
            "checks": {name: check.as_dict() for name, check in self.checks.items()},
        }
        if self.failed:
            body["failed"] = self.failed
        return body


def _error_text(exc: BaseException) -> str:
    # No URLs here: they may carry credentials (redis://:password@host).
    return f"{type(exc).__name__}: {exc}"[:_ERROR_TEXT_LIMIT]


# --- Probes ---------------------------------------------------------------------------------------


def database_check() -> CheckResult:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        logger.warning("readiness: the database did not answer: %s", _error_text(exc))
        return CheckResult(ok=False, error=_error_text(exc))
    return CheckResult(ok=True)


def queue_check(*, timeout: float) -> CheckResult:
    """A PING to the Celery broker (Redis)."""
    try:
        client = redis.Redis.from_url(
            settings.CELERY_BROKER_URL,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
        try:
            client.ping()
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError) as exc:
        logger.warning("readiness: the queue (Redis) did not answer: %s", _error_text(exc))
        return CheckResult(ok=False, error=_error_text(exc))
    return CheckResult(ok=True)


class KafkaUnavailable(Exception):
    pass


def kafka_topic_names(*, timeout: float) -> list[str]:
    """Every topic of the cluster, sorted; ``KafkaUnavailable`` when no broker answers in time."""
    log = ClientLog()
    admin = AdminClient(
        {
            **client_config(client_id="eventcapture-health"),
            "socket.connection.setup.timeout.ms": max(1000, int(timeout * 1000)),
        },
        logger=log,
    )
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
        logger.warning("readiness: Kafka did not answer: %s", exc)
        return CheckResult(ok=False, error=str(exc))
    return CheckResult(ok=True)


# What a worker needs to deliver: the queue it takes batches from and Kafka it produces to. The
# database is read for schemas not yet cached and written for dead letters: shown, not needed.
WORKER_NEEDS = ("queue", "kafka")
# What a web process needs to accept events: the registry (the database) and the queue. Kafka is
# the worker's: while it is down the web keeps accepting and queuing, which is what a Kafka outage
# asks of it, so a readiness probe must not take the web out of service for it.
WEB_NEEDS = ("database", "queue")


def readiness_get(*, needs: tuple[str, ...] = WEB_NEEDS) -> Readiness:
    """The database, the queue and Kafka, each within ``HEALTH_CHECK_TIMEOUT``, every state shown;
    ready when ``needs`` answer (a web process's by default)."""
    timeout = settings.HEALTH_CHECK_TIMEOUT
    return Readiness(
        checks={
            "database": database_check(),
            "queue": queue_check(timeout=timeout),
            "kafka": kafka_check(timeout=timeout),
        },
        needs=needs,
    )


def worker_readiness_response() -> tuple[int, bytes]:
    """The worker's ``/ready`` (``WORKER_READINESS``, served beside its metrics): 200 when its needs
    (``WORKER_NEEDS``) answer, else 503, with the body the web's ``/ready`` has. It runs in the
    exporter's thread: its database connection is closed after each answer, as Django closes a
    request's."""
    try:
        readiness = readiness_get(needs=WORKER_NEEDS)
    finally:
        connection.close()
    return (200 if readiness.ready else 503), json.dumps(readiness.as_dict()).encode()


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
