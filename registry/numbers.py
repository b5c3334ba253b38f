"""The live numbers the admin shows beside types and majors: what they are, and where they come from.

The numbers are counted by the worker and kept by ``kafka_bridge`` (hourly rows and dead letters),
which imports the registry, never the other way round. So the registry names their source by a
dotted path in the ``REGISTRY_NUMBERS`` setting (as the project names the worker's readiness by
``WORKER_READINESS``), and only this module's types appear in the registry's code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, Protocol

from django.conf import settings
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class MajorNumbers:
    """One major's (or, summed, one type's) numbers. "Last hour" is the current UTC hour so far;
    "last 24 h" is it and the 23 hours before."""

    accepted_hour: int = 0
    accepted_day: int = 0
    delivered_hour: int = 0
    delivered_day: int = 0
    last_accepted_at: datetime | None = None
    pending_dead_letters: int = 0

    def __add__(self, other: MajorNumbers) -> MajorNumbers:
        last = [moment for moment in (self.last_accepted_at, other.last_accepted_at) if moment is not None]
        return MajorNumbers(
            accepted_hour=self.accepted_hour + other.accepted_hour,
            accepted_day=self.accepted_day + other.accepted_day,
            delivered_hour=self.delivered_hour + other.delivered_hour,
            delivered_day=self.delivered_day + other.delivered_day,
            last_accepted_at=max(last) if last else None,
            pending_dead_letters=self.pending_dead_letters + other.pending_dead_letters,
        )


NO_NUMBERS = MajorNumbers()


class NumbersSource(Protocol):
    def majors_numbers(self, *, majors: Sequence[Any], now: datetime) -> dict[int, MajorNumbers]:
        """The numbers of ``majors`` (``EventMajor``s) by major id, in a bounded number of queries
        whatever their count; majors with nothing counted may be missing."""
        ...

    def dead_letters_url(self, *, full_names: Sequence[str], user: Any) -> str | None:
        """Where ``user`` sees the pending dead letters of these majors, or None if they may not."""
        ...


@cache
def numbers_source() -> NumbersSource:
    source: NumbersSource = import_string(settings.REGISTRY_NUMBERS)
    return source
