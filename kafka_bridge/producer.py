"""The one place that owns the Kafka producer.

Lifecycle: built lazily on first use, one per process, shared by every thread of it (the worker
runs its tasks in a thread pool; a prefork child builds its own after the fork, never inherits
one). With it starts one thread that serves the producer's delivery reports, so a thread that
produced a batch waits only for its own records' reports while other threads' batches are in
flight on the same connections. ``producer_flush`` (worker shutdown) stops that thread and
delivers what is buffered; ``producer_reset`` drops the producer (tests, and after a fork).
Nothing runs at import.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import NamedTuple

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from django.conf import settings

from eventcapture import metrics
from kafka_bridge.connection import client_config

logger = logging.getLogger(__name__)

# How long the reports thread blocks in one poll: the delay before it notices it should stop.
REPORTS_POLL_SECONDS = 0.1
# How long a thread waits for room when librdkafka's local queue is full.
QUEUE_FULL_WAIT_SECONDS = 0.005


class OutgoingRecord(NamedTuple):
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


class RecordsRefused(DeliveryFailed):
    """Kafka refused some records for what they are (larger than the producer or the broker takes)
    and acknowledged every other record of the call: retrying the refused ones cannot help.
    ``refused``: the refused records' positions in the call, with why."""

    def __init__(self, refused: dict[int, str]) -> None:
        super().__init__(f"{len(refused)} records refused by Kafka", reason="record_refused")
        self.refused = refused


# Errors that refuse a record for itself: whatever is retried, it is refused again.
_REFUSING = frozenset({KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE, KafkaError.INVALID_RECORD})


def _on_error(error: KafkaError) -> None:
    # librdkafka's own errors (a broker unreachable, all brokers down); it keeps retrying itself.
    metrics.producer_error(error=error.name())
    logger.warning("kafka producer error: %s", error.str())


def _config() -> dict[str, object]:
    return {
        **client_config(client_id="eventcapture-worker"),
        "acks": "all",
        "enable.idempotence": True,
        "compression.type": settings.KAFKA_COMPRESSION_TYPE,
        # Many batches are in flight at once, so requests fill without waiting long for company.
        "linger.ms": settings.KAFKA_LINGER_MS,
        "batch.size": min(512 * 1024, settings.KAFKA_MESSAGE_MAX_BYTES),
        # The API refuses events whose record would be larger (events/services.py).
        "message.max.bytes": settings.KAFKA_MESSAGE_MAX_BYTES,
        # librdkafka keeps retrying inside this window; past it the task retries the batch.
        "message.timeout.ms": int(settings.KAFKA_DELIVERY_TIMEOUT * 1000),
        "error_cb": _on_error,
    }


class _Reports(threading.Thread):
    """Serves the producer's delivery reports (calls the callbacks) until stopped."""

    def __init__(self, producer: Producer) -> None:
        super().__init__(name="kafka-delivery-reports", daemon=True)
        self.producer = producer
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            self.producer.poll(REPORTS_POLL_SECONDS)

    def stop(self) -> None:
        self.stopping.set()
        if self.is_alive() and self is not threading.current_thread():
            self.join()


_lock = threading.Lock()
_producer: Producer | None = None
_reports: _Reports | None = None


def producer_get() -> Producer:
    global _producer, _reports
    if _producer is None:
        with _lock:
            if _producer is None:
                producer = Producer(_config())
                _reports = _Reports(producer)
                _reports.start()
                _producer = producer
    return _producer


def _reports_stop() -> None:
    global _reports
    if _reports is not None:
        _reports.stop()
        _reports = None


def producer_reset() -> None:
    global _producer
    with _lock:
        _reports_stop()
        _producer = None


def producer_flush(timeout: float = 30.0) -> int:
    """Deliver what is buffered; returns how many records are still undelivered."""
    with _lock:
        _reports_stop()
        if _producer is None:
            return 0
        # flush() serves the remaining delivery reports in this thread.
        remaining: int = _producer.flush(timeout)
    if remaining:
        logger.error("kafka producer closed with %d records undelivered", remaining)
    return remaining


