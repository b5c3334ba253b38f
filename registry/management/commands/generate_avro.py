from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from registry.catalogue_files import CatalogueFilesError, avro_files_generate
from registry.generator import GeneratorError


class Command(BaseCommand):
    help = (
        "Write avro.avsc next to each schema.json of the catalogue, generated from schema.json and "
        "event.json. With --check, write nothing and fail when a file is out of date."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--path", type=Path, default=Path(settings.BASE_DIR) / "schemas")
        parser.add_argument("--check", action="store_true", help="write nothing; fail listing out-of-date files")

    def handle(self, *args: Any, **options: Any) -> None:
        root: Path = options["path"]
        try:
            report = avro_files_generate(
                root=root,
                write=not options["check"],
                progress=lambda folders: tqdm(folders, desc="avro", unit="schema", disable=None),
            )
        except (CatalogueFilesError, GeneratorError) as exc:
            raise CommandError(str(exc)) from exc
        if report.stale:
            raise CommandError(
                f"out of date under {root} (run `manage.py generate_avro`): "
                + ", ".join(str(path) for path in report.stale)
            )
        for label in ("written", "up_to_date", "handwritten"):
            paths = getattr(report, label)
            listed = f" ({', '.join(str(path) for path in paths)})" if paths and label == "written" else ""
            self.stdout.write(f"{label.replace('_', ' ')}: {len(paths)}{listed}")
