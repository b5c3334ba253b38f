"""Dead letters: accepted events the worker could not encode, and their replay.

Kept: failures retrying the same batch cannot fix. The schema revision cannot be loaded
(``UnknownSchema``), the record does not fit its revision's Avro schema (``EncodingError``), an
external schema registry refuses the schema (``RegistryRefused``: credentials, its compatibility
settings), the revision's schema cannot be prepared for encoding (``TargetFailed``, named by what
it came of), and anything else nobody foresaw: a fault of ours, kept with the events it concerns
rather than holding back their batch. Never kept: Kafka, the external registry or the database
not answering (``DeliveryFailed``, ``RegistryUnavailable``, the database's ``OperationalError``);
the task retries those until they are back.

A replay produces through the same producer as the worker, with the original key, ``event_id``
and ``event_type`` headers, and waits for Kafka's acknowledgement. What "once the cause is fixed"
means, since published revisions never change:

* A refusing registry or a revision that could not be loaded is fixed outside the record (the
  configuration, the registry data): the replay encodes with the original schema id, as the
  worker would have.
* A record that does not fit its revision never will; the fix is a later revision of the same
  major (say an enum that gains a symbol). When the original schema id still fails with
  ``EncodingError``, the replay tries the major's latest revision, and uses it only when that
  revision writes the record without changing it: every value comes back unchanged when the
  encoded record is read again, so no field is dropped or altered (a field the later revision
  added takes its default, as any consumer of that revision reads the old record). The schema id
  used is kept in ``replayed_schema_id``. Never another major: a breaking change is a new event
  type to consumers, and nothing moves an event to it behind their back.

No payloads in logs (they may be personal data): event ids, types and the kind of failure only;
the reason, which may quote a value, is kept in the database for the admin (with the credentials
of any URL in it replaced by ``***``). Dead letters hold personal data (addresses, user agents,
user ids): ``dead_letters_purge`` deletes the settled ones (and, when asked, pending ones) last
seen longer ago than the retention.
"""

from __future__ import annotations

import io
import logging
import math
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import fastavro
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from eventcapture import metrics
from eventcapture.exceptions import clipped
from kafka_bridge.encoding import EncodingError
from kafka_bridge.models import DeadLetter
from kafka_bridge.numbers import Tally, event_counts_record
from kafka_bridge.producer import DeliveryFailed, OutgoingRecord, RecordsRefused, records_produce
from kafka_bridge.queue import QueuedEvent
from kafka_bridge.registry_client import RegistryUnavailable, credentials_redacted
from kafka_bridge.targets import (
    TRANSIENT,
    EncodingTarget,
    TargetFailed,
    encoding_target,
    target_failures_forget,
    unforeseen_failure_report,
)
from registry.models import SchemaRevision
from registry.selectors import schema_revision_get, subject_revision_get

logger = logging.getLogger(__name__)

# Dead letters produced together, then marked together once Kafka acknowledged them all.
REPLAY_CHUNK = 100

Progress = Callable[[int, int], None]


# Characters of a reason kept: an exception's message may be of any length.
REASON_CHARS = 2000


def _kind(error: Exception) -> str:
    """The kind of failure: the exception's name, or for a target that failed to build, the name
    of what it failed with."""
    return error.kind if isinstance(error, TargetFailed) else type(error).__name__


def _reason(error: Exception) -> str:
    # Redacted before clipped: a cut must never leave part of a password behind.
    return clipped(credentials_redacted(f"{_kind(error)}: {error}"), REASON_CHARS)


# --- Keeping them ----------------------------------------------------------------------------------


def dead_letters_record(
    *, failures: Sequence[tuple[QueuedEvent, Exception]], request_ids: Sequence[str | None] = ()
) -> dict[int, int]:
    """Keep each ``(queued event, error)`` as a dead letter: a new row, or, for an event id
    already kept (its batch retried or re-delivered), one more attempt with the latest reason.
    ``request_ids``: of each failure's event, when known, named by its log line. Returns the
    major id of each of their schema ids whose revision is known (their events were accepted)."""
    now = timezone.now()
    majors = _majors({event.schema_id for event, _ in failures})
    event_types = {schema_id: full_name for schema_id, (full_name, _) in majors.items()}
    with transaction.atomic():
        for event, error in failures:
            _upsert(
                event_id=event.event_id,
                event_type=event_types.get(event.schema_id, ""),
                schema_id=event.schema_id,
                key=event.key or "",
                record=event.record,
                reason=_reason(error),
                now=now,
            )
    for index, (event, error) in enumerate(failures):
        metrics.events_dead_lettered(event_type=event_types.get(event.schema_id))
        request_id = request_ids[index] if index < len(request_ids) else None
        logger.error(
            "event %s (%s, schema id %d) kept as a dead letter: %s",
            event.event_id,
            event_types.get(event.schema_id) or "unknown type",
            event.schema_id,
            _kind(error),
            # Its own request, not every request of its group; none when its task named none.
            extra={"request_id": request_id} if request_id else {"request_ids": ()},
        )
    return {schema_id: major_id for schema_id, (_, major_id) in majors.items()}


