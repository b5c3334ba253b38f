"""What the bench asks of Kafka: topic sizes, record times, topics of its own, and the one-process
produce ceiling."""

from __future__ import annotations

import io
import struct
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import fastavro
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
)

from bench import events

TIMEOUT = 15.0


def _admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap})


def topic_create(bootstrap: str, topic: str, *, partitions: int = 3) -> None:
    admin = _admin(bootstrap)  # held until the future resolves: a destroyed client cancels it
    futures = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    futures[topic].result(timeout=TIMEOUT)
    wait_for_leaders(bootstrap, topic)


def wait_for_leaders(bootstrap: str, topic: str, timeout: float = 30.0) -> None:
    admin = _admin(bootstrap)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        metadata = admin.list_topics(topic, timeout=TIMEOUT).topics.get(topic)
        if metadata is not None and metadata.partitions and all(p.leader >= 0 for p in metadata.partitions.values()):
            return
        time.sleep(0.2)
    raise TimeoutError(f"no leaders for {topic} after {timeout:.0f}s")


def topics_delete(bootstrap: str, *, prefix: str) -> None:
    admin = _admin(bootstrap)
    ours = [topic for topic in admin.list_topics(timeout=TIMEOUT).topics if topic.startswith(prefix)]
    for future in admin.delete_topics(ours, operation_timeout=30).values() if ours else []:
        future.result(timeout=60)


def log_append_time(bootstrap: str, topic: str) -> None:
    """Stamp the topic's records with the broker's append time (what the latency is read from).
    Bench topics only; the service's topics keep the producer's create time."""
    resource = ConfigResource(
        ConfigResource.Type.TOPIC,
        topic,
        incremental_configs=[
            ConfigEntry("message.timestamp.type", "LogAppendTime", incremental_operation=AlterConfigOpType.SET)
        ],
    )
    admin = _admin(bootstrap)
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=TIMEOUT)


class TopicSize:
    """The number of records in a topic (the sum of its partitions' end offsets), read cheaply."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self._consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4()}", "enable.auto.commit": False}
        )
        metadata = self._consumer.list_topics(topic, timeout=TIMEOUT).topics[topic]
        self.partitions = sorted(metadata.partitions)

    def ends(self) -> dict[int, int]:
        return {
            partition: int(
                self._consumer.get_watermark_offsets(TopicPartition(self.topic, partition), timeout=TIMEOUT)[1]
            )
            for partition in self.partitions
        }

    def __call__(self) -> int:
        return sum(self.ends().values())

    def close(self) -> None:
        self._consumer.close()


@dataclass(frozen=True)
class Appended:
    event_id: str
    appended_at: float  # Unix seconds, the broker's append time


def _header(headers: Any, name: str) -> str | None:
    for key, value in headers or []:
        if key == name and value is not None:
            return value.decode() if isinstance(value, bytes) else str(value)
    return None


def records_between(bootstrap: str, topic: str, *, start: dict[int, int], end: dict[int, int]) -> Iterator[Appended]:
    """Every record of ``topic`` from offsets ``start`` up to ``end`` (per partition): its
    ``event_id`` header and its timestamp."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4()}", "enable.auto.commit": False}
    )
    try:
        wanted = {partition: end[partition] for partition in end if end[partition] > start.get(partition, 0)}
        consumer.assign([TopicPartition(topic, partition, start.get(partition, 0)) for partition in wanted])
        deadline = time.monotonic() + 120
        while wanted and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None:
                continue
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    continue
                raise RuntimeError(f"reading {topic}: {error}")
            partition = message.partition() or 0
            offset = message.offset() or 0
            if partition not in wanted or offset >= wanted[partition]:
                continue
            if offset + 1 >= wanted[partition]:
                del wanted[partition]
            event_id = _header(message.headers(), "event_id")
            stamp: int = message.timestamp()[1]
            if event_id is not None:
                yield Appended(event_id=event_id, appended_at=stamp / 1000)
    finally:
        consumer.close()


def producer_config(bootstrap: str) -> dict[str, Any]:
    """A plain producer with the delivery guarantees the service promises (every replica,
    idempotent) and its compression; librdkafka's defaults otherwise."""
    return {
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "enable.idempotence": True,
        "compression.type": "zstd",
    }


def produce_ceiling(*, bootstrap: str, topic: str, schema: dict[str, Any], count: int) -> float:
    """Events per second one Python process Avro-encodes (fastavro, Confluent framing) and
    produces to ``topic``, every one acknowledged by Kafka."""
    parsed = fastavro.parse_schema(schema)
    header = struct.pack(">bI", 0, 1)
    producer = Producer(producer_config(bootstrap))
    headers = [("event_type", events.EVENT_TYPE.encode())]
    failed = 0

    def delivered(error: KafkaError | None, _message: Any) -> None:
        nonlocal failed
        if error is not None:
            failed += 1

    # Connected and idempotence set up before the clock starts.
    producer.produce(topic, value=b"warm-up", on_delivery=delivered)
    producer.flush(TIMEOUT)
    started = time.perf_counter()
    for order in range(count):
        record = events.record(order=order)
        buffer = io.BytesIO()
        buffer.write(header)
        fastavro.schemaless_writer(buffer, parsed, record)
        key = str(uuid.UUID(bytes=record["session_uuid"]))
        while True:
            try:
                producer.produce(
                    topic,
                    value=buffer.getvalue(),
                    key=key,
                    headers=[("event_id", str(uuid.uuid4()).encode()), *headers],
                    on_delivery=delivered,
                )
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
    remaining = producer.flush(120)
    elapsed = time.perf_counter() - started
    if remaining or failed:
        raise RuntimeError(f"the produce ceiling lost records: {remaining} unflushed, {failed} failed")
    return count / elapsed
