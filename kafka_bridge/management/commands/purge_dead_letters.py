from __future__ import annotations

import sys
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from kafka_bridge.dead_letters import dead_letters_purge


def _days(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or int(value) < 1:
        raise CommandError(f"--older-than {value!r} is not a positive number of days")
    return int(value)


class Command(BaseCommand):
    help = (
        "Delete dead letters last seen more than --older-than days ago (DEAD_LETTER_RETENTION_DAYS by default): "
        "replayed and delivered ones; pending ones too with --include-pending (their events are lost for good)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", default=None, metavar="DAYS", help="days since a dead letter was last seen")
        parser.add_argument(
            "--include-pending", action="store_true", help="also delete pending ones: their events are never delivered"
        )
        parser.add_argument("--dry-run", action="store_true", help="count what would be deleted; delete nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        days = settings.DEAD_LETTER_RETENTION_DAYS if options["older_than"] is None else _days(options["older_than"])
        # disable=None: a bar on a terminal, nothing in logs and pipes (see replay_dead_letters).
        with tqdm(total=0, unit="letter", disable=None, file=sys.stderr) as bar:

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            report = dead_letters_purge(
                older_than=timedelta(days=days),
                include_pending=options["include_pending"],
                dry_run=options["dry_run"],
                progress=progress,
            )
        which = "dead letters" if options["include_pending"] else "replayed or delivered dead letters"
        if report.dry_run:
            self.stdout.write(f"dry run: {report.selected} {which} last seen over {days} days ago would be deleted")
        else:
            self.stdout.write(f"deleted {report.deleted} {which} last seen over {days} days ago")
