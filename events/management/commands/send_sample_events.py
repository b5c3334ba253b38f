from __future__ import annotations

import sys
from typing import Any
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from events.samples import SampleMaker, SendFailed, samples_send
from registry.selectors import active_examples


def _positive(kind: type[int] | type[float]) -> Any:
    def parse(value: str) -> int | float:
        try:
            number = kind(value)
        except ValueError:
            raise CommandError(f"{value!r} is not a number") from None
        if number <= 0:
            raise CommandError(f"{value!r} is not positive")
        return number

    return parse


class Command(BaseCommand):
    help = (
        "Send realistic sample events of every active event type (or of --types) through the HTTP API, as a "
        "client does: each varied from its type's example. Stops after --count events or --duration seconds "
        "(default: 100 events)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="the service (default %(default)s)")
        parser.add_argument("--types", default="", help="comma-separated full names (default: every active type)")
        parser.add_argument("--rate", type=_positive(float), default=20.0, help="events a second (default 20)")
        parser.add_argument("--count", type=_positive(int), default=None, help="events to send")
        parser.add_argument("--duration", type=_positive(float), default=None, help="seconds to send for")
        parser.add_argument("--batch-size", type=_positive(int), default=10, help="events per request (default 10)")
        parser.add_argument("--seed", type=int, default=None, help="the same events on every run")

    def handle(self, *args: Any, **options: Any) -> None:
        url: str = options["url"]
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            raise CommandError(f"--url {url!r} is not an http(s) URL")
        examples = active_examples()
        wanted = {name.strip() for name in options["types"].split(",") if name.strip()}
        if wanted:
            unknown = wanted - {example.full_name for example in examples}
            if unknown:
                raise CommandError(f"not an active event type with an example: {', '.join(sorted(unknown))}")
            examples = [example for example in examples if example.full_name in wanted]
        if not examples:
            raise CommandError("no active event type has an example: load the catalogue (manage.py load_schemas)")
        count, duration = options["count"], options["duration"]
        if count is None and duration is None:
            count = 100
        # disable=None: a bar on a terminal, nothing in logs and pipes.
        with tqdm(total=count, unit="event", disable=None, file=sys.stderr) as bar:

            def progress(sent: int) -> None:
                bar.update(sent - bar.n)

            try:
                report = samples_send(
                    maker=SampleMaker(examples, seed=options["seed"]),
                    base_url=url,
                    batch_size=options["batch_size"],
                    rate=options["rate"],
                    count=count,
                    duration=duration,
                    progress=progress,
                )
            except SendFailed as exc:
                raise CommandError(str(exc)) from exc
        for full_name, sent in sorted(report.sent.items()):
            self.stdout.write(f"{sent:>6}  {full_name}")
        self.stdout.write(f"sent {report.events_sent} events to {url}")
        if report.refused:
            refused = ", ".join(f"{events} with {status}" for status, events in sorted(report.refused.items()))
            raise CommandError(f"refused: {refused}; the first: {report.first_refusal}")