def _majors(schema_ids: set[int]) -> dict[int, tuple[str, int]]:
    """The full name and id of the major of each schema id whose revision is known."""
    majors = {}
    for schema_id in schema_ids:
        revision = schema_revision_get(schema_id=schema_id)
        if revision is not None:
            majors[schema_id] = (revision.major.full_name, revision.major_id)
    return majors


def _upsert(
    *, event_id: str, event_type: str, schema_id: int, key: str, record: Any, reason: str, now: datetime
) -> None:
    def again() -> int:
        # The status is left alone: a letter already replayed is in Kafka, and must not be replayed twice.
        return DeadLetter.objects.filter(event_id=event_id).update(
            reason=reason, attempts=F("attempts") + 1, last_seen=now
        )

    if again():
        return
    try:
        with transaction.atomic():
            DeadLetter.objects.create(
                event_id=event_id,
                event_type=event_type,
                schema_id=schema_id,
                key=key,
                record=record,
                reason=reason,
                first_seen=now,
                last_seen=now,
            )
    except IntegrityError:
        # Another worker, holding a re-delivered copy of the same batch, created it meanwhile.
        again()


def dead_letters_mark_delivered(*, event_ids: Sequence[str]) -> int:
    """Pending dead letters of events a retry of their batch has now delivered: no replay needed."""
    return DeadLetter.objects.filter(event_id__in=event_ids, status=DeadLetter.Status.PENDING).update(
        status=DeadLetter.Status.DELIVERED, replayed_at=timezone.now()
    )


# --- Selecting them --------------------------------------------------------------------------------


def dead_letter_list(
    *, event_type: str | None = None, since: datetime | None = None, ids: Sequence[str] | None = None
) -> QuerySet[DeadLetter]:
    """Dead letters of ``event_type`` (a full name), last seen at or after ``since``, among
    ``ids`` (event ids): each filter only when given."""
    letters = DeadLetter.objects.all()
    if event_type is not None:
        letters = letters.filter(event_type=event_type)
    if since is not None:
        letters = letters.filter(last_seen__gte=since)
    if ids is not None:
        letters = letters.filter(event_id__in=list(ids))
    return letters


# --- Replaying them --------------------------------------------------------------------------------


@dataclass
class ReplayReport:
    selected: int = 0
    """Pending dead letters the replay set out to deliver."""
    replayed: int = 0
    """Produced and acknowledged by Kafka; now marked replayed."""
    still_failing: int = 0
    """Tried and failed again: still pending, with the new reason and one more attempt."""
    skipped: int = 0
    """Asked for by id but not pending (already delivered, or unknown), or taken by another replay."""
    later_revision: int = 0
    """Of the replayed, how many were encoded with a later revision of their major."""
    dry_run: bool = False


class ReplayInterrupted(Exception):
    """Kafka or the external registry stopped answering: the rest was left pending, unchanged."""

    # The message alone rebuilds it (Celery's retries pickle the exception).
    def __init__(self, message: str, report: ReplayReport | None = None) -> None:
        super().__init__(message)
        self.report = report or ReplayReport()


class _StillUndeliverable(Exception):
    pass


@dataclass(frozen=True)
class _Encoded:
    letter: DeadLetter
    record: OutgoingRecord
    schema_id: int


