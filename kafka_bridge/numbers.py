"""The admin's live numbers: events accepted and delivered per major and hour, counted by the worker.

Lifecycle: the worker tallies a delivered group in memory (``group_tally``) and, once the group's
tasks are acknowledged, adds the tally to the process's pending counts (``event_counts_count``),
which are written at most once every ``EVENT_COUNTS_FLUSH_SECONDS`` (and when the worker stops), in
one statement (``event_counts_record``): one upsert row per (major, hour), counts added atomically
in the database (``INSERT ... ON CONFLICT DO UPDATE SET n = n + excluded.n``, which SQLite and
PostgreSQL both understand, so workers writing the same row at once never lose each other's
counts). Never a write per event, nor one per group: under a load of single-event requests the
intake delivers a few hundred small groups a second, and with a write each a worker drained them
at 0.37 of the produce ceiling instead of 0.50 (docs/throughput.md).

Counting is a side line: a write that fails or waits too long (``EVENT_COUNTS_WRITE_TIMEOUT``) is
logged and dropped, and delivery goes on. The admin reads the rows through ``NUMBERS`` (named by
the ``REGISTRY_NUMBERS`` setting, so the registry never imports this app).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import Count, Max, Q, Sum
from django.urls import reverse

from kafka_bridge.models import DeadLetter, EventCount
from kafka_bridge.queue import QueuedEvent
from registry.numbers import MajorNumbers

logger = logging.getLogger(__name__)


def hour_of(moment: datetime) -> datetime:
    """The UTC hour ``moment`` falls in, truncated: the key of its hourly row."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass
class HourCount:
    accepted: int = 0
    delivered: int = 0
    last_accepted_at: datetime | None = None


class Tally:
    """The counts of one group, by (major id, hour), gathered in memory before the one write."""

    def __init__(self) -> None:
        self.rows: dict[tuple[int, datetime], HourCount] = {}

    def _row(self, major_id: int, moment: datetime) -> HourCount:
        return self.rows.setdefault((major_id, hour_of(moment)), HourCount())

    def accepted(self, *, major_id: int, queued_at: datetime, count: int = 1) -> None:
        row = self._row(major_id, queued_at)
        row.accepted += count
        if row.last_accepted_at is None or queued_at > row.last_accepted_at:
            row.last_accepted_at = queued_at

    def delivered(self, *, major_id: int, at: datetime, count: int) -> None:
        self._row(major_id, at).delivered += count

    def add(self, other: Tally) -> None:
        """Add another tally's counts to this one's."""
        for (major_id, hour), theirs in other.rows.items():
            mine = self.rows.setdefault((major_id, hour), HourCount())
            mine.accepted += theirs.accepted
            mine.delivered += theirs.delivered
            if theirs.last_accepted_at is not None and (
                mine.last_accepted_at is None or theirs.last_accepted_at > mine.last_accepted_at
            ):
                mine.last_accepted_at = theirs.last_accepted_at


def group_tally(
    *,
    tasks: Iterable[tuple[float | None, Sequence[QueuedEvent]]],
    majors: dict[int, int],
    delivered: dict[int, int],
    delivered_at: datetime,
) -> Tally:
    """The tally of a delivered group: ``tasks`` as (queued_at, events); ``majors`` the major id of
    each schema id the delivery resolved; ``delivered`` the events Kafka acknowledged, by major id.

    Accepted: every event taken whose revision is known, in the hour the web queued it (its task's
    ``queued_at``; a task without one, from an old web, in the hour of delivery). Delivered: in the
    hour Kafka acknowledged it. Events whose revision is unknown belong to no major: not counted."""
    tally = Tally()
    for queued_at, events in tasks:
        accepted_at = delivered_at if queued_at is None else datetime.fromtimestamp(queued_at, tz=UTC)
        per_major: dict[int, int] = {}
        for event in events:
            major_id = majors.get(event.schema_id)
            if major_id is not None:
                per_major[major_id] = per_major.get(major_id, 0) + 1
        for major_id, count in per_major.items():
            tally.accepted(major_id=major_id, queued_at=accepted_at, count=count)
    for major_id, count in delivered.items():
        if count:
            tally.delivered(major_id=major_id, at=delivered_at, count=count)
    return tally