class _Acknowledgements:
    """The delivery reports of one call's records, counted by the reports thread alone (flush
    aside), through one bound method for every record: nothing is made per record, and the count
    needs no lock. A report names its message, not the record's position, so a record refused for
    itself is remembered by its value. ``unreported``: records ``produce()`` refused at once, for
    which no report comes; set by the producing thread once it has produced the rest. Each thread
    writes its own attribute before it reads the other's, so one of them always sees both."""

    __slots__ = ("done", "failures", "pending", "refused_values", "unreported")

    def __init__(self, pending: int) -> None:
        self.pending = pending
        self.unreported = 0
        self.failures: list[KafkaError] = []
        # Values of records refused for themselves, with why.
        self.refused_values: dict[bytes, str] = {}
        self.done = threading.Event()
        if pending == 0:
            self.done.set()

    def report(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            metrics.producer_error(error=error.name())
            if error.code() in _REFUSING:
                self.refused_values[message.value() or b""] = error.str()
            else:
                self.failures.append(error)
        self.pending -= 1
        if self.pending <= self.unreported:
            self.done.set()

    def unreported_set(self, count: int) -> None:
        self.unreported = count
        if self.pending <= count:
            self.done.set()


class _Outcome(NamedTuple):
    failures: list[KafkaError]
    # Records neither acknowledged nor failed by the deadline.
    unconfirmed: int
    # Positions of the records refused for themselves, with why.
    refused: dict[int, str]


def _produce_waiting(records: Sequence[OutgoingRecord], *, timeout: float) -> _Outcome:
    """Produce ``records`` and wait (at most ``timeout``) for their delivery reports."""
    producer = producer_get()
    acknowledgements = _Acknowledgements(len(records))
    report = acknowledgements.report
    # Refused by produce() itself, before they were sent: no report will come for them.
    refused: dict[int, str] = {}
    for position, record in enumerate(records):
        while True:
            try:
                producer.produce(
                    record.topic, value=record.value, key=record.key, headers=record.headers, on_delivery=report
                )
                break
            except BufferError:
                # librdkafka's local queue is full: the reports thread makes room.
                time.sleep(QUEUE_FULL_WAIT_SECONDS)
            except KafkaException as exc:
                error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
                metrics.producer_error(error=error.name() if error is not None else type(exc).__name__)
                if error is not None and error.code() in _REFUSING:
                    refused[position] = error.str()
                    break
                raise DeliveryFailed(str(exc), reason="produce_error") from exc
    if refused:
        acknowledgements.unreported_set(len(refused))
    acknowledgements.done.wait(timeout)
    if acknowledgements.refused_values:
        for position, record in enumerate(records):
            why = acknowledgements.refused_values.get(record.value)
            if why is not None:
                refused[position] = why
    unconfirmed = acknowledgements.pending - acknowledgements.unreported
    return _Outcome(list(acknowledgements.failures), unconfirmed, refused)


def _failed(outcome: _Outcome) -> None:
    failures, pending = outcome.failures, outcome.unconfirmed
    if failures or pending:
        reasons = sorted({error.str() for error in failures})
        logger.warning(
            "kafka delivery failed: %d failed, %d unconfirmed (%s)", len(failures), pending, "; ".join(reasons)
        )
        raise DeliveryFailed(
            f"{len(failures)} records failed and {pending} were unconfirmed: {'; '.join(reasons)}",
            reason="delivery_error" if failures else "delivery_timeout",
        )


def records_produce(records: Sequence[OutgoingRecord], *, timeout: float) -> None:
    """Produce every record and wait for their delivery reports; raise ``DeliveryFailed`` unless
    Kafka acknowledged each one, ``RecordsRefused`` when it acknowledged each but those it refused
    for what they are (too large). Other threads' records are in flight meanwhile."""
    started = time.monotonic()
    outcome = _produce_waiting(records, timeout=timeout)
    _failed(outcome)
    refused = outcome.refused
    if not refused:
        if records:
            metrics.kafka_delivered(seconds=time.monotonic() - started)
        return
    # A broker refuses a whole request when one record of it is too large, and librdkafka reports
    # every record of it as refused: each is tried again alone, and only those refused alone are.
    # (Records of equal value are told apart by nothing in a report: all are tried again alone.)
    for position in sorted(refused):
        alone = _produce_waiting([records[position]], timeout=timeout)
        _failed(alone)
        if not alone.refused:
            del refused[position]
    if refused:
        raise RecordsRefused(dict(refused))
