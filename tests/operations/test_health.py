"""/api/v0/info, /ping, /ready and the worker's /ready: what is deployed, and whether its
dependencies answer."""

from __future__ import annotations

import logging
import os
import subprocess
import tomllib
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.db import OperationalError, connections
from rest_framework.test import APIClient

from eventcapture import metrics
from operations import health
from operations.health import git_sha
from tests.factories import SHIPPED_TOPICS
from tests.ports import closed_port
from tests.served import black_hole
from tests.sso_tokens import sso_keys, sso_settings, sso_token

INFO = "/api/v0/info"
PUBLIC_KEYS = {"env_name", "accounts_env_name", "git_sha", "version", "overall_took_ms"}


def project_version():
    with (Path(django_settings.BASE_DIR) / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)["project"]["version"]


@pytest.fixture
def fresh_git_sha():
    git_sha.cache_clear()
    yield
    git_sha.cache_clear()


@pytest.fixture
def staff_client(db):
    user = get_user_model().objects.create_user("ops", password="unused-password", is_staff=True)
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def kafka_down(settings):
    settings.KAFKA_BOOTSTRAP_SERVERS = f"127.0.0.1:{closed_port()}"
    settings.HEALTH_CHECK_TIMEOUT = 1.0


# --- /api/v0/info ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("fresh_git_sha")
def test_info_tells_anyone_the_environment_version_and_commit_only(settings):
    settings.ENV_NAME, settings.ACCOUNTS_ENV_NAME, settings.GIT_SHA = "staging", "production", "abc123"
    response = APIClient().get(INFO)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == PUBLIC_KEYS
    assert {key: body[key] for key in PUBLIC_KEYS - {"overall_took_ms"}} == {
        "env_name": "staging",
        "accounts_env_name": "production",
        "git_sha": "abc123",
        "version": project_version(),
    }
    assert isinstance(body["overall_took_ms"], int)
    assert body["overall_took_ms"] >= 0
    assert response["Cache-Control"] == "max-age=0, no-cache, no-store, must-revalidate, private"


@pytest.mark.usefixtures("fresh_git_sha")
def test_without_git_sha_info_reports_the_checkouts_head(settings):
    settings.GIT_SHA = ""
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=settings.BASE_DIR, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert APIClient().get(INFO).json()["git_sha"] == head


@pytest.mark.django_db
def test_a_signed_in_user_who_is_not_an_admin_gets_no_data(settings):
    keys = sso_keys()
    for name, value in sso_settings(keys).items():
        setattr(settings, name, value)
    settings.ADMIN_UUIDS = [str(uuid.uuid4())]
    token = sso_token(user_uuid=str(uuid.uuid4()), keys=keys)
    body = APIClient().get(INFO, headers={"Authorization": f"Bearer {token}"}).json()
    assert set(body) == PUBLIC_KEYS
    user = get_user_model().objects.create_user("analyst", password="unused-password", is_staff=False)
    client = APIClient()
    client.force_login(user)
    assert set(client.get(INFO).json()) == PUBLIC_KEYS


@pytest.mark.integration
@pytest.mark.usefixtures("kafka_topics")
def test_info_shows_a_staff_session_the_kafka_topics_and_the_registry_subjects(staff_client):
    response = staff_client.get(INFO)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == PUBLIC_KEYS | {"data"}
    assert set(body["data"]) == {"kafka_topics", "schema_registry_subjects"}
    ours = {f"{django_settings.KAFKA_TOPIC_PREFIX}{topic}" for topic in SHIPPED_TOPICS.values()}
    assert ours <= set(body["data"]["kafka_topics"])
    assert body["data"]["kafka_topics"] == sorted(body["data"]["kafka_topics"])
    assert body["data"]["schema_registry_subjects"] == sorted(SHIPPED_TOPICS)


@pytest.mark.usefixtures("catalogue", "kafka_down")
def test_info_shows_an_admin_uuid_kafka_errors_with_200_when_kafka_is_down(settings):
    keys = sso_keys()
    for name, value in sso_settings(keys).items():
        setattr(settings, name, value)
    admin = str(uuid.uuid4())
    settings.ADMIN_UUIDS = [admin]
    token = sso_token(user_uuid=admin, keys=keys)
    response = APIClient().get(INFO, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    errors = response.json()["data"]["errors"]
    assert len(errors) == 1
    assert errors[0].startswith("Kafka: KafkaException: ")
    assert set(response.json()["data"]) == {"errors"}


@pytest.mark.usefixtures("catalogue", "kafka_down")
def test_info_shows_a_staff_session_kafka_errors_with_200_when_kafka_is_down(staff_client):
    response = staff_client.get(INFO)
    assert response.status_code == 200
    assert list(response.json()["data"]) == ["errors"]


# --- /ping and /ready -----------------------------------------------------------------------------


def test_ping_answers_pong():
    response = APIClient().get("/ping")
    assert response.status_code == 200
    assert response.content == b"pong"


@pytest.mark.integration
@pytest.mark.django_db
def test_ready_answers_200_when_the_database_the_queue_and_kafka_answer():
    response = APIClient().get("/ready")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "needs": ["database", "queue"],
        "checks": {"database": {"ok": True}, "queue": {"ok": True}, "kafka": {"ok": True}},
    }
    assert response["Cache-Control"] == "max-age=0, no-cache, no-store, must-revalidate, private"


