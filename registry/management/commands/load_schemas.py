from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from registry.services import CatalogueError, catalogue_load


class Command(BaseCommand):
    help = "Load the event catalogue (schemas/ folder) into the registry. Safe to run again."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--path", type=Path, default=Path(settings.BASE_DIR) / "schemas")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = catalogue_load(
                root=options["path"],
                progress=lambda entries: tqdm(entries, desc="schemas", unit="schema", disable=None),
            )
        except CatalogueError as exc:
            raise CommandError(str(exc)) from exc
        for label in ("created", "revised", "unchanged"):
            names = getattr(report, label)
            self.stdout.write(
                f"{label}: {len(names)}" + (f" ({', '.join(names)})" if names and label != "unchanged" else "")
            )
