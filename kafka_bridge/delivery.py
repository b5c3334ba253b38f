"""Delivering a queued batch: encode every event, produce them, return once Kafka acknowledged
all. Events that cannot be encoded become dead letters and the rest is still delivered.

Only what retrying can mend (Kafka, the external registry or the database not answering) fails
the batch. Any other failure stays with the events it concerns: a schema id whose target cannot
be built (kafka_bridge/targets.py) sends exactly its events to dead letters, an event that cannot
be encoded itself alone, whatever was raised; so no schema, however broken, and no fault of ours
in one type's path holds back the events of the others."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings

from eventcapture import metrics
from kafka_bridge.dead_letters import dead_letters_mark_delivered, dead_letters_record
from kafka_bridge.encoding import EncodingError
from kafka_bridge.producer import DeliveryFailed, OutgoingRecord, RecordsRefused, records_produce
from kafka_bridge.queue import QueuedEvent, RequestSpan, event_request_ids
from kafka_bridge.targets import TRANSIENT, encoding_target, unforeseen_failure_report


class RecordRefused(Exception):
    """A record Kafka cannot take for what it is: larger than the producer sends
    (``KAFKA_MESSAGE_MAX_BYTES``) or than the broker accepts. The API refuses such events; one
    can still come from a task queued before, or from a broker whose limit is lower."""


# librdkafka's framing of a record, beyond its key, value and headers, with room to spare.
_RECORD_OVERHEAD = 1024
# A record's key and headers are counted only when its value comes within this of the limit: an
# id, a type's name, a session's UUID. A record whose key or headers are larger still is refused
# by the producer itself, and kept as a dead letter all the same (``RecordsRefused``).
_KEY_AND_HEADERS_USUAL = 4096


def _record_bytes(record: OutgoingRecord) -> int:
    headers = sum(len(name) + len(value or b"") for name, value in record.headers)
    return len(record.value) + len(record.key.encode()) + headers + _RECORD_OVERHEAD


@dataclass(frozen=True)
class DeliveryReport:
    """What a delivered batch was, for the counts (kafka_bridge/numbers.py): the major id of each
    schema id whose revision is known, and the events Kafka acknowledged by major id."""

    majors: dict[int, int]
    delivered: Counter[int]


def batch_deliver(
    *, events: Sequence[QueuedEvent], retrying: bool = False, requests: Sequence[RequestSpan] = ()
) -> DeliveryReport:
    """Encode and produce every event of a batch, returning once Kafka acknowledged all; raises
    ``DeliveryFailed`` or one of ``targets.TRANSIENT`` (retry the batch). ``retrying``: an earlier
    attempt of this batch may have left dead letters that this one delivers. ``requests``: the
    requests the events came from, named by the dead letters' log lines."""
    records: list[OutgoingRecord] = []
    undeliverable: list[tuple[QueuedEvent, Exception]] = []
    undeliverable_at: list[int] = []
    type_counts: Counter[str] = Counter()
    majors: dict[int, int] = {}
    delivered: Counter[int] = Counter()
    # Each record's event (its position in the batch), type and major.
    produced: list[tuple[int, QueuedEvent, str, int]] = []
    limit = settings.KAFKA_MESSAGE_MAX_BYTES
    near_limit = limit - _RECORD_OVERHEAD - _KEY_AND_HEADERS_USUAL
    for index, event in enumerate(events):
        try:
            target = encoding_target(schema_id=event.schema_id)
        except TRANSIENT:
            raise
        except Exception as exc:
            # Permanent: retrying cannot help. Kept as a dead letter below, logged there.
            undeliverable.append((event, exc))
            undeliverable_at.append(index)
            continue
        majors[event.schema_id] = target.major_id
        try:
            value = target.encoder.encode(event.record)
            record = target.record(event_id=event.event_id, key=event.key, value=value)
        except Exception as exc:
            if not isinstance(exc, EncodingError):
                unforeseen_failure_report(schema_id=event.schema_id, error=exc, stage="encoding an event")
            undeliverable.append((event, exc))
            undeliverable_at.append(index)
            continue
        if len(value) > near_limit and (size := _record_bytes(record)) > limit:
            message = f"its record is {size - _RECORD_OVERHEAD:,} bytes, more than the producer sends ({limit:,})"
            undeliverable.append((event, RecordRefused(message)))
            undeliverable_at.append(index)
            continue
        records.append(record)
        produced.append((index, event, target.full_name, target.major_id))
        type_counts[target.full_name] += 1
        delivered[target.major_id] += 1
    if undeliverable:
        # Kept before any record of the batch is produced and acknowledged: a crash in between
        # re-delivers the task, which counts one more attempt; nothing is lost.
        known = dead_letters_record(failures=undeliverable, request_ids=event_request_ids(requests, undeliverable_at))
        # Accepted all the same, though their target could not be built.
        majors = {**known, **majors}
    try:
        records_produce(records, timeout=settings.KAFKA_DELIVERY_TIMEOUT)
    except RecordsRefused as exc:
        # Every other record is acknowledged; the refused ones would be refused again.
        refused = [produced[position] for position in sorted(exc.refused)]
        failures: list[tuple[QueuedEvent, Exception]] = []
        for (_index, event, full_name, major_id), position in zip(refused, sorted(exc.refused), strict=True):
            failures.append((event, RecordRefused(f"Kafka refused its record: {exc.refused[position]}")))
            type_counts[full_name] -= 1
            delivered[major_id] -= 1
        dead_letters_record(
            failures=failures, request_ids=event_request_ids(requests, [index for index, *_ in refused])
        )
        undeliverable += failures
    except DeliveryFailed as exc:
        metrics.events_failed(counts=type_counts, reason=exc.reason)
        raise
    metrics.batch_delivered(counts=+type_counts)
    if retrying:
        failed = {event.event_id for event, _ in undeliverable}
        dead_letters_mark_delivered(event_ids=[event.event_id for event in events if event.event_id not in failed])
    return DeliveryReport(majors=majors, delivered=+delivered)