@pytest.mark.integration
@pytest.mark.django_db
@pytest.mark.usefixtures("kafka_down")
def test_the_web_stays_ready_while_kafka_is_down_and_tells_the_public_only_that_it_failed():
    """The web accepts and queues events during a Kafka outage: a readiness probe must not take it
    out of service then. Why Kafka failed (its address, a SASL failure) is not the public's."""
    response = APIClient().get("/ready")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "needs": ["database", "queue"],
        "checks": {"database": {"ok": True}, "queue": {"ok": True}, "kafka": {"ok": False}},
        "failed": ["kafka"],
    }
    assert django_settings.KAFKA_BOOTSTRAP_SERVERS not in response.content.decode()


@pytest.mark.integration
@pytest.mark.django_db
@pytest.mark.usefixtures("kafka_down")
def test_ready_tells_a_caller_with_the_metrics_token_why_kafka_failed(settings):
    settings.METRICS_TOKEN = "probe-token"
    response = APIClient().get("/ready", headers={"Authorization": "Bearer probe-token"})
    assert response.status_code == 200
    kafka = response.json()["checks"]["kafka"]
    assert kafka["ok"] is False
    assert kafka["error"].startswith("KafkaException: ")
    assert response.json()["checks"]["queue"] == {"ok": True}


@pytest.mark.integration
@pytest.mark.django_db
@pytest.mark.usefixtures("kafka_down")
def test_a_wrong_or_unset_metrics_token_shows_no_reason(settings):
    settings.METRICS_TOKEN = "probe-token"
    for headers in ({"Authorization": "Bearer not-the-token"}, {"Authorization": "Basic probe-token"}, {}):
        assert APIClient().get("/ready", headers=headers).json()["checks"]["kafka"] == {"ok": False}
    # No token set: no header unlocks the reasons, an empty bearer least of all.
    settings.METRICS_TOKEN = ""
    assert APIClient().get("/ready", headers={"Authorization": "Bearer "}).json()["checks"]["kafka"] == {"ok": False}


@pytest.mark.integration
@pytest.mark.django_db
def test_ready_answers_503_naming_the_queue_when_redis_is_down_and_debug_shows_why(settings):
    port = closed_port()
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{port}/15"
    response = APIClient().get("/ready")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "needs": ["database", "queue"],
        "checks": {"database": {"ok": True}, "queue": {"ok": False}, "kafka": {"ok": True}},
        "failed": ["queue"],
    }
    assert str(port) not in response.content.decode()

    settings.DEBUG = True
    queue = APIClient().get("/ready").json()["checks"]["queue"]
    assert queue["ok"] is False
    assert queue["error"].startswith("ConnectionError: ")
    assert f"127.0.0.1:{port}" in queue["error"]


@pytest.mark.django_db
@pytest.mark.usefixtures("kafka_down")
def test_ready_names_every_part_that_failed(settings, monkeypatch):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{closed_port()}/15"

    def refuse(*args, **kwargs):
        raise OperationalError("could not connect to server at db.internal:5432")

    # Every connection's, whichever thread probes the database.
    monkeypatch.setattr(type(connections["default"]), "cursor", refuse)
    response = APIClient().get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["database", "queue", "kafka"]
    assert body["checks"] == {"database": {"ok": False}, "queue": {"ok": False}, "kafka": {"ok": False}}
    assert "db.internal" not in response.content.decode()


@pytest.mark.integration
@pytest.mark.django_db
def test_the_reason_is_logged_once_when_a_dependency_fails_and_once_when_it_answers_again(
    settings, monkeypatch, caplog
):
    monkeypatch.setattr(health, "RESULT_REUSE_SECONDS", 0.0)
    working = settings.CELERY_BROKER_URL
    port = closed_port()
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{port}/15"
    caplog.set_level(logging.INFO, logger="operations.health")
    for _ in range(3):
        assert APIClient().get("/ready").status_code == 503
    settings.CELERY_BROKER_URL = working
    for _ in range(3):
        assert APIClient().get("/ready").status_code == 200
    lines = [record.getMessage() for record in caplog.records if "queue" in record.getMessage()]
    assert len(lines) == 2, lines
    assert lines[0].startswith("readiness: queue did not answer: ConnectionError: ")
    assert f"127.0.0.1:{port}" in lines[0]
    assert lines[1] == "readiness: queue answers again"


