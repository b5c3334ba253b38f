"""Queueing accepted batches and delivering them to Kafka."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings

from eventcapture.exceptions import QueueUnavailable
from kafka_bridge.encoding import Encoder, EncodingError
from kafka_bridge.producer import OutgoingRecord, records_produce
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
class _Target:
    topic: str
    full_name: str
    encoder: Encoder


class UnknownSchema(LookupError):
    pass


@lru_cache(maxsize=1024)
def _target(schema_id: int) -> _Target:
    # Revisions are immutable, so a target never goes stale once built.
    revision = schema_revision_get(schema_id=schema_id)
    if revision is None:
        raise UnknownSchema(f"no schema revision {schema_id}")
    full_name = revision.major.full_name
    framed_id = record_schema_id(local_id=schema_id, subject=full_name, schema=revision.avro_schema)
    return _Target(
        topic=revision.major.topic,
        full_name=full_name,
        encoder=Encoder(schema=revision.avro_schema_dict, schema_id=framed_id),
    )


def batch_enqueue(*, events: Sequence[QueuedEvent]) -> None:
    """Put one batch in the durable queue as one task; ``QueueUnavailable`` if that fails."""
    from kafka_bridge.tasks import deliver_batch

    try:
        deliver_batch.apply_async(args=([asdict(event) for event in events],))
    except Exception as exc:
        # Whatever stopped the publish (connection, timeout, a closed pool), the batch is not in
        # the queue: the client must hear 503 and retry, never 202 and never 500.
        logger.warning("could not queue a batch of %d events: %s", len(events), type(exc).__name__)
        raise QueueUnavailable(headers={"Retry-After": "5"}) from exc


def batch_deliver(*, events: Sequence[dict[str, Any]]) -> None:
    """Encode and produce every event of a batch, returning once Kafka acknowledged all."""
    records = []
    for event in events:
        try:
            target = _target(int(event["schema_id"]))
            value = target.encoder.encode(event["record"])
        except (UnknownSchema, EncodingError, RegistryRefused) as exc:
            # Dead letters (issue #5) will keep these; until then they are logged, not retried.
            logger.error("event %s cannot be encoded: %s", event.get("event_id"), exc)
            continue
        records.append(
            OutgoingRecord(
                topic=target.topic,
                key=event["key"],
                value=value,
                headers=[("event_id", event["event_id"].encode()), ("event_type", target.full_name.encode())],
            )
        )
    records_produce(records, timeout=settings.KAFKA_DELIVERY_TIMEOUT)


def encoding_cache_clear() -> None:
    _target.cache_clear()
