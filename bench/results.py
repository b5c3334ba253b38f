"""What one run of the bench measured (bench/run.py fills it in, bench/report.py writes it up)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from bench import affinity, load, processes

# The ways the bench places processes on cores (bench/run.py says what each is).
MODES = ("shared", "pinned")


@dataclass(frozen=True)
class Options:
    service_root: Path
    seconds: float  # each closed-loop run
    steady_seconds: float  # each open-loop run (the 50-event one runs longer to reach memory_events)
    memory_events: int
    produce_count: int
    output: Path | None
    smoke: bool
    modes: tuple[str, ...] = MODES
    plan: affinity.Plan | None = None  # the pinned mode's cores

    @property
    def drain_timeout(self) -> float:
        return 30 if self.smoke else 600


@dataclass
class ShapeResult:
    events: int
    # The ceiling app's runs just before and just after the accept run, as one.
    ceiling: load.ClosedLoop | None = None
    fill: load.ClosedLoop | None = None
    drain_events_per_s: float = 0.0
    drain_complete: bool = False
    accept: load.ClosedLoop | None = None
    delivered_during_accept: float = 0.0
    catch_up_s: float | None = None
    steady: load.OpenLoop | None = None
    steady_202_to_kafka_ms: list[float] = field(default_factory=list)
    steady_in_kafka_after_s: float | None = None


@dataclass
class Results:
    """One mode's run."""

    options: Options
    mode: str
    started: datetime
    machine: str
    shapes: dict[int, ShapeResult]
    produce_ceiling: float = 0.0
    memory_samples: list[tuple[float, processes.Memory]] = field(default_factory=list)
    memory_events: int = 0
    peak: processes.Memory | None = None
    commands: list[str] = field(default_factory=list)
    pinning: affinity.Pinning | None = None  # the pinned mode's checks
    web_concurrency: str = ""  # the pinned mode's gunicorn processes (WEB_CONCURRENCY), both webs

    @property
    def pinning_held(self) -> bool:
        """The run was what its mode says: always in the shared mode; in the pinned one, when
        every check found every process on its core."""
        if self.mode == "pinned":
            return self.pinning is not None and self.pinning.held
        return True
