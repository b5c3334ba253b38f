from __future__ import annotations

import json
import uuid
from dataclasses import asdict
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from kafka_bridge.consumer import TailError, TopicTail


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        # The only bytes in the catalogue are fixed(16) UUIDs: show them as UUIDs.
        return str(uuid.UUID(bytes=value)) if len(value) == 16 else value.hex()
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class Command(BaseCommand):
    help = "Print the records of a topic as JSON lines, decoded through the schema registry."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--topic", required=True)
        parser.add_argument("--from-beginning", action="store_true", help="start at the oldest record")
        parser.add_argument("--max", type=int, default=None, help="stop after this many records")
        parser.add_argument("--idle-timeout", type=float, default=None, help="stop after this many idle seconds")
        parser.add_argument("--registry-url", default=None, help="schema registry (default: this service's)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            with TopicTail(
                topic=options["topic"], from_beginning=options["from_beginning"], registry_url=options["registry_url"]
            ) as tail:
                for record in tail.records(max_records=options["max"], idle_timeout=options["idle_timeout"]):
                    self.stdout.write(json.dumps(asdict(record), default=_json_default))
        except TailError as exc:
            raise CommandError(str(exc)) from exc
        except KeyboardInterrupt:
            pass
