"""The bench's table and docs/benchmarks.md."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bench.affinity import Pinning, Seen, cpu_list
from bench.load import WRK_NICE_PINNED, percentile
from bench.results import Results, ShapeResult

# The acceptance: ratios to the ceilings, measured side by side in one run.
ACCEPT_TARGET = 0.4
DRAIN_TARGETS = {50: 0.5, 1: 0.1}
STEADY_202_P99_MS = 50.0
STEADY_KAFKA_P99_MS = 250.0
STEADY_IN_KAFKA_S = 5.0
MEMORY_GROWTH = 0.10


def _name(size: int) -> str:
    return "single-event" if size == 1 else f"{size}-event"


def _mark(good: bool) -> str:
    return "yes" if good else "**no**"


def _ratio(value: float, ceiling: float) -> float:
    return value / ceiling if ceiling else 0.0


@dataclass(frozen=True)
class _Judging:
    """How a table judges its targets: the accept ratio only in the pinned mode, and nothing in a
    pinned run whose pinning did not hold (its ratios are not what they claim)."""

    accept: bool
    valid: bool

    def ratio(self, text: str) -> str:
        return text if self.valid else "— (pinning did not hold)"

    def target(self, target: str, good: bool) -> str:
        return f"{target}: {_mark(good)}" if self.valid else f"{target}: not judged, the pinning did not hold"


def _judging(results: Results) -> _Judging:
    return _Judging(accept=results.mode == "pinned", valid=results.pinning_held)


def _accept_row(shape: ShapeResult, judging: _Judging) -> str:
    accept, ceiling = shape.accept, shape.ceiling
    if accept is None or ceiling is None:
        return f"| {_name(shape.events)} requests, accepted | — | — | | |"
    ratio = _ratio(accept.per_second, ceiling.per_second)
    errors = f"; {accept.non_2xx} not 2xx" if accept.non_2xx else ""
    if judging.accept:
        target = judging.target(f"≥ {ACCEPT_TARGET}x", ratio >= ACCEPT_TARGET)
    else:
        target = f"≥ {ACCEPT_TARGET}x: judged in the pinned table"
    return (
        f"| {_name(shape.events)} requests, accepted, worker running | {ceiling.per_second:,.0f} req/s "
        f"(p99 {ceiling.p99_ms:.0f} ms) | {accept.per_second:,.0f} req/s = "
        f"{accept.per_second * shape.events:,.0f} events/s, p50 {accept.p50_ms:.0f} ms, p99 {accept.p99_ms:.0f} ms"
        f"{errors} | {judging.ratio(f'{ratio:.2f}x')} | {target} |"
    )


def _drain_row(shape: ShapeResult, produce_ceiling: float, judging: _Judging) -> str:
    ratio = _ratio(shape.drain_events_per_s, produce_ceiling)
    target = DRAIN_TARGETS[shape.events]
    incomplete = "" if shape.drain_complete else " (not all drained in time)"
    fill = shape.fill.per_second if shape.fill is not None else 0.0
    return (
        f"| drain of {_name(shape.events)} batches, web idle (queued at {fill:,.0f} req/s, worker stopped) | "
        f"{produce_ceiling:,.0f} events/s | {shape.drain_events_per_s:,.0f} events/s{incomplete} | "
        f"{judging.ratio(f'{ratio:.3f}x')} | "
        f"{judging.target(f'≥ {target}x', ratio >= target and shape.drain_complete)} |"
    )


def _delivered_row(shape: ShapeResult) -> str:
    accept = shape.accept
    accepted = accept.per_second * shape.events if accept is not None else 0.0
    catch_up = "" if shape.catch_up_s is None else f"; all in Kafka {shape.catch_up_s:.1f} s after the load"
    return (
        f"| delivered to Kafka during the {_name(shape.events)} load | — | "
        f"{shape.delivered_during_accept:,.0f} events/s ({_ratio(shape.delivered_during_accept, accepted):.2f} of "
        f"accepted){catch_up} | | |"
    )


def _steady_row(shape: ShapeResult, judging: _Judging) -> str:
    steady = shape.steady
    if steady is None:
        return ""
    p99 = percentile(steady.latencies_ms, 0.99)
    kafka = shape.steady_202_to_kafka_ms
    kafka_p99 = percentile(kafka, 0.99)
    after = shape.steady_in_kafka_after_s
    refused = steady.sent - steady.statuses.get(202, 0)
    good = (
        p99 <= STEADY_202_P99_MS
        and kafka_p99 <= STEADY_KAFKA_P99_MS
        and after is not None
        and after <= STEADY_IN_KAFKA_S
        and refused == 0
    )
    late = f", {steady.late_starts} started late" if steady.late_starts else ""
    target = (
        f"202 p99 ≤ {STEADY_202_P99_MS:.0f} ms, → Kafka p99 ≤ {STEADY_KAFKA_P99_MS:.0f} ms, ≤ {STEADY_IN_KAFKA_S:.0f} s"
    )
    return (
        f"| steady {_name(shape.events)}: open loop at {steady.rate:,.0f} req/s "
        f"({steady.rate * shape.events:,.0f} events/s) for {steady.seconds:.0f} s | — | "
        f"202 p50 {percentile(steady.latencies_ms, 0.5):.1f} ms, p99 {p99:.1f} ms; "
        f"202 → Kafka p50 {percentile(kafka, 0.5):.0f} ms, p99 {kafka_p99:.0f} ms ({len(kafka):,} sampled); "
        f"all in Kafka {'—' if after is None else f'{after:.1f} s'} after the end; "
        f"{refused} not accepted{late} | | "
        f"{judging.target(target, good)} |"
    )


def _memory_rows(results: Results, judging: _Judging) -> list[str]:
    rows = []
    samples = results.memory_samples
    if len(samples) >= 10:
        early = samples[len(samples) // 10][1]
        last_tenth = [memory for _, memory in samples[-(len(samples) // 10) :]]
        late_web = max(memory.web for memory in last_tenth)
        late_worker = max(memory.worker for memory in last_tenth)
        web_growth = _ratio(late_web - early.web, early.web)
        worker_growth = _ratio(late_worker - early.worker, early.worker)
        good = web_growth <= MEMORY_GROWTH and worker_growth <= MEMORY_GROWTH
        rows.append(
            f"| resident memory over {results.memory_events:,} events (after the first tenth → the last tenth) | — | "
            f"web {early.web:.0f} → {late_web:.0f} MiB ({web_growth:+.1%}), worker {early.worker:.0f} → "
            f"{late_worker:.0f} MiB ({worker_growth:+.1%}) | | {judging.target(f'within {MEMORY_GROWTH:.0%}', good)} |"
        )
    if results.peak is not None:
        rows.append(
            f"| peak resident memory (sum of each process's peak) | — | web {results.peak.web_peak:.0f} MiB, "
            f"worker {results.peak.worker_peak:.0f} MiB | | |"
        )
    return rows


def table(results: Results) -> str:
    shapes = [results.shapes[size] for size in sorted(results.shapes, reverse=True)]
    judging = _judging(results)
    rows = [
        "| load | ceiling | this service | ratio | target |",
        "|---|---|---|---|---|",
        *(_accept_row(shape, judging) for shape in shapes),
        *(_drain_row(shape, results.produce_ceiling, judging) for shape in shapes),
        *(_delivered_row(shape) for shape in shapes),
        *(row for row in (_steady_row(shape, judging) for shape in shapes) if row),
        *_memory_rows(results, judging),
        f"| one Python process Avro-encoding and producing (acks=all, idempotent, zstd) | "
        f"{results.produce_ceiling:,.0f} events/s | | | |",
    ]
    return "\n".join(rows)


# --- the pinning -----------------------------------------------------------------------------------


def _processes(seen: list[Seen]) -> str:
    """ "gunicorn master 10; gunicorn worker 11, 12"-like: each name once, its pids after it."""
    by_name: dict[str, list[int]] = {}
    for one in seen:
        pids = by_name.setdefault(one.name, [])
        if one.pid not in pids:
            pids.append(one.pid)
    return "; ".join(f"{name} {', '.join(str(pid) for pid in pids)}" for name, pids in by_name.items())


def pinning_rows(pinning: Pinning) -> list[str]:
    """One row per group of processes: each process seen (by pid), its threads, the CPUs it should
    have had and those it had, over every check."""
    groups: dict[str, list[Seen]] = {}
    for check in pinning.checks:
        for one in check.seen:
            groups.setdefault(one.group, []).append(one)
    rows = ["| processes | threads (most seen) | CPUs wanted | CPUs seen | checks |", "|---|---|---|---|---|"]
    for group, seen in groups.items():
        wanted = cpu_list(frozenset().union(*(one.wanted for one in seen)))
        cpus = cpu_list(frozenset().union(*(one.cpus for one in seen)))
        checks = sum(1 for check in pinning.checks if any(one.group == group for one in check.seen))
        held = "" if all(one.held for one in seen) else " **did not hold**"
        threads = sum(max(one.threads for one in seen if one.pid == pid) for pid in {one.pid for one in seen})
        rows.append(f"| {group}: {_processes(seen)} | {threads} | {wanted} | {cpus}{held} | {checks} |")
    return rows


def _pinning_failures(pinning: Pinning) -> list[str]:
    failures: list[str] = []
    for check in pinning.checks:
        failures.extend(f"- {check.when}: no process of {group} found" for group in check.missing)
        failures.extend(
            f"- {check.when}: {one.group}, {one.name} {one.pid} on CPUs {cpu_list(one.cpus)} (wanted "
            f"{cpu_list(one.wanted)})"
            for one in check.seen
            if not one.held
        )
    if not pinning.checks:
        failures.append("- the pinning was never checked")
    return failures


def _pinning_text(pinning: Pinning | None) -> str:
    if pinning is None:
        return "**The pinning was not recorded: this table's ratios are not judged.**"
    where = f"read back {len(pinning.checks)} times during the run (once each web had started, then after every load)"
    source = "from `/proc/<pid>/task/<tid>/status` (`Cpus_allowed_list`) of every thread of every process below"
    rows = "\n".join(pinning_rows(pinning))
    if pinning.held:
        return f"The pinning held: {where}, {source}.\n\n{rows}"
    failures = "\n".join(_pinning_failures(pinning))
    return (
        f"**The pinning did not hold**, so this table's ratios are not what they claim and its targets are not "
        f"judged: {where}, {source}.\n\n{failures}\n\n{rows}"
    )


# --- docs/benchmarks.md ----------------------------------------------------------------------------

HEADINGS = {
    "pinned": "Pinned: the web on a core of its own (judges the accept targets)",
    "shared": "Shared: every process on every core",
}


def _start(mode: str) -> str:
    return f"<!-- bench:{mode} -->"


def _end(mode: str) -> str:
    return f"<!-- /bench:{mode} -->"


def _placement(results: Results) -> str:
    if results.mode == "shared":
        return (
            "Every process may run on every core and the kernel shares them out: the web and the worker take CPU "
            "from each other and from the load generator, Kafka and Redis, so the accept ratio here says as much "
            "about that split as about the code. Kept beside the pinned table for comparison; the resident memory "
            f"rows come from this mode (the 50-event open loop runs until {results.options.memory_events:,} events "
            "here only)."
        )
    plan = results.options.plan
    web, rest = (plan.web, plan.rest) if plan is not None else ("?", "?")
    return (
        f"As a deployment runs it: the web, gunicorn's master and its workers (the service's and the bare "
        f"ceiling's alike), alone on CPU {web}; everything else on CPU {rest}: wrk and the open-loop generator "
        f"(the bench's own process), the Celery worker (with `scripts/run`, which starts it), the producer "
        f"ceiling, Kafka and Redis (pinned for the run, their affinity put back after it); wrk and the open loop "
        f"run at nice {WRK_NICE_PINNED} there, ahead of the others, so that the rates and latencies measured are "
        f"the web's, not what CPU the load generator was left. The ceiling app starts "
        f"pinned (`taskset`); `scripts/run` starts on CPU {rest}, and its gunicorn is moved to CPU {web} thread "
        f"by thread once it answers, before any load. Both webs run {_web_processes(results.web_concurrency)} "
        f"of `WEB_THREADS` threads (`WEB_CONCURRENCY`; one per core unless set, as docs/scaling.md sizes the web). "
        f"The accept targets (≥ {ACCEPT_TARGET}x the "
        f"ceiling, for both request shapes) are judged in this table."
    )


def _web_processes(count: str) -> str:
    return "one gunicorn process" if count == "1" else f"{count} gunicorn processes"


def section(results: Results) -> str:
    """One mode's part of docs/benchmarks.md, between markers that a later run of the other mode
    alone finds and keeps."""
    commands = "\n".join(f"    {command}" for command in results.commands)
    pinning = f"\n\n{_pinning_text(results.pinning)}" if results.mode == "pinned" else ""
    return f"""{_start(results.mode)}
