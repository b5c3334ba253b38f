from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from kafka_bridge.producer import producer_flush, producer_reset
from kafka_bridge.services import encoding_cache_clear
from registry.selectors import registry_cache_clear
from registry.services import catalogue_load


@pytest.fixture
def catalogue(db: None) -> Iterator[None]:
    """The shipped catalogue, loaded into the test database."""
    registry_cache_clear()
    encoding_cache_clear()
    catalogue_load(root=Path(settings.BASE_DIR) / "schemas")
    yield
    registry_cache_clear()
    encoding_cache_clear()


@pytest.fixture
def committed_catalogue(transactional_db: None) -> Iterator[None]:
    """The catalogue, committed, so other threads (live server, worker) see it."""
    registry_cache_clear()
    encoding_cache_clear()
    catalogue_load(root=Path(settings.BASE_DIR) / "schemas")
    yield
    registry_cache_clear()
    encoding_cache_clear()


@pytest.fixture
def celery_worker_thread(committed_catalogue: None) -> Iterator[None]:
    """A real Celery worker consuming the real Redis queue, in a thread of this process."""
    from celery.contrib.testing.worker import start_worker

    from eventcapture.celery import app

    app.control.purge()
    producer_reset()
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        yield
    producer_flush()
    producer_reset()