@pytest.mark.integration
@pytest.mark.django_db
def test_concurrent_readiness_calls_share_one_probe_of_a_frozen_redis(settings, monkeypatch):
    monkeypatch.setattr(health, "RESULT_REUSE_SECONDS", 0.0)
    settings.HEALTH_CHECK_TIMEOUT = 1.0
    with black_hole() as frozen:
        settings.CELERY_BROKER_URL = f"redis://{frozen.address}/0"
        with ThreadPoolExecutor(max_workers=20) as pool:
            readiness = list(pool.map(lambda _: health.readiness_get(), range(20)))
        connections_made = frozen.accepted
    assert {r.ready for r in readiness} == {False}
    assert {r.checks["queue"].ok for r in readiness} == {False}
    # Twenty calls at once, one probe in flight: one connection, not twenty.
    assert connections_made == 1


@pytest.mark.integration
@pytest.mark.django_db
def test_a_process_keeps_one_redis_pool_and_one_kafka_admin_client_for_its_probes(monkeypatch):
    monkeypatch.setattr(health, "RESULT_REUSE_SECONDS", 0.0)
    for _ in range(3):
        assert health.readiness_get().ready
    assert len(health._clients.redis) == 1
    admin, _ = health.kafka_admin(timeout=django_settings.HEALTH_CHECK_TIMEOUT)
    assert health.kafka_admin(timeout=django_settings.HEALTH_CHECK_TIMEOUT)[0] is admin


@pytest.mark.integration
@pytest.mark.django_db
def test_a_forked_child_builds_its_own_clients_and_probes():
    assert health.readiness_get().ready
    assert health._clients.kafka is not None
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child (as a gunicorn worker is): nothing of the parent's; its own probes answer
        try:
            os.close(read)
            fresh = health._clients.kafka is None and not health._clients.redis and not health._probes.probes
            ready = health.readiness_get(needs=health.WORKER_NEEDS).ready
            os.write(write, b"%d%d" % (fresh, ready))
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as answer:
        result = answer.read()
    os.waitpid(pid, 0)
    assert result == b"11"


def test_ready_refuses_a_post_with_405():
    assert APIClient().post("/ready").status_code == 405


# --- The worker's /ready (beside its metrics) -----------------------------------------------------


@pytest.fixture
def worker_exporter(settings):
    """The worker's exporter as a worker starts it (``worker_exporter_start_from_settings``), on a
    free port: its base URL."""
    settings.WORKER_METRICS_HOST, settings.WORKER_METRICS_PORT = "127.0.0.1", closed_port()
    server = metrics.worker_exporter_start_from_settings()
    assert server is not None
    yield f"http://127.0.0.1:{settings.WORKER_METRICS_PORT}"
    server.shutdown()
    server.server_close()


@pytest.mark.integration
@pytest.mark.django_db
def test_the_workers_ready_answers_200_when_the_queue_and_kafka_answer(worker_exporter):
    response = requests.get(f"{worker_exporter}/ready", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {
        "status": "ready",
        "needs": ["queue", "kafka"],
        "checks": {"database": {"ok": True}, "queue": {"ok": True}, "kafka": {"ok": True}},
    }
    # The metrics are still served beside it.
    assert "eventcapture_events_dead_lettered_total" in requests.get(f"{worker_exporter}/metrics", timeout=10).text


@pytest.mark.integration
@pytest.mark.django_db
@pytest.mark.usefixtures("kafka_down")
def test_the_worker_is_unavailable_while_kafka_is_down_and_the_web_is_not(worker_exporter, settings):
    response = requests.get(f"{worker_exporter}/ready", timeout=10)
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "needs": ["queue", "kafka"],
        "checks": {"database": {"ok": True}, "queue": {"ok": True}, "kafka": {"ok": False}},
        "failed": ["kafka"],
    }
    assert APIClient().get("/ready").status_code == 200
    # The metrics token shows why, as on the web's /ready.
    settings.METRICS_TOKEN = "worker-token"
    detailed = requests.get(f"{worker_exporter}/ready", headers={"Authorization": "Bearer worker-token"}, timeout=10)
    assert detailed.json()["checks"]["kafka"]["error"].startswith("KafkaException: ")