## {HEADINGS[results.mode]}

Measured on {results.started:%Y-%m-%d %H:%M} UTC by `scripts/bench` (mode {results.mode}) on {results.machine}.
{_placement(results)}{pinning}

{table(results)}

What ran:

{commands}
{_end(results.mode)}"""


def kept_section(previous: str, mode: str) -> str:
    """``mode``'s section of a docs/benchmarks.md written before, as it was; or a note that no run
    has measured it yet."""
    match = re.search(rf"^{re.escape(_start(mode))}$.*?^{re.escape(_end(mode))}$", previous, re.M | re.S)
    if match is not None:
        return match.group(0)
    return f"""{_start(mode)}
## {HEADINGS[mode]}

Not measured yet: `scripts/bench --mode {mode}` (or `make bench`, both modes) writes it.
{_end(mode)}"""


def document(runs: list[Results], *, previous: str = "") -> str:
    """docs/benchmarks.md: the pinned table and the shared one, each from this run when it measured
    that mode, else as ``previous`` (the page before) had it."""
    measured = {results.mode: results for results in runs}
    sections = "\n\n".join(
        section(measured[mode]) if mode in measured else kept_section(previous, mode) for mode in HEADINGS
    )
    options = runs[0].options
    return f"""# Benchmarks

Written by `make bench` (`scripts/bench`, the code in `bench/`). Everything runs on one machine at
once: the load generator, the web, the worker, Kafka and Redis. Absolute figures move from run to
run and machine to machine; the ratios are measured side by side in one run and are what to
compare.

