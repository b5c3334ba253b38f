from __future__ import annotations

from typing import Any

from celery import Task, shared_task
from celery.signals import worker_process_init, worker_process_shutdown
from django.db import InterfaceError, OperationalError

from kafka_bridge.dead_letters import ReplayInterrupted, dead_letters_replay
from kafka_bridge.producer import DeliveryFailed, producer_flush, producer_reset
from kafka_bridge.registry_client import RegistryUnavailable
from kafka_bridge.services import batch_deliver


@shared_task(
    name="kafka_bridge.deliver_batch",
    bind=True,
    # The database unreachable (its dead letters cannot be kept) is as transient as Kafka down.
    autoretry_for=(DeliveryFailed, RegistryUnavailable, OperationalError, InterfaceError),
    # Kafka down means retry until it is back, never drop: no retry limit, backoff capped at 5 min.
    max_retries=None,
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=True,
)
def deliver_batch(self: Task[Any, Any], events: list[dict[str, Any]]) -> None:
    batch_deliver(events=events, retrying=self.request.retries > 0)


@shared_task(
    name="kafka_bridge.replay_dead_letters",
    # Kafka or the external registry not answering: try again later; only pending letters are replayed.
    autoretry_for=(ReplayInterrupted, OperationalError, InterfaceError),
    max_retries=None,
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=True,
)
def replay_dead_letters(event_ids: list[str]) -> None:
    # The admin's action: the web process never produces to Kafka, the worker does.
    dead_letters_replay(ids=event_ids)


@worker_process_init.connect
def _producer_after_fork(**_: Any) -> None:
    # A forked child must never use a producer (and its threads) built in the parent.
    producer_reset()


@worker_process_shutdown.connect
def _producer_on_shutdown(**_: Any) -> None:
    producer_flush()
