from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from kafka_bridge.topics import TopicsError, topics_ensure


class Command(BaseCommand):
    help = "Create the Kafka topics of every active event major that do not exist yet."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--partitions", type=int, default=settings.KAFKA_TOPIC_PARTITIONS)
        parser.add_argument("--replication", type=int, default=settings.KAFKA_TOPIC_REPLICATION)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = topics_ensure(partitions=options["partitions"], replication=options["replication"])
        except TopicsError as exc:
            raise CommandError(str(exc)) from exc
        for warning in report.warnings:
            self.stderr.write(self.style.WARNING(f"warning: {warning}"))
        self.stdout.write(f"created: {len(report.created)} {' '.join(report.created)}".rstrip())
        self.stdout.write(f"already there: {len(report.existing)}")