The bench measures the same things in two modes, one after the other, and writes a table for each:

- **pinned**: the web on a core of its own, everything else on another, as the service is deployed.
  This table judges the accept targets (≥ {ACCEPT_TARGET}x the ceiling, for both request shapes).
- **shared**: every process on every core, the kernel sharing them out. On two cores the web and
  the worker then fight for CPU, so the accept ratio measures that split more than the code; the
  table stays for comparison and holds the resident-memory rows.

{sections}

## What each row is

- **accepted**: wrk, {options.seconds:.0f} s, 16 connections, posting the same body over and over
  (a batch of 50 nudged events of one session, or a single one), to the bare-Django ceiling
  (`bench/ceiling_app.py`: parse the body with orjson, mint the ids, answer 202; no DRF, no
  middleware, no validation, no queue) and to the service, both under the service's gunicorn
  settings. The service runs as `make run` runs it, with rate limits off, and its worker delivers
  meanwhile. Both webs stay up through the mode (the one not measured is idle), and the accept's
  {options.seconds:.0f} s are cut into runs of at least 5 s that alternate with runs of the ceiling
  (one more of those at the end): each figure is its runs' requests over their time, so the two
  are measured over the same stretch of time. This machine's speed drifts by as much as a fifth
  within a minute: ceilings measured minutes before the service made the ratio move by as much.
