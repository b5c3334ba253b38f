"""Queueing accepted batches and delivering them to Kafka."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings

from eventcapture import metrics
from eventcapture.exceptions import QueueUnavailable
from kafka_bridge.encoding import Encoder, EncodingError
from kafka_bridge.producer import DeliveryFailed, OutgoingRecord, records_produce
from kafka_bridge.registry_client import RegistryRefused, record_schema_id
from registry.selectors import schema_revision_get

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueuedEvent:
    """One accepted event as it travels in a task: JSON-safe, its id minted at the edge."""

    event_id: str
    schema_id: int
    key: str
    record: dict[str, Any]


@dataclass(frozen=True)
class EncodingTarget:
    topic: str
    full_name: str
    encoder: Encoder


class UnknownSchema(LookupError):
    pass


@lru_cache(maxsize=1024)
def _target(schema_id: int) -> EncodingTarget:
    # Revisions are immutable, so a target never goes stale once built.
    revision = schema_revision_get(schema_id=schema_id)
    if revision is None:
        raise UnknownSchema(f"no schema revision {schema_id}")
    full_name = revision.major.full_name
    framed_id = record_schema_id(local_id=schema_id, subject=full_name, schema=revision.avro_schema)
    return EncodingTarget(
        topic=revision.major.topic,
        full_name=full_name,
        encoder=Encoder(schema=revision.avro_schema_dict, schema_id=framed_id),
    )


def encoding_target(*, schema_id: int) -> EncodingTarget:
    """Where and how records of ``schema_id`` are produced; ``UnknownSchema``, ``RegistryRefused``
    (permanent) or ``RegistryUnavailable`` (retry)."""
    return _target(schema_id)


def batch_enqueue(*, events: Sequence[QueuedEvent]) -> None:
    """Put one batch in the durable queue as one task; ``QueueUnavailable`` if that fails."""
    from kafka_bridge.tasks import deliver_batch

    try:
        deliver_batch.apply_async(args=([asdict(event) for event in events],), kwargs={"queued_at": time.time()})
    except Exception as exc:
        # Whatever stopped the publish (connection, timeout, a closed pool), the batch is not in
        # the queue: the client must hear 503 and retry, never 202 and never 500.
        logger.warning("could not queue a batch of %d events: %s", len(events), type(exc).__name__)
        raise QueueUnavailable(headers={"Retry-After": "5"}) from exc


def batch_deliver(*, events: Sequence[dict[str, Any]], retrying: bool = False) -> None:
    """Encode and produce every event of a batch, returning once Kafka acknowledged all; those that
    cannot be encoded become dead letters and the rest is still delivered. ``retrying``: an earlier
    attempt of this batch may have left dead letters that this one delivers."""
    # dead_letters builds on this module (encoding targets), so it is imported when used.
    from kafka_bridge.dead_letters import dead_letters_mark_delivered, dead_letters_record

    records = []
    undeliverable: list[tuple[dict[str, Any], Exception]] = []
    type_counts: Counter[str] = Counter()
    for event in events:
        try:
            target = _target(int(event["schema_id"]))
            value = target.encoder.encode(event["record"])
        except (UnknownSchema, EncodingError, RegistryRefused) as exc:
            # Permanent: retrying cannot help. Kept as a dead letter below, logged there.
            undeliverable.append((event, exc))
            continue
        records.append(
            OutgoingRecord(
                topic=target.topic,
                key=event["key"],
                value=value,
                headers=[("event_id", event["event_id"].encode()), ("event_type", target.full_name.encode())],
            )
        )
        type_counts[target.full_name] += 1
    if undeliverable:
        # Kept before any record of the batch is produced and acknowledged: a crash in between
        # re-delivers the task, which counts one more attempt; nothing is lost.
        dead_letters_record(failures=undeliverable)
    try:
        records_produce(records, timeout=settings.KAFKA_DELIVERY_TIMEOUT)
    except DeliveryFailed as exc:
        metrics.events_failed(counts=type_counts, reason=exc.reason)
        raise
    metrics.batch_delivered(counts=type_counts)
    if retrying:
        failed = {event["event_id"] for event, _ in undeliverable}
        dead_letters_mark_delivered(
            event_ids=[event["event_id"] for event in events if event["event_id"] not in failed]
        )


def encoding_cache_clear() -> None:
    _target.cache_clear()
