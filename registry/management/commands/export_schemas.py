from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from registry.services import catalogue_export


class Command(BaseCommand):
    help = "Write the registry's majors (latest revisions) back to a schemas/ folder."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--path", type=Path, default=Path(settings.BASE_DIR) / "schemas")

    def handle(self, *args: Any, **options: Any) -> None:
        folders = catalogue_export(root=options["path"])
        self.stdout.write(f"exported: {len(folders)} to {options['path']}")
