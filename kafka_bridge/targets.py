"""Where and how the events of one schema revision go to Kafka: the topic, the encoder (with the
schema id the records are framed with) and the record's headers. Delivery and the replay of dead
letters both build their records here, so a replayed record is the one delivery would have sent.

Targets are built once per process and schema id: revisions are immutable, so one never goes
stale.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from kafka_bridge.encoding import Encoder
from kafka_bridge.producer import OutgoingRecord
from kafka_bridge.registry_client import record_schema_id
from registry.selectors import schema_revision_get


class UnknownSchema(LookupError):
    pass


@dataclass(frozen=True)
class EncodingTarget:
    topic: str
    full_name: str
    encoder: Encoder
    # The major's id: the key of its hourly counts (kafka_bridge.numbers).
    major_id: int

    def record(self, *, event_id: str, key: str, value: bytes) -> OutgoingRecord:
        """The Kafka record of an encoded event: its key, and the ``event_id`` and ``event_type``
        headers consumers drop duplicates and route by."""
        return OutgoingRecord(
            topic=self.topic,
            key=key,
            value=value,
            headers=[("event_id", event_id.encode()), ("event_type", self.full_name.encode())],
        )


@lru_cache(maxsize=1024)
def _target(schema_id: int) -> EncodingTarget:
    revision = schema_revision_get(schema_id=schema_id)
    if revision is None:
        raise UnknownSchema(f"no schema revision {schema_id}")
    full_name = revision.major.full_name
    framed_id = record_schema_id(local_id=schema_id, subject=full_name, schema=revision.avro_schema)
    return EncodingTarget(
        topic=revision.major.topic,
        full_name=full_name,
        encoder=Encoder(schema=revision.avro_schema_dict, schema_id=framed_id),
        major_id=revision.major_id,
    )


def encoding_target(*, schema_id: int) -> EncodingTarget:
    """Where and how records of ``schema_id`` are produced; ``UnknownSchema``, ``RegistryRefused``
    or ``EncodingError`` (permanent) or ``RegistryUnavailable`` (retry)."""
    return _target(schema_id)


def encoding_cache_clear() -> None:
    _target.cache_clear()
