"""The bench's table and docs/benchmarks.md."""

from __future__ import annotations

from bench.load import percentile
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


def _accept_row(shape: ShapeResult) -> str:
    accept = shape.accept
    if accept is None:
        return f"| {_name(shape.events)} requests, accepted | {shape.ceiling.per_second:,.0f} req/s | — | | |"
    ratio = _ratio(accept.per_second, shape.ceiling.per_second)
    errors = f"; {accept.non_2xx} not 2xx" if accept.non_2xx else ""
    return (
        f"| {_name(shape.events)} requests, accepted, worker running | {shape.ceiling.per_second:,.0f} req/s "
        f"(p99 {shape.ceiling.p99_ms:.0f} ms) | {accept.per_second:,.0f} req/s = "
        f"{accept.per_second * shape.events:,.0f} events/s, p50 {accept.p50_ms:.0f} ms, p99 {accept.p99_ms:.0f} ms"
        f"{errors} | {ratio:.2f}x | ≥ {ACCEPT_TARGET}x: {_mark(ratio >= ACCEPT_TARGET)} |"
    )


def _drain_row(shape: ShapeResult, produce_ceiling: float) -> str:
    ratio = _ratio(shape.drain_events_per_s, produce_ceiling)
    target = DRAIN_TARGETS[shape.events]
    incomplete = "" if shape.drain_complete else " (not all drained in time)"
    fill = shape.fill.per_second if shape.fill is not None else 0.0
    return (
        f"| drain of {_name(shape.events)} batches, web idle (queued at {fill:,.0f} req/s, worker stopped) | "
        f"{produce_ceiling:,.0f} events/s | {shape.drain_events_per_s:,.0f} events/s{incomplete} | {ratio:.3f}x | "
        f"≥ {target}x: {_mark(ratio >= target and shape.drain_complete)} |"
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


def _steady_row(shape: ShapeResult) -> str:
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
    return (
        f"| steady {_name(shape.events)}: open loop at {steady.rate:,.0f} req/s "
        f"({steady.rate * shape.events:,.0f} events/s) for {steady.seconds:.0f} s | — | "
        f"202 p50 {percentile(steady.latencies_ms, 0.5):.1f} ms, p99 {p99:.1f} ms; "
        f"202 → Kafka p50 {percentile(kafka, 0.5):.0f} ms, p99 {kafka_p99:.0f} ms ({len(kafka):,} sampled); "
        f"all in Kafka {'—' if after is None else f'{after:.1f} s'} after the end; "
        f"{refused} not accepted{late} | | 202 p99 ≤ {STEADY_202_P99_MS:.0f} ms, → Kafka p99 ≤ "
        f"{STEADY_KAFKA_P99_MS:.0f} ms, ≤ {STEADY_IN_KAFKA_S:.0f} s: {_mark(good)} |"
    )


def _memory_rows(results: Results) -> list[str]:
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
            f"{late_worker:.0f} MiB ({worker_growth:+.1%}) | | within {MEMORY_GROWTH:.0%}: {_mark(good)} |"
        )
    if results.peak is not None:
        rows.append(
            f"| peak resident memory (sum of each process's peak) | — | web {results.peak.web_peak:.0f} MiB, "
            f"worker {results.peak.worker_peak:.0f} MiB | | |"
        )
    return rows


def table(results: Results) -> str:
    shapes = [results.shapes[size] for size in sorted(results.shapes, reverse=True)]
    rows = [
        "| load | ceiling | this service | ratio | target |",
        "|---|---|---|---|---|",
        *(_accept_row(shape) for shape in shapes),
        *(_drain_row(shape, results.produce_ceiling) for shape in shapes),
        *(_delivered_row(shape) for shape in shapes),
        *(row for row in (_steady_row(shape) for shape in shapes) if row),
        *_memory_rows(results),
        f"| one Python process Avro-encoding and producing (acks=all, idempotent, zstd) | "
        f"{results.produce_ceiling:,.0f} events/s | | | |",
    ]
    return "\n".join(rows)


def document(results: Results, *, table: str, machine: str) -> str:
    options = results.options
    commands = "\n".join(f"    {command}" for command in results.commands)
    return f"""# Benchmarks

Written by `make bench` (`scripts/bench`, the code in `bench/`) on {results.started:%Y-%m-%d %H:%M} UTC.
Everything ran on one machine at once: the load generator, the web, the worker, Kafka and Redis.
Absolute figures move from run to run and machine to machine; the ratios are measured side by
side in one run and are what to compare.

Machine: {machine}.

{table}

## What each row is

- **accepted**: wrk, {options.seconds:.0f} s, 16 connections, posting the same body over and over
  (a batch of 50 nudged events of one session, or a single one), to the bare-Django ceiling
  (`bench/ceiling_app.py`: parse the body with orjson, mint the ids, answer 202; no DRF, no
  middleware, no validation, no queue) and to the service, both under the service's gunicorn
  settings; each ceiling is the better of two runs. The service runs as `make run` runs it, with
  rate limits off, and its worker delivers meanwhile.
- **drain**: the worker stops consuming (Celery's remote control) while wrk fills the queue for
  {options.seconds:.0f} s; then it resumes with the web idle, and the rate is the queued events
  over the time until Kafka holds them all. The ceiling is one Python process that Avro-encodes
  (fastavro, Confluent framing) and produces the same records with the same delivery settings,
  the better of two runs.
- **delivered during the load**: what reached Kafka while wrk ran, and how long after it stopped
  the topic held every accepted event.
- **steady**: an open-loop generator (`bench/load.py`) starting requests at half the accepted
  rate above, whatever the answers do, for {options.steady_seconds:.0f} s (the 50-event run
  lasts until {options.memory_events:,} events). 202 latency counts from each request's planned
  start. 202 → Kafka is, for the first event of every accepted request, the broker's append time
  of its record (the bench's topic stamps `LogAppendTime`) minus the time its 202 arrived.
- **resident memory**: the sum over the web's gunicorn processes and over the worker's
  processes, sampled every second through the long 50-event open loop.

## Commands

    make bench            # this page (about 12 minutes)
    scripts/bench --smoke # a few seconds a phase: checks that the bench runs; numbers mean little

What ran:

{commands}
"""
