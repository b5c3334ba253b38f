"""Kafka topics of the registry's active majors: planning and creating them."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from django.conf import settings

from registry.selectors import topic_list_active

logger = logging.getLogger(__name__)


class TopicsError(Exception):
    pass


@dataclass
class TopicsReport:
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _admin() -> AdminClient:
    return AdminClient({"bootstrap.servers": settings.KAFKA_BOOTSTRAP_SERVERS})


def topics_ensure(*, partitions: int, replication: int, timeout: float = 15.0) -> TopicsReport:
    """Create the missing topics of every active major; replication is capped at the broker
    count (with a warning) so a one-broker development cluster works."""
    report = TopicsReport()
    admin = _admin()
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise TopicsError(f"Kafka at {settings.KAFKA_BOOTSTRAP_SERVERS} did not answer: {exc}") from exc
    brokers = len(metadata.brokers)
    if replication > brokers:
        report.warnings.append(f"replication {replication} capped at {brokers}: the cluster has {brokers} broker(s)")
        replication = brokers
    wanted = topic_list_active()
    missing = [topic for topic in wanted if topic not in metadata.topics]
    report.existing = [topic for topic in wanted if topic in metadata.topics]
    if not missing:
        return report
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=replication) for topic in missing],
        operation_timeout=timeout,
        request_timeout=timeout,
    )
    for topic, future in futures.items():
        try:
            future.result()
        except KafkaException as exc:
            raise TopicsError(f"could not create topic {topic}: {exc}") from exc
        report.created.append(topic)
    _leaders_wait(admin=admin, topics=report.created, timeout=timeout)
    return report


def _leaders_wait(*, admin: AdminClient, topics: list[str], timeout: float) -> None:
    """Return once every partition of ``topics`` has a leader: a created topic is not usable
    (produce, offsets) before that."""
    deadline = time.monotonic() + timeout
    while True:
        metadata = admin.list_topics(timeout=timeout)
        waiting = [
            topic
            for topic in topics
            if topic not in metadata.topics
            or not metadata.topics[topic].partitions
            or any(partition.leader < 0 for partition in metadata.topics[topic].partitions.values())
        ]
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise TopicsError(f"topics without a leader after {timeout:.0f}s: {', '.join(waiting)}")
        time.sleep(0.2)
