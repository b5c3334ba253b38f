"""Reading records back from Kafka, decoded with Confluent's own ``AvroDeserializer`` through a
schema-registry API (by default this service's). Used by ``manage.py tail_events`` and tests.

A ``TopicTail`` assigns every partition of its topic when it is opened (at the start or at the
current end), so records produced after opening are never missed; close it when done.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext
from django.conf import settings

from kafka_bridge.connection import ClientLog, client_config
from kafka_bridge.encoding import EncodingError, confluent_frame_split


class TailError(Exception):
    pass


@dataclass(frozen=True)
class DecodedRecord:
    topic: str
    partition: int
    offset: int
    key: str | None
    headers: dict[str, str]
    schema_id: int | None
    value: dict[str, Any]


def _headers(headers: Any) -> dict[str, str]:
    pairs = headers.items() if isinstance(headers, dict) else headers or []
    return {name: value.decode() if isinstance(value, bytes) else value for name, value in pairs if value is not None}


def _frame_schema_id(value: bytes | None) -> int | None:
    try:
        return confluent_frame_split(value)[0] if value is not None else None
    except EncodingError:
        return None


class TopicTail:
    def __init__(self, *, topic: str, from_beginning: bool, registry_url: str | None = None) -> None:
        self.topic = topic
        log = ClientLog()
        self._consumer = Consumer(
            {
                **client_config(client_id="eventcapture-tail"),
                "group.id": f"eventcapture-tail-{uuid.uuid4()}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
            },
            logger=log,
        )
        try:
            partitions = self._partitions(from_beginning=from_beginning)
        except KafkaException as exc:
            self._consumer.poll(0)  # hands librdkafka's queued log lines to ``log``: why it failed
            self._consumer.close()
            detail = f" ({log.last_problem})" if log.last_problem else ""
            raise TailError(f"Kafka at {settings.KAFKA_BOOTSTRAP_SERVERS}: {exc}{detail}") from exc
        self._consumer.assign(partitions)
        self._deserializer = AvroDeserializer(
            SchemaRegistryClient({"url": registry_url or settings.SCHEMA_REGISTRY_PUBLIC_URL})
        )

    def _partitions(self, *, from_beginning: bool) -> list[TopicPartition]:
        metadata = self._consumer.list_topics(self.topic, timeout=10)
        topic = metadata.topics.get(self.topic)
        if topic is None or topic.error is not None or not topic.partitions:
            raise TailError(f"topic {self.topic!r} does not exist")
        partitions = []
        for number in sorted(topic.partitions):
            offset = OFFSET_BEGINNING if from_beginning else self._high_watermark(number)
            partitions.append(TopicPartition(self.topic, number, offset))
        return partitions

    def _high_watermark(self, partition: int) -> int:
        # A partition whose leader is still being elected (a topic just created) answers with an
        # error such as NOT_LEADER_FOR_PARTITION for a moment.
        deadline = time.monotonic() + 15
        while True:
            try:
                _, high = self._consumer.get_watermark_offsets(TopicPartition(self.topic, partition), timeout=10)
                return int(high)
            except KafkaException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def records(self, *, max_records: int | None = None, idle_timeout: float | None = None) -> Iterator[DecodedRecord]:
        """Decoded records as they arrive; stops after ``max_records`` or ``idle_timeout``
        seconds without a record (never, when both are None)."""
        seen = 0
        last = time.monotonic()
        while max_records is None or seen < max_records:
            message = self._consumer.poll(0.5)
            if message is None:
                if idle_timeout is not None and time.monotonic() - last > idle_timeout:
                    return
                continue
            if message.error():
                raise TailError(str(message.error()))
            last = time.monotonic()
            seen += 1
            context = SerializationContext(self.topic, MessageField.VALUE, message.headers())
            key = message.key()
            partition, offset = message.partition() or 0, message.offset() or 0
            try:
                value = self._deserializer(message.value(), context)
            except Exception as exc:
                # The deserializer raises its own errors and the HTTP client's (registry down):
                # either way the reader needs the record's place and the reason, not a traceback.
                raise TailError(f"cannot decode {self.topic}[{partition}]@{offset}: {exc}") from exc
            yield DecodedRecord(
                topic=message.topic() or self.topic,
                partition=partition,
                offset=offset,
                key=key.decode() if isinstance(key, bytes) else key,
                headers=_headers(message.headers()),
                schema_id=_frame_schema_id(message.value()),
                value=value,
            )

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> TopicTail:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
