"""System checks of the delivery settings (``manage.py check``, ``migrate``, the worker's start)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks


def visibility_timeout_check(**kwargs: Any) -> list[checks.CheckMessage]:
    """Redis hands a task nobody acknowledged to another worker after the visibility timeout; a
    worker waits up to KAFKA_DELIVERY_TIMEOUT for one attempt's acknowledgement without refreshing
    its hold, so the timeout must be longer, or batches are delivered twice while Kafka is slow."""
    visibility = float(settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600))
    delivery: float = settings.KAFKA_DELIVERY_TIMEOUT
    if visibility > delivery * 1.5:
        return []
    return [
        checks.Error(
            f"CELERY_VISIBILITY_TIMEOUT ({visibility:.0f} s) must be well over KAFKA_DELIVERY_TIMEOUT "
            f"({delivery:.0f} s).",
            hint="Raise CELERY_VISIBILITY_TIMEOUT (the default is an hour) or lower KAFKA_DELIVERY_TIMEOUT.",
            id="kafka_bridge.E001",
        )
    ]


def delivery_concurrency_check(**kwargs: Any) -> list[checks.CheckMessage]:
    if settings.DELIVERY_CONCURRENCY >= 1:
        return []
    return [
        checks.Error(
            f"DELIVERY_CONCURRENCY must be at least 1, got {settings.DELIVERY_CONCURRENCY}.",
            hint="The number of groups of queued batches a worker process delivers at once; 4 by default.",
            id="kafka_bridge.E002",
        )
    ]