- **drain**: the worker stops consuming (Celery's remote control) while wrk fills the queue for
  {options.seconds:.0f} s; then it resumes with the web idle, and the rate is the queued events
  over the time until Kafka holds them all. The ceiling is one Python process that Avro-encodes
  (fastavro, Confluent framing) and produces the same records with the same delivery settings,
  the better of two runs.
- **delivered during the load**: what reached Kafka while wrk ran, and how long after it stopped
  the topic held every accepted event.
- **steady**: an open-loop generator (`bench/load.py`) starting requests at half the accepted
  rate above, whatever the answers do, for {options.steady_seconds:.0f} s (in the shared mode the
  50-event run lasts until {options.memory_events:,} events). 202 latency counts from each request's
  planned start. 202 → Kafka is, for the first event of every accepted request, the broker's append
  time of its record (the bench's topic stamps `LogAppendTime`) minus the time its 202 arrived.
- **resident memory** (shared mode): the sum over the web's gunicorn processes and over the
  worker's processes, sampled every second through the long 50-event open loop.
- **pinning** (pinned mode): every process of each group, with how many threads it had at most,
  the CPUs it should have been allowed and those the kernel said it was, over every check.

## Commands

    make bench                   # both tables, one mode after the other (about 25 minutes)
    make bench-pinned            # the pinned table only (scripts/bench --mode pinned); the shared one stays as it was
    scripts/bench --mode shared  # the shared table only; the pinned one stays as it was
    scripts/bench --smoke        # both modes, a few seconds a phase: checks that the bench runs; numbers mean little
"""
