from __future__ import annotations

import sys
from datetime import datetime, time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from tqdm import tqdm

from kafka_bridge.dead_letters import ReplayInterrupted, ReplayReport, dead_letter_list, dead_letters_replay
from kafka_bridge.models import DeadLetter


def _since(value: str) -> datetime:
    """An ISO date (midnight, in TIME_ZONE) or date-time (without an offset: in TIME_ZONE)."""
    try:
        moment = parse_datetime(value)
        if moment is None:
            day = parse_date(value)
            if day is None:
                raise ValueError(value)
            moment = datetime.combine(day, time.min)
    except ValueError as exc:
        raise CommandError(f"--since {value!r} is not an ISO 8601 date or date-time") from exc
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


class Command(BaseCommand):
    help = (
        "Produce pending dead letters to Kafka with their original event ids, once what stopped them is fixed. "
        "Exits non-zero when any still fails."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--type", dest="event_type", default=None, help="only this event type (full name)")
        parser.add_argument("--since", default=None, help="only those last seen at or after this ISO date or time")
        parser.add_argument("--dry-run", action="store_true", help="list what would be replayed; change nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        event_type, since = options["event_type"], None if options["since"] is None else _since(options["since"])
        if options["dry_run"]:
            self._list(event_type=event_type, since=since)
        # disable=None: a bar on a terminal, nothing in logs and pipes. Straight to stderr: the
        # command's wrapper would end each of tqdm's carriage-return updates with a newline.
        with tqdm(total=0, unit="letter", disable=None, file=sys.stderr) as bar:

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            try:
                report = dead_letters_replay(
                    event_type=event_type, since=since, dry_run=options["dry_run"], progress=progress
                )
            except ReplayInterrupted as exc:
                self._counts(exc.report)
                raise CommandError(f"{exc}; run it again when it is back") from exc
        self._counts(report)
        if report.still_failing:
            raise CommandError(f"{report.still_failing} dead letters still fail: see their reasons in the admin")

    def _list(self, *, event_type: str | None, since: datetime | None) -> None:
        pending = dead_letter_list(event_type=event_type, since=since).filter(status=DeadLetter.Status.PENDING)
        for letter in pending.order_by("first_seen", "pk"):
            self.stdout.write(
                f"{letter.event_id} {letter.event_type or f'schema-id-{letter.schema_id}'} "
                f"attempts={letter.attempts} last_seen={letter.last_seen.isoformat()}"
            )

    def _counts(self, report: ReplayReport) -> None:
        if report.dry_run:
            self.stdout.write(f"dry run: {report.selected} dead letters would be replayed; nothing was changed")
            return
        self.stdout.write(
            f"replayed: {report.replayed} ({report.later_revision} with a later revision), "
            f"still failing: {report.still_failing}, skipped: {report.skipped}"
        )
