"""The one place that owns the Kafka producer.

Lifecycle: built lazily on first use, one per process (Celery prefork children each build their
own after the fork, never inherit one); ``producer_flush`` is called on worker shutdown so nothing
buffered is lost; ``producer_reset`` drops it (tests, and after a fork). Nothing runs at import.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from django.conf import settings

from eventcapture import metrics

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_producer: Producer | None = None


@dataclass(frozen=True)
class OutgoingRecord:
    topic: str
    key: str
    value: bytes
    headers: list[tuple[str, str | bytes | None]]


class DeliveryFailed(Exception):
    """Kafka did not acknowledge every record of a batch in time; the batch should be retried.

    ``reason`` (a metrics label): ``delivery_error`` (a failed delivery report), ``delivery_timeout``
    (reports still missing at the deadline) or ``produce_error`` (``produce()`` refused a record)."""

    def __init__(self, message: str = "", *, reason: str = "delivery_error") -> None:
        super().__init__(message)
        self.reason = reason


def _on_error(error: KafkaError) -> None:
    # librdkafka's own errors (a broker unreachable, all brokers down); it keeps retrying itself.
    metrics.producer_error(error=error.name())
    logger.warning("kafka producer error: %s", error.str())


def _config() -> dict[str, object]:
    return {
        "bootstrap.servers": settings.KAFKA_BOOTSTRAP_SERVERS,
        "client.id": "eventcapture-worker",
        "acks": "all",
        "enable.idempotence": True,
        "compression.type": "zstd",
        # Records of one task arrive together: a short linger packs them into few requests.
        "linger.ms": 20,
        "batch.size": 512 * 1024,
        # librdkafka keeps retrying inside this window; past it the task retries the batch.
        "message.timeout.ms": int(settings.KAFKA_DELIVERY_TIMEOUT * 1000),
        "error_cb": _on_error,
    }


def producer_get() -> Producer:
    global _producer
    if _producer is None:
        with _lock:
            if _producer is None:
                _producer = Producer(_config())
    return _producer


def producer_reset() -> None:
    global _producer
    with _lock:
        _producer = None


def producer_flush(timeout: float = 30.0) -> int:
    """Deliver what is buffered; returns how many records are still undelivered."""
    if _producer is None:
        return 0
    remaining: int = _producer.flush(timeout)
    if remaining:
        logger.error("kafka producer closed with %d records undelivered", remaining)
    return remaining


def records_produce(records: Sequence[OutgoingRecord], *, timeout: float) -> None:
    """Produce every record and wait for all delivery reports; raise ``DeliveryFailed`` unless
    Kafka acknowledged each one."""
    producer = producer_get()
    failures: list[KafkaError] = []
    pending = len(records)

    def on_delivery(error: KafkaError | None, message: Message) -> None:
        nonlocal pending
        pending -= 1
        if error is not None:
            failures.append(error)
            metrics.producer_error(error=error.name())
            return
        latency = message.latency()
        if latency is not None:
            metrics.kafka_delivered(seconds=latency)

    for record in records:
        while True:
            try:
                producer.produce(
                    record.topic, value=record.value, key=record.key, headers=record.headers, on_delivery=on_delivery
                )
                break
            except BufferError:
                # The local queue is full: serve delivery reports to make room.
                producer.poll(0.1)
            except KafkaException as exc:
                error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
                metrics.producer_error(error=error.name() if error is not None else type(exc).__name__)
                raise DeliveryFailed(str(exc), reason="produce_error") from exc
    deadline = time.monotonic() + timeout
    while pending > 0 and time.monotonic() < deadline:
        producer.poll(min(0.5, max(0.0, deadline - time.monotonic())))
    if failures or pending:
        reasons = sorted({error.str() for error in failures})
        logger.warning(
            "kafka delivery failed: %d failed, %d unconfirmed (%s)", len(failures), pending, "; ".join(reasons)
        )
        raise DeliveryFailed(
            f"{len(failures)} records failed and {pending} were unconfirmed: {'; '.join(reasons)}",
            reason="delivery_error" if failures else "delivery_timeout",
        )
