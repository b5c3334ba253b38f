"""The bridge's gauges read at scrape time: the oldest undelivered batch's age, from Redis, and the
pending dead letters, from the database; and the worker's label values known in advance, which its
counters export at zero from its start (``worker_label_values``, named in
``METRICS_WORKER_LABEL_VALUES``). Named in ``METRICS_COLLECTORS``, so every scrape of the
web's ``/metrics`` and of the worker's exporter reports them (``eventcapture.metrics`` imports none
of the apps, and builds these by name).

A scrape stays bounded and never fails for them: each wait on Redis is within
``QUEUE_DEPTH_TIMEOUT``, the query within ``HEALTH_CHECK_TIMEOUT`` (PostgreSQL cancels it); a gauge
that cannot be read is left out of that scrape, and a warning logged at most once a minute.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from django.conf import settings
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from eventcapture.metrics import UNKNOWN, BrokerRedis, ScrapeWarning, WorkerLabelValues

logger = logging.getLogger(__name__)

# Why a batch's delivery failed (``DeliveryFailed.reason``, kafka_bridge/producer.py).
FAILURE_REASONS = ("delivery_error", "delivery_timeout", "produce_error", "record_refused")
# librdkafka's errors a producer meets when a broker is down, slow, refusing or misconfigured (by
# name, as eventcapture_producer_errors_total labels them); others start at their first count.
PRODUCER_ERRORS = (
    "_ALL_BROKERS_DOWN",
    "_AUTHENTICATION",
    "_MSG_TIMED_OUT",
    "_QUEUE_FULL",
    "_RESOLVE",
    "_SSL",
    "_TIMED_OUT",
    "_TRANSPORT",
    "_UNKNOWN_TOPIC",
    "MSG_SIZE_TOO_LARGE",
    "NOT_ENOUGH_REPLICAS",
    "REQUEST_TIMED_OUT",
    "TOPIC_AUTHORIZATION_FAILED",
    "UNKNOWN_TOPIC_OR_PART",
)

OLDEST_BATCH_AGE = "eventcapture_oldest_batch_age_seconds"
DEAD_LETTERS_PENDING = "eventcapture_dead_letters_pending"


class OldestBatchCollector(Collector):
    """``eventcapture_oldest_batch_age_seconds{state}``: the age of the oldest undelivered batch
    ``queued`` (waiting in the ``deliver`` queue) and ``taken`` (taken by a worker, not yet
    acknowledged by Kafka); 0 when there is none (see ``kafka_bridge.selectors.oldest_batches_get``)."""

    def __init__(self) -> None:
        self._broker = BrokerRedis()
        self._warning = ScrapeWarning()

    def collect(self) -> Iterable[Metric]:
        try:
            broker = self._broker.get()
            if broker is None:
                return []
            client, options = broker
            # Here, not at import: the exposition may be built (and scraped) before the apps are loaded.
            from kafka_bridge.selectors import oldest_batches_get

            oldest = oldest_batches_get(
                client=client,
                prefix=str(options.get("global_keyprefix", "")),
                unacked_key=str(options.get("unacked_key", "unacked")),
                now=time.time(),
            )
        except Exception as exc:  # any failure must leave the rest of the scrape intact
            self._warning.warn("oldest batch age not reported: the Celery broker could not be read (%s)", exc)
            return []
        family = GaugeMetricFamily(
            OLDEST_BATCH_AGE,
            "Seconds since the oldest undelivered batch was queued: waiting in the deliver queue (queued), "
            "or taken by a worker and not yet acknowledged by Kafka (taken); 0 when there is none.",
            labels=["state"],
        )
        family.add_metric(["queued"], oldest.queued)
        family.add_metric(["taken"], oldest.taken)
        return [family]


class DeadLettersPendingCollector(Collector):
    """``eventcapture_dead_letters_pending{event_type}``: dead letters neither replayed nor
    delivered, per event type (``unknown`` when its revision could not be loaded); no series for a
    type with none."""

    def __init__(self) -> None:
        self._warning = ScrapeWarning()

    def collect(self) -> Iterable[Metric]:
        try:
            from kafka_bridge.selectors import dead_letters_pending_count

            counts = dead_letters_pending_count(timeout=settings.HEALTH_CHECK_TIMEOUT)
        except Exception as exc:  # any failure must leave the rest of the scrape intact
            self._warning.warn("pending dead letters not reported: the database could not be read (%s)", exc)
            return []
        by_type: dict[str, int] = {}
        for event_type, count in counts.items():
            label = event_type or UNKNOWN
            by_type[label] = by_type.get(label, 0) + count
        family = GaugeMetricFamily(
            DEAD_LETTERS_PENDING,
            "Dead letters waiting for a replay (neither replayed nor delivered), by event type.",
            labels=["event_type"],
        )
        for event_type, count in sorted(by_type.items()):
            family.add_metric([event_type], count)
        return [family]


def _class_names(classes: Iterable[type[BaseException]]) -> set[str]:
    """The names of ``classes`` and of their subclasses (what ``type(exc).__name__`` may be)."""
    names: set[str] = set()
    pending = list(classes)
    while pending:
        cls = pending.pop()
        if cls.__name__ not in names:
            names.add(cls.__name__)
            pending.extend(cls.__subclasses__())
    return names


def worker_label_values() -> WorkerLabelValues:
    """``METRICS_WORKER_LABEL_VALUES``: the delivery failures' reasons, librdkafka's usual errors,
    and each task with the exceptions it is retried on (the intake's transient ones for the
    delivery, the replay task's ``autoretry_for``)."""
    from kafka_bridge.intake import TRANSIENT
    from kafka_bridge.queue import DELIVER_TASK, REPLAY_TASK
    from kafka_bridge.tasks import replay_dead_letters

    retried = {
        DELIVER_TASK: _class_names(TRANSIENT),
        REPLAY_TASK: _class_names(getattr(replay_dead_letters, "autoretry_for", ())),
    }
    return WorkerLabelValues(
        failure_reasons=FAILURE_REASONS,
        producer_errors=PRODUCER_ERRORS,
        task_retries=tuple((task, name) for task, names in retried.items() for name in sorted(names)),
    )
