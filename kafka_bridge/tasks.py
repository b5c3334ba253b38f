from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.signals import worker_process_init, worker_process_shutdown

from kafka_bridge.producer import DeliveryFailed, producer_flush, producer_reset
from kafka_bridge.registry_client import RegistryUnavailable
from kafka_bridge.services import batch_deliver


@shared_task(
    name="kafka_bridge.deliver_batch",
    autoretry_for=(DeliveryFailed, RegistryUnavailable),
    # Kafka down means retry until it is back, never drop: no retry limit, backoff capped at 5 min.
    max_retries=None,
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=True,
)
def deliver_batch(events: list[dict[str, Any]]) -> None:
    batch_deliver(events=events)


@worker_process_init.connect
def _producer_after_fork(**_: Any) -> None:
    # A forked child must never use a producer (and its threads) built in the parent.
    producer_reset()


@worker_process_shutdown.connect
def _producer_on_shutdown(**_: Any) -> None:
    producer_flush()