def event_counts_add(*, tally: Tally) -> None:
    """Add a tally to the hourly rows in one statement (raises what the database raises)."""
    if not tally.rows:
        return
    quote = connection.ops.quote_name
    table = quote(EventCount._meta.db_table)
    columns = ("major_id", "hour", "accepted", "delivered", "last_accepted_at")
    params: list[Any] = []
    for (major_id, hour), row in tally.rows.items():
        params += [
            major_id,
            connection.ops.adapt_datetimefield_value(hour),
            row.accepted,
            row.delivered,
            connection.ops.adapt_datetimefield_value(row.last_accepted_at),
        ]
    values = ", ".join(["(%s, %s, %s, %s, %s)"] * len(tally.rows))
    accepted, delivered, last = quote("accepted"), quote("delivered"), quote("last_accepted_at")
    # Keys are unique within the statement (the tally is keyed by them), as PostgreSQL requires.
    # Only quoted names and placeholders are formatted in; every value is a parameter.
    sql = (
        f"INSERT INTO {table} ({', '.join(quote(column) for column in columns)}) VALUES {values} "  # noqa: S608
        f"ON CONFLICT ({quote('major_id')}, {quote('hour')}) DO UPDATE SET "
        f"{accepted} = {table}.{accepted} + excluded.{accepted}, "
        f"{delivered} = {table}.{delivered} + excluded.{delivered}, "
        f"{last} = CASE WHEN {table}.{last} IS NULL OR excluded.{last} > {table}.{last} "
        f"THEN excluded.{last} ELSE {table}.{last} END"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Bounded: a locked row or a slow server must not hold the worker. (SQLite's wait for a
            # lock is bounded by the connection's own timeout, DATABASE_CONNECT_TIMEOUT.)
            milliseconds = int(settings.EVENT_COUNTS_WRITE_TIMEOUT * 1000)
            cursor.execute(f"SET LOCAL statement_timeout = {milliseconds}")
            cursor.execute(f"SET LOCAL lock_timeout = {milliseconds}")
        cursor.execute(sql, params)


def event_counts_record(*, tally: Tally) -> bool:
    """``event_counts_add``, never raising: a count that cannot be written is logged and dropped
    (delivery must go on). True when written."""
    try:
        event_counts_add(tally=tally)
    except Exception as exc:
        lost = sum(row.accepted for row in tally.rows.values()), sum(row.delivered for row in tally.rows.values())
        logger.warning(
            "could not write the event counts (%d accepted, %d delivered are not counted): %s: %s",
            *lost,
            type(exc).__name__,
            str(exc).splitlines()[0] if str(exc) else "",
        )
        return False
    return True


class PendingCounts:
    """The counts of the groups a worker process delivered and has not written yet. The first
    group after a write starts a timer; when it fires (``EVENT_COUNTS_FLUSH_SECONDS`` later) every
    group counted meanwhile is written in one statement, from the timer's own thread, which then
    closes its database connection. 0 seconds: each group is written at once, by its caller."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tally = Tally()
        self._timer: threading.Timer | None = None

    def count(self, tally: Tally) -> None:
        interval = settings.EVENT_COUNTS_FLUSH_SECONDS
        if interval <= 0:
            event_counts_record(tally=tally)
            return
        with self._lock:
            self._tally.add(tally)
            if self._timer is None:
                self._timer = threading.Timer(interval, self._flush_from_timer)
                self._timer.daemon = True
                self._timer.name = "event-counts"
                self._timer.start()

    def flush(self) -> bool:
        """Write what is pending now (a worker stopping); True when there was nothing to write or
        it was written."""
        with self._lock:
            tally, self._tally = self._tally, Tally()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        return event_counts_record(tally=tally)

    def _flush_from_timer(self) -> None:
        try:
            self.flush()
        finally:
            close_old_connections()
            connection.close()


_pending = PendingCounts()


def event_counts_count(*, tally: Tally) -> None:
    """Count a delivered group: written with the others of the next ``EVENT_COUNTS_FLUSH_SECONDS``."""
    _pending.count(tally)


def event_counts_flush() -> bool:
    """Write the counts still pending in this process (when the worker stops)."""
    return _pending.flush()


def event_counts_purge(*, before: datetime) -> int:
    """Delete the rows of the hours that were over by ``before``; how many were deleted."""
    deleted, _ = EventCount.objects.filter(hour__lt=hour_of(before)).delete()
    return deleted


# --- What the admin reads ------------------------------------------------------------------------


def majors_numbers(*, majors: Sequence[Any], now: datetime) -> dict[int, MajorNumbers]:
    """The live numbers of ``majors`` by major id, in two queries whatever their count: one
    aggregate over their hourly rows, one count of their pending dead letters."""
    if not majors:
        return {}
    this_hour = hour_of(now)
    day_start = this_hour - timedelta(hours=23)
    in_hour, in_day = Q(hour__gte=this_hour), Q(hour__gte=day_start)
    counted = {
        row["major_id"]: row
        for row in EventCount.objects.filter(major_id__in=[major.pk for major in majors])
        .values("major_id")
        .annotate(
            accepted_hour=Sum("accepted", filter=in_hour, default=0),
            accepted_day=Sum("accepted", filter=in_day, default=0),
            delivered_hour=Sum("delivered", filter=in_hour, default=0),
            delivered_day=Sum("delivered", filter=in_day, default=0),
            last_accepted_at=Max("last_accepted_at"),
        )
        .order_by()
    }
    pending = dict(
        DeadLetter.objects.filter(
            status=DeadLetter.Status.PENDING, event_type__in=[major.full_name for major in majors]
        )
        .values("event_type")
        .annotate(count=Count("pk"))
        .values_list("event_type", "count")
        .order_by()
    )
    numbers: dict[int, MajorNumbers] = {}
    for major in majors:
        row: Mapping[str, Any] = counted.get(major.pk, {})
        numbers[major.pk] = MajorNumbers(
            accepted_hour=row.get("accepted_hour", 0),
            accepted_day=row.get("accepted_day", 0),
            delivered_hour=row.get("delivered_hour", 0),
            delivered_day=row.get("delivered_day", 0),
            last_accepted_at=row.get("last_accepted_at"),
            pending_dead_letters=pending.get(major.full_name, 0),
        )
    return numbers


def dead_letters_url(*, full_names: Sequence[str], user: Any) -> str | None:
    """The dead-letter admin's list of the pending dead letters of these majors, if ``user`` may
    see it."""
    if not full_names or not user.has_perm(f"{DeadLetter._meta.app_label}.view_deadletter"):
        return None
    query: dict[str, str] = {"status": DeadLetter.Status.PENDING}
    if len(full_names) == 1:
        query["event_type"] = full_names[0]
    else:
        query["event_type__in"] = ",".join(full_names)
    return f"{reverse('admin:kafka_bridge_deadletter_changelist')}?{urlencode(query)}"


class _Numbers:
    """The registry's ``NumbersSource`` (``REGISTRY_NUMBERS``)."""

    def majors_numbers(self, *, majors: Sequence[Any], now: datetime) -> dict[int, MajorNumbers]:
        return majors_numbers(majors=majors, now=now)

    def dead_letters_url(self, *, full_names: Sequence[str], user: Any) -> str | None:
        return dead_letters_url(full_names=full_names, user=user)


NUMBERS = _Numbers()
