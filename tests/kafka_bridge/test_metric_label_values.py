"""The worker's label values known in advance (``kafka_bridge.collectors.worker_label_values``),
which its counters export at zero from its start, are the ones the code counts with."""

from __future__ import annotations

import re
from pathlib import Path

from confluent_kafka import KafkaError

from kafka_bridge import collectors
from kafka_bridge.collectors import FAILURE_REASONS, PRODUCER_ERRORS, worker_label_values
from kafka_bridge.queue import DELIVER_TASK, REPLAY_TASK

BRIDGE = Path(collectors.__file__).resolve().parent


def test_every_reason_a_delivery_failure_is_raised_with_is_known():
    raised = set()
    for source in BRIDGE.glob("*.py"):
        raised |= set(re.findall(r'\breason="([a-z_]+)"', source.read_text()))
    assert raised
    assert raised <= set(FAILURE_REASONS)


def test_the_producer_errors_are_librdkafkas_names():
    for name in PRODUCER_ERRORS:
        assert KafkaError(getattr(KafkaError, name)).name() == name


def test_each_task_is_known_with_the_exceptions_it_is_retried_on():
    retried = worker_label_values().task_retries
    assert {(DELIVER_TASK, "DeliveryFailed"), (DELIVER_TASK, "RegistryUnavailable")} <= set(retried)
    assert (REPLAY_TASK, "ReplayInterrupted") in retried
    assert len(set(retried)) == len(retried)
