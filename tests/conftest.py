from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient
from django.conf import settings
from django.contrib.auth.models import Group
from django.test import Client

from kafka_bridge.connection import client_config
from kafka_bridge.producer import producer_flush, producer_reset
from kafka_bridge.targets import encoding_cache_clear
from kafka_bridge.topics import topics_ensure
from registry.selectors import registry_cache_clear
from registry.services import catalogue_load
from tests.kafka_sasl import SASL_PASSWORD, SASL_USER, sasl_address, sasl_listener_problem
from tests.queues import queues_purge


def _catalogue_loaded() -> Iterator[None]:
    # Per-process caches are keyed by schema id, and ids restart with every test database.
    registry_cache_clear()
    encoding_cache_clear()
    catalogue_load(root=Path(settings.BASE_DIR) / "schemas")
    yield
    registry_cache_clear()
    encoding_cache_clear()


@pytest.fixture
def catalogue(db: None) -> Iterator[None]:
    """The shipped catalogue, loaded into the test database."""
    yield from _catalogue_loaded()


@pytest.fixture
def committed_catalogue(django_db_reset_sequences: None) -> Iterator[None]:
    """The catalogue, committed, so other threads (live server, worker) see it. Sequences restart
    in every test, so schema ids stay those of records earlier tests of this run left in Kafka."""
    yield from _catalogue_loaded()


@pytest.fixture(scope="session")
def _run_topics() -> Iterator[None]:
    """Deletes this run's topics (named with its own ``KAFKA_TOPIC_PREFIX``) at the end."""
    yield
    admin = AdminClient(client_config(client_id="eventcapture-tests"))
    ours = [topic for topic in admin.list_topics(timeout=10).topics if topic.startswith(settings.KAFKA_TOPIC_PREFIX)]
    for future in admin.delete_topics(ours, operation_timeout=30).values() if ours else []:
        future.result()


@pytest.fixture
def kafka_topics(_run_topics: None, committed_catalogue: None) -> None:
    """The catalogue's topics exist in the real broker (replication 1: one broker)."""
    topics_ensure(partitions=settings.KAFKA_TOPIC_PARTITIONS, replication=1)


@pytest.fixture
def kafka_sasl(settings: Any) -> Iterator[None]:
    """Every Kafka client of the service connects through the local broker's SASL listener
    (SASL_PLAINTEXT, PLAIN) as its test user. Fails, never skips, when the listener is not there."""
    problem = sasl_listener_problem()
    if problem:
        pytest.fail(problem, pytrace=False)
    settings.KAFKA_BOOTSTRAP_SERVERS = sasl_address()
    settings.KAFKA_SECURITY_PROTOCOL = "SASL_PLAINTEXT"
    settings.KAFKA_SASL_MECHANISM = "PLAIN"
    settings.KAFKA_SASL_USERNAME = SASL_USER
    settings.KAFKA_SASL_PASSWORD = SASL_PASSWORD
    # The producer keeps the configuration it was built with.
    producer_reset()
    yield
    producer_flush(timeout=10)
    producer_reset()


@pytest.fixture
def celery_worker_thread(committed_catalogue: None) -> Iterator[None]:
    """A real Celery worker consuming the real Redis queue, in a thread of this process, with a
    pool of threads sharing one producer as the service's worker does."""
    from celery.contrib.testing.worker import start_worker

    from eventcapture.celery import app

    queues_purge()
    producer_reset()
    with start_worker(app, pool="threads", concurrency=4, perform_ping_check=False, shutdown_timeout=30):
        yield
    producer_flush()
    producer_reset()


@pytest.fixture
def empty_queue() -> Iterator[None]:
    """The real queues in Redis are empty when the test starts and when it ends."""
    queues_purge()
    yield
    queues_purge()


@pytest.fixture
def unreachable_queue() -> Iterator[None]:
    """The Celery app publishes to a closed port for the test's duration, as if Redis were down."""
    from eventcapture.celery import app
    from tests.queues import broker_point

    working = (app.conf.broker_url, app.conf.broker_write_url)
    broker_point("redis://127.0.0.1:9/0", "redis://127.0.0.1:9/0")
    yield
    broker_point(*working)


@pytest.fixture
def editor(catalogue: None, django_user_model: Any) -> Client:
    """A logged-in superuser of the admin."""
    client = Client()
    client.force_login(django_user_model.objects.create_superuser("editor", "editor@example.org", "x"))
    return client


@pytest.fixture
def analyst(catalogue: None, django_user_model: Any) -> Client:
    """A logged-in staff user in the view-only Analysts group."""
    user = django_user_model.objects.create_user("analyst", "analyst@example.org", "x", is_staff=True)
    user.groups.add(Group.objects.get(name="Analysts"))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def own_topics(settings: Any) -> str:
    """Topics of this test's own (under the run's prefix, so the run deletes them at the end): the
    examples read every record under the prefix, and other tests' records would be mixed in."""
    settings.KAFKA_TOPIC_PREFIX = f"{settings.KAFKA_TOPIC_PREFIX}consumers.{uuid.uuid4().hex[:8]}."
    return str(settings.KAFKA_TOPIC_PREFIX)