def dead_letters_replay(
    *,
    event_type: str | None = None,
    since: datetime | None = None,
    ids: Sequence[str] | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ReplayReport:
    """Produce every pending dead letter the filters select, oldest first; ``progress(done,
    total)`` after each chunk. A dry run only counts them: it neither encodes (which would register
    schemas in an external registry) nor changes anything. Raises ``ReplayInterrupted`` when Kafka
    or the external registry stops answering."""
    letters = dead_letter_list(event_type=event_type, since=since, ids=ids)
    pending = list(
        letters.filter(status=DeadLetter.Status.PENDING).order_by("first_seen", "pk").values_list("pk", flat=True)
    )
    report = ReplayReport(selected=len(pending), dry_run=dry_run)
    if ids is not None:
        report.skipped = len(set(ids)) - len(pending)
    if dry_run or not pending:
        return report
    # What failed to build before in this process is tried again: a replay comes once it is fixed.
    target_failures_forget()
    done = 0
    for chunk in _chunks(pending, REPLAY_CHUNK):
        _replay_chunk(chunk, report)
        done += len(chunk)
        if progress is not None:
            progress(done, len(pending))
    logger.info(
        "dead letters replayed: %d replayed (%d with a later revision), %d still failing, %d skipped",
        report.replayed,
        report.later_revision,
        report.still_failing,
        report.skipped,
    )
    return report


# Dead letters deleted per statement.
PURGE_CHUNK = 1000


@dataclass(frozen=True)
class PurgeReport:
    selected: int
    deleted: int
    dry_run: bool


def dead_letters_purge(
    *, older_than: timedelta, include_pending: bool = False, dry_run: bool = False, progress: Progress | None = None
) -> PurgeReport:
    """Delete dead letters last seen more than ``older_than`` ago: replayed and delivered ones,
    and pending ones too with ``include_pending`` (their events are then lost for good)."""
    letters = DeadLetter.objects.filter(last_seen__lt=timezone.now() - older_than)
    if not include_pending:
        letters = letters.exclude(status=DeadLetter.Status.PENDING)
    pks = list(letters.order_by("pk").values_list("pk", flat=True))
    if dry_run:
        return PurgeReport(selected=len(pks), deleted=0, dry_run=True)
    deleted = 0
    for chunk in _chunks(pks, PURGE_CHUNK):
        deleted += DeadLetter.objects.filter(pk__in=chunk).delete()[0]
        if progress is not None:
            progress(deleted, len(pks))
    logger.info("purged %d dead letters last seen more than %s ago", deleted, older_than)
    return PurgeReport(selected=len(pks), deleted=deleted, dry_run=False)


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _replay_chunk(pks: list[int], report: ReplayReport) -> None:
    letters = list(DeadLetter.objects.filter(pk__in=pks, status=DeadLetter.Status.PENDING).order_by("first_seen", "pk"))
    report.skipped += len(pks) - len(letters)
    encoded: list[_Encoded] = []
    try:
        for letter in letters:
            try:
                encoded.append(_encode(letter))
            except _StillUndeliverable as exc:
                _failed_again(letter, reason=str(exc))
                report.still_failing += 1
        try:
            records_produce([item.record for item in encoded], timeout=settings.KAFKA_DELIVERY_TIMEOUT)
        except RecordsRefused as exc:
            # The others are acknowledged; these stay pending, with Kafka's reason.
            for position in sorted(exc.refused, reverse=True):
                item = encoded.pop(position)
                _failed_again(item.letter, reason=f"RecordRefused: Kafka refused its record: {exc.refused[position]}")
                report.still_failing += 1
    except (DeliveryFailed, RegistryUnavailable) as exc:
        # Not the letters' fault: they stay as they are, for the next replay.
        raise ReplayInterrupted(f"replay interrupted after {report.replayed} replayed: {_reason(exc)}", report) from exc
    now = timezone.now()
    tally = Tally()
    for item in encoded:
        # Compare-and-set: a replay running at the same time may have marked it first.
        marked = DeadLetter.objects.filter(pk=item.letter.pk, status=DeadLetter.Status.PENDING).update(
            status=DeadLetter.Status.REPLAYED, replayed_at=now, replayed_schema_id=item.schema_id
        )
        if marked:
            # Delivered now (its acceptance was counted when its batch was delivered).
            tally.delivered(major_id=encoding_target(schema_id=item.schema_id).major_id, at=now, count=1)
        logger.info("dead letter %s replayed with schema id %d", item.letter.event_id, item.schema_id)
    event_counts_record(tally=tally)
    report.replayed += len(encoded)
    report.later_revision += sum(1 for item in encoded if item.schema_id != item.letter.schema_id)


def _failed_again(letter: DeadLetter, *, reason: str) -> None:
    DeadLetter.objects.filter(pk=letter.pk, status=DeadLetter.Status.PENDING).update(
        reason=reason, attempts=F("attempts") + 1, last_seen=timezone.now()
    )
    logger.warning("dead letter %s (%s) still cannot be delivered", letter.event_id, letter.event_type or "unknown")


def _outgoing(letter: DeadLetter, target: EncodingTarget, value: bytes) -> OutgoingRecord:
    # The record delivery would have sent, with the original event id.
    return target.record(event_id=str(letter.event_id), key=letter.key, value=value)


def _encode(letter: DeadLetter) -> _Encoded:
    """The letter's Kafka record, with its own revision or else a later one of its major that
    takes it unchanged; ``_StillUndeliverable`` with the reason otherwise (whatever failed, but
    what retrying mends: that interrupts the replay)."""
    try:
        return _encoded(letter)
    except (_StillUndeliverable, *TRANSIENT):
        raise
    except Exception as exc:
        unforeseen_failure_report(schema_id=letter.schema_id, error=exc, stage="replaying a dead letter")
        raise _StillUndeliverable(_reason(exc)) from exc


def _encoded(letter: DeadLetter) -> _Encoded:
    try:
        target = encoding_target(schema_id=letter.schema_id)
    except TRANSIENT:
        raise
    except Exception as exc:
        raise _StillUndeliverable(_reason(exc)) from exc
    try:
        return _Encoded(letter, _outgoing(letter, target, target.encoder.encode(letter.record)), letter.schema_id)
    except EncodingError as exc:
        original = exc
    # The record does not fit its revision, which never changes: a later revision may take it.
    revision = schema_revision_get(schema_id=letter.schema_id)
    latest = subject_revision_get(subject=target.full_name, version=None)
    if revision is None or latest is None or latest.revision <= revision.revision:
        raise _StillUndeliverable(f"{_reason(original)} (no later revision of {target.full_name} to try)")
    prefix = f"{_reason(original)}; the latest revision r{latest.revision} (schema id {latest.pk})"
    try:
        later = encoding_target(schema_id=latest.pk)
        value = later.encoder.encode(letter.record)
    except TRANSIENT:
        raise
    except Exception as exc:
        raise _StillUndeliverable(f"{prefix} does not take it either: {_reason(exc)}") from exc
    change = _change(letter.record, latest, value)
    if change is not None:
        raise _StillUndeliverable(f"{prefix} would change it: {change}")
    return _Encoded(letter, _outgoing(letter, later, value), latest.pk)


# --- Is a record written unchanged? ----------------------------------------------------------------


def _without_logical_types(schema: Any) -> Any:
    # Read back as written (timestamps as numbers, not datetimes), to compare with the queued record.
    if isinstance(schema, dict):
        return {key: _without_logical_types(value) for key, value in schema.items() if key != "logicalType"}
    if isinstance(schema, list):
        return [_without_logical_types(item) for item in schema]
    return schema


def _change(record: Any, revision: SchemaRevision, value: bytes) -> str | None:
    """Where ``value`` (``record`` encoded with ``revision``, Confluent framing) lost or altered
    something of ``record``, or None when every value of it reads back unchanged."""
    parsed = fastavro.parse_schema(_without_logical_types(revision.avro_schema_dict))
    decoded = fastavro.schemaless_reader(io.BytesIO(value[5:]), parsed, None)
    return _difference(record, decoded, path="")


def _difference(original: Any, decoded: Any, *, path: str) -> str | None:
    where = path or "the record"
    if isinstance(original, dict):
        if not isinstance(decoded, dict):
            return f"{where} is no longer an object"
        for name, item in original.items():
            if name not in decoded:
                # A null that is not written loses nothing.
                if item is None:
                    continue
                return f"{path + '.' if path else ''}{name} would be dropped"
            difference = _difference(item, decoded[name], path=f"{path + '.' if path else ''}{name}")
            if difference is not None:
                return difference
        return None
    if isinstance(original, list):
        if not isinstance(decoded, list) or len(decoded) != len(original):
            return f"{where} would change length"
        for index, (item, read) in enumerate(zip(original, decoded, strict=True)):
            difference = _difference(item, read, path=f"{path}[{index}]")
            if difference is not None:
                return difference
        return None
    if isinstance(original, str) and isinstance(decoded, bytes):
        # UUIDs travel as text and are written as fixed(16).
        try:
            same = uuid.UUID(original).bytes == decoded
        except ValueError:
            same = original.encode() == decoded
        return None if same else f"{where} would change"
    if isinstance(original, float) and isinstance(decoded, float):
        # An Avro float holds 32 bits: the precision the original revision had too.
        return None if math.isclose(original, decoded, rel_tol=1e-6) else f"{where} would change"
    if isinstance(original, bool) != isinstance(decoded, bool) or original != decoded:
        return f"{where} would change"
    return None
