"""``make bench`` (``scripts/bench``): measures the service against ceilings on this machine, in one
run, and prints one table (also written to docs/benchmarks.md).

The phases, in order:

1. Ceilings. The bare-Django app (bench/ceiling_app.py) starts under the service's gunicorn
   settings and stays up, idle but when measured, until the mode ends; one Python process
   Avro-encodes and produces nudged records (acks=all, idempotent, zstd).
2. The service as ``make run`` runs it (``scripts/run``: gunicorn, the Celery worker, on the local
   Kafka and Redis), with rate limits off, per request shape:
   - fill: the worker stops consuming (Celery's remote control), wrk posts for a while;
   - drain: the worker resumes, the web is idle; events per second until Kafka holds them all;
   - accept: wrk again with the worker running: requests and events per second, latency, and what
     reached Kafka meanwhile. Its time is cut into runs of 5 seconds that alternate with runs of the
     same wrk against the ceiling app (one more of those at the end), so that both are measured
     over the same stretch of time: this machine's speed drifts by a fifth within a minute;
   - steady: an open-loop generator at half that request rate; every answer's latency from its
     planned start, and from each 202 to Kafka's append time of the event (read from the records:
     the bench's topic stamps records with the broker's append time); how long after the end
     Kafka held every accepted event. The 50-event run lasts until 1,000,000 events at least, and
     the resident memory of the web and the worker is sampled through it (shared mode only).

All of it runs in two modes, one after the other (``--mode`` picks one), each with a table of its
own (bench/report.py):

- shared: every process may run on every core, as the kernel schedules them.
- pinned: the web (the ceiling app's gunicorn, then the service's: master and workers) alone on
  one core; on another, everything else: the bench's own process (wrk and the open-loop generator
  are its, and so is the producer ceiling), ``scripts/run`` with the Celery worker, Kafka and
  Redis (bench/affinity.py pins those two for the mode and puts their affinity back after). The
  ceiling app starts pinned (``taskset``). ``scripts/run`` starts both the web and the worker, so
  it starts on the other core and its gunicorn is moved to the web's core once it answers, before
  any load (its workers are forked by then, and any later one inherits the master's affinity).
  After each start and each load the bench reads every thread's affinity back from /proc and
  records it; a run whose pinning did not hold says so and judges nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import shlex
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import redis

from bench import affinity, events, kafka, load, processes, report
from bench.results import MODES, Options, Results, ShapeResult

ROOT = Path(__file__).resolve().parents[1]
SHAPES = (50, 1)
# The shortest of the runs the accept alternates with the ceiling's.
ACCEPT_RUN_SECONDS = 5
# The produce ceiling is measured this many times; the best counts (once in a smoke run).
PRODUCE_CEILING_RUNS = 2
# One key for the run's web and worker: long and random, as their production guards require.
SERVICE_SECRET_KEY = secrets.token_urlsafe(50)


def accept_rounds(seconds: float) -> int:
    """How many runs the accept's ``seconds`` are cut into, each alternating with a run of the
    ceiling's: runs of 5 seconds at least (a smoke run's one second: one)."""
    return max(1, int(seconds // ACCEPT_RUN_SECONDS))


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def wait_until(condition: Callable[[], bool], *, timeout: float, interval: float = 0.1) -> float | None:
    """Seconds until ``condition`` held, or None after ``timeout``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            return None
        time.sleep(interval)
    return time.monotonic() - started


class Bench:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.work = ROOT / ".stack" / "bench"
        self.work.mkdir(parents=True, exist_ok=True)
        self.prefix = f"bench.{uuid.uuid4().hex[:6]}."
        self.bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
        redis_host = os.environ.get("REDIS_HOST", "127.0.0.1")
        redis_port = os.environ.get("REDIS_PORT", "6379")
        self.broker_url = f"redis://{redis_host}:{redis_port}/10"
        self.redis_port = int(redis_port)
        self.bodies = {size: self.work / f"body-{size}.json" for size in SHAPES}
        for size, path in self.bodies.items():
            path.write_bytes(events.body(events=size))
        self.machine = machine()
        self.runs: list[Results] = []
        self.results = Results(options=options, mode=options.modes[0], started=datetime.now(UTC), machine="", shapes={})
        # The pinned mode's: what it checks, the service, Kafka's and Redis's pids.
        self.pinning: affinity.Pinning | None = None
        # The webs up (label, process), whose pinning each check reads back.
        self.webs: list[tuple[str, processes.Process]] = []
        self.service: processes.Process | None = None
        self.stack_pids: dict[str, int] = {}

    @property
    def produce_ceiling_runs(self) -> int:
        return 1 if self.options.smoke else PRODUCE_CEILING_RUNS

    @property
    def mode_prefix(self) -> str:
        """The mode's topics (and the service's KAFKA_TOPIC_PREFIX): a mode starts from empty ones."""
        return f"{self.prefix}{self.results.mode}."

    # --- ceilings ------------------------------------------------------------------------------

    @property
    def web_concurrency(self) -> str:
        """gunicorn's processes, the service's and the ceiling's alike: WEB_CONCURRENCY when set;
        else one per core the web has when pinned (as docs/scaling.md sizes a deployment: one
        process per core, threads for the waits), and ``make run``'s 2 when it shares the cores."""
        default = "1" if self.pinning is not None else "2"
        return os.environ.get("WEB_CONCURRENCY", default)

    def gunicorn_args(self, port: int) -> list[str]:
        # What scripts/run gives gunicorn, but the application.
        config = self.options.service_root / "eventcapture" / "gunicorn_conf.py"
        return [
            *("--config", str(config), "--bind", f"127.0.0.1:{port}"),
            *("--workers", self.web_concurrency, "--access-logfile", "-"),
        ]

    @contextmanager
    def ceiling_app(self) -> Iterator[str]:
        """The bare-Django ceiling's gunicorn, up for the block: its events URL."""
        port = processes.free_port()
        command = [sys.executable, "-m", "gunicorn", "bench.ceiling_app", *self.gunicorn_args(port)]
        shown = ["gunicorn", "bench.ceiling_app", *self.gunicorn_args(port)[2:]]
        if self.pinning is not None:
            web = str(self.pinning.plan.web)
            command = ["taskset", "--cpu-list", web, *command]
            shown = ["taskset", "-c", web, *shown]
        self.results.commands.append(shlex.join(shown))
        ceiling = processes.Process(command, cwd=ROOT, env=dict(os.environ), log=self.work / "ceiling.log")
        entry = ("the ceiling app's web", ceiling)
        try:
            processes.wait_for_http(f"http://127.0.0.1:{port}/ping", process=ceiling, timeout=30)
            self.webs.append(entry)
            self.verify("the ceiling app answering")
            yield f"http://127.0.0.1:{port}/api/v0/events"
        finally:
            if entry in self.webs:
                self.webs.remove(entry)
            ceiling.stop()

    def produce_ceiling(self) -> None:
        topic = f"{self.mode_prefix}ceiling"
        kafka.topic_create(self.bootstrap, topic)
        self.results.produce_ceiling = max(
            kafka.produce_ceiling(
                bootstrap=self.bootstrap,
                topic=topic,
                schema=events.avro_schema(self.options.service_root),
                count=self.options.produce_count,
            )
            for _ in range(self.produce_ceiling_runs)
        )
        say(f"one process encoding and producing: {self.results.produce_ceiling:,.0f} events/s")
        self.verify("after the producer ceiling")

    def wrk(self, url: str, size: int, *, when: str, seconds: float | None = None) -> load.ClosedLoop:
        # Pinned, wrk shares its core with the worker, Kafka and Redis: ahead of them, so that what
        # it measures is the web on its own core, not how much CPU the load generator was left.
        nice = load.WRK_NICE_PINNED if self.pinning is not None else 0
        seconds = self.options.seconds if seconds is None else seconds
        result = load.wrk(url, body=self.bodies[size], seconds=seconds, nice=nice)
        if result.non_2xx or result.socket_errors:
            say(f"  {result.non_2xx} answers were not 2xx and {result.socket_errors} had socket errors")
        self.verify(f"after wrk, {when}")
        return result

    # --- the pinned mode -----------------------------------------------------------------------

    @contextmanager
    def pinned(self) -> Iterator[None]:
        """Kafka, Redis and the bench itself on the rest's core for the block (and what the bench
        starts, which inherits it), their affinity put back after."""
        plan = self.options.plan
        if plan is None:
            raise RuntimeError("the pinned mode has no cores planned")
        self.pinning = self.results.pinning = affinity.Pinning(plan=plan)
        self.results.web_concurrency = self.web_concurrency
        say(f"pinned: the web on CPU {plan.web}; wrk, the worker, the producer, Kafka and Redis on CPU {plan.rest}")
        try:
            with affinity.pinned([*self.stack_pids.values(), os.getpid()], frozenset({plan.rest})):
                self.verify("Kafka, Redis and the bench pinned")
                yield
        finally:
            self.pinning = None

    def pin_web(self, service: processes.Process) -> None:
        """The service's gunicorn, master first (a worker it forks from then on inherits its
        affinity), onto the web's core; again while a pass finds one that is not there."""
        assert self.pinning is not None
        cpus = frozenset({self.pinning.plan.web})
        for _ in range(5):
            web = processes.web_processes(service.pid)
            for pid, _name in web:
                affinity.pin(pid, cpus)
            again = processes.web_processes(service.pid)
            if again and all(set(affinity.allowed(pid).values()) <= {cpus} for pid, _name in again):
                return
        # What did not move, the checks record (and the report says).

    def verify(self, when: str) -> None:
        """In the pinned mode, reads back and records the affinity of every thread of the web being
        measured, of the service's other processes, of Kafka, Redis and the bench."""
        if self.pinning is None:
            return
        web = frozenset({self.pinning.plan.web})
        rest = frozenset({self.pinning.plan.rest})
        groups: dict[str, tuple[list[tuple[int, str]], frozenset[int]]] = {}
        for label, process in self.webs:
            groups[label] = (processes.web_processes(process.pid), web)
        if self.service is not None:
            others = [
                (member.pid, "celery" if member.kind == "worker" else "scripts/run")
                for member in processes.members(self.service.pid)
                if member.kind != "web"
            ]
            groups["the service's worker (and scripts/run)"] = (others, rest)
        for name, pid in self.stack_pids.items():
            groups[name] = ([(pid, Path(affinity.command(pid).split(" ", 1)[0]).name)], rest)
        groups["the bench (wrk, the open-loop generator, the producer ceiling)"] = (
            [(os.getpid(), "python -m bench")],
            rest,
        )
        check = self.pinning.check(when, groups)
        if not check.held:
            wrong = [
                f"{one.name} {one.pid} on CPUs {affinity.cpu_list(one.cpus)}" for one in check.seen if not one.held
            ]
            say(f"the pinning did not hold ({when}): {', '.join(wrong + [f'no {g}' for g in check.missing])}")

    # --- the service ---------------------------------------------------------------------------

    def service_env(self, port: int) -> dict[str, str]:
        return {
            **os.environ,
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "SECRET_KEY": SERVICE_SECRET_KEY,
            "DEBUG": "false",
            "DATABASE_URL": f"sqlite:///{self.work / 'db.sqlite3'}",
            "CELERY_BROKER_URL": self.broker_url,
            "RATELIMIT_CACHE_URL": self.broker_url.removesuffix("/10") + "/9",
            "RATE_LIMIT_ENABLED": "false",
            "KAFKA_TOPIC_PREFIX": self.mode_prefix,
            "KAFKA_TOPIC_PARTITIONS": "3",
            "KAFKA_TOPIC_REPLICATION": "1",
            "WORKER_METRICS_PORT": "0",
            "METRICS_DIR": str(self.work / "metrics"),
            "WEB_CONCURRENCY": self.web_concurrency,
        }

    def run_service(self, ceiling_url: str) -> None:
        redis.Redis.from_url(self.broker_url, socket_timeout=5).flushdb()
        port = processes.free_port()
        command = [str(self.options.service_root / "scripts" / "run")]
        shown = f"scripts/run  (PORT={port}, WEB_CONCURRENCY={self.web_concurrency}, rate limits off; see bench/run.py)"
        if self.pinning is not None:
            plan = self.pinning.plan
            command = ["taskset", "--cpu-list", str(plan.rest), *command]
            shown = f"taskset -c {plan.rest} {shown}; its gunicorn then moved to CPU {plan.web}"
        self.results.commands.append(shown)
        service = processes.Process(
            command, cwd=self.options.service_root, env=self.service_env(port), log=self.work / "service.log"
        )
        base = f"http://127.0.0.1:{port}"
        try:
            processes.wait_for_http(f"{base}/ready", process=service, timeout=180)
            if self.pinning is not None:
                self.pin_web(service)
            self.service = service
            self.webs.append(("the service's web", service))
            self.verify("the service ready")
            control = processes.WorkerControl(self.broker_url)
            control.wait_ready(process=service, timeout=60)
            topic = f"{self.mode_prefix}{events.TOPIC}"
            kafka.log_append_time(self.bootstrap, topic)
            size = kafka.TopicSize(self.bootstrap, topic)
            try:
                for shape in SHAPES:
                    self.results.shapes[shape] = ShapeResult(events=shape)
                    self.shape(f"{base}/api/v0/events", shape, control=control, size=size, ceiling_url=ceiling_url)
                for shape in SHAPES:
                    self.steady(f"{base}/api/v0/events", shape, size=size, group=service.pid, topic=topic)
                self.results.peak = processes.memory(service.pid)
            finally:
                size.close()
        finally:
            self.webs = [entry for entry in self.webs if entry[1] is not service]
            self.service = None
            service.stop()

    def shape(
        self, url: str, shape: int, *, control: processes.WorkerControl, size: kafka.TopicSize, ceiling_url: str
    ) -> None:
        result = self.results.shapes[shape]
        # Fill the queue with the worker stopped, then time the drain with the web idle.
        control.pause()
        time.sleep(1)
        before = size()
        result.fill = self.wrk(url, shape, when=f"the {shape}-event fill")
        queued = (result.fill.requests - result.fill.non_2xx) * shape
        started = time.monotonic()
        control.resume()
        done = wait_until(lambda: size() >= before + queued, timeout=self.options.drain_timeout, interval=0.05)
        result.drain_complete = done is not None
        drained = size() - before
        result.drain_events_per_s = drained / (time.monotonic() - started)
        self.verify(f"after the {shape}-event drain")
        say(
            f"{shape}-event: queued {queued:,} events in {result.fill.seconds:.0f}s "
            f"({result.fill.per_second:,.0f} req/s with the worker stopped); "
            f"drained at {result.drain_events_per_s:,.0f} events/s{'' if done is not None else ' (incomplete)'}"
        )
        # Accept with the worker running, in short runs that alternate with the ceiling app's (one
        # more of those at the end): both are measured over the same stretch of the machine's
        # drifting speed.
        rounds = accept_rounds(self.options.seconds)
        seconds = self.options.seconds / rounds
        ceilings: list[load.ClosedLoop] = []
        accept_runs: list[load.ClosedLoop] = []
        first: int | None = None
        reached = 0
        for turn in range(1, rounds + 1):
            ceilings.append(self.wrk(ceiling_url, shape, when=f"the {shape}-event ceiling, {turn}", seconds=seconds))
            before = size()
            first = before if first is None else first
            accept_runs.append(self.wrk(url, shape, when=f"the {shape}-event accept, {turn}", seconds=seconds))
            reached += size() - before
        assert first is not None
        result.accept = load.combined(accept_runs)
        # What reached Kafka while the service was loaded (the worker also delivers during the
        # ceiling's runs, which this leaves out).
        result.delivered_during_accept = reached / result.accept.seconds
        accepted = sum((run.requests - run.non_2xx) * shape for run in accept_runs)
        result.catch_up_s = wait_until(
            lambda: size() >= first + accepted, timeout=self.options.drain_timeout, interval=0.05
        )
        ceilings.append(self.wrk(ceiling_url, shape, when=f"the {shape}-event ceiling, last", seconds=seconds))
        result.ceiling = load.combined(ceilings)
        say(
            f"{shape}-event ceiling, {len(ceilings)} runs of {seconds:.0f} s around {rounds} of the service: "
            f"{', '.join(f'{run.per_second:,.0f}' for run in ceilings)} req/s "
            f"(p99 {result.ceiling.p99_ms:.1f} ms); "
            f"the service's: {', '.join(f'{run.per_second:,.0f}' for run in accept_runs)} req/s"
        )
        say(
            f"{shape}-event: accepted {result.accept.per_second:,.0f} req/s "
            f"({result.accept.per_second * shape:,.0f} events/s), p99 {result.accept.p99_ms:.1f} ms; "
            f"delivered {result.delivered_during_accept:,.0f} events/s meanwhile"
        )

    def steady(self, url: str, shape: int, *, size: kafka.TopicSize, group: int, topic: str) -> None:
        result = self.results.shapes[shape]
        assert result.accept is not None
        rate = result.accept.per_second / 2
        seconds = self.options.steady_seconds
        measure_memory = shape == max(SHAPES) and self.options.memory_events > 0 and self.results.mode == "shared"
        if measure_memory:
            seconds = max(seconds, self.options.memory_events / (rate * shape))
        start = size.ends()
        stop = threading.Event()
        sampler = threading.Thread(target=self.sample_memory, args=(group, stop), daemon=True)
        if measure_memory:
            sampler.start()
        try:
            result.steady = load.open_loop(
                url,
                self.bodies[shape].read_bytes(),
                events=shape,
                rate=rate,
                seconds=seconds,
                nice=load.WRK_NICE_PINNED if self.pinning is not None else 0,
            )
        finally:
            stop.set()
        ended = time.monotonic()
        self.verify(f"after the {shape}-event open loop")
        if measure_memory:
            sampler.join()
            self.results.memory_events = result.steady.accepted_events
        target = sum(start.values()) + result.steady.accepted_events
        in_kafka = wait_until(lambda: size() >= target, timeout=self.options.drain_timeout, interval=0.05)
        result.steady_in_kafka_after_s = None if in_kafka is None else time.monotonic() - ended
        answered = dict(result.steady.answered)
        result.steady_202_to_kafka_ms = [
            (record.appended_at - answered[record.event_id]) * 1000
            for record in kafka.records_between(self.bootstrap, topic, start=start, end=size.ends())
            if record.event_id in answered
        ]
        latencies = result.steady.latencies_ms
        say(
            f"{shape}-event steady at {rate:,.0f} req/s for {seconds:.0f}s: {result.steady.statuses.get(202, 0):,} "
            f"accepted, 202 p99 {load.percentile(latencies, 0.99):.1f} ms, 202 to Kafka p99 "
            f"{load.percentile(result.steady_202_to_kafka_ms, 0.99):.1f} ms"
        )

    def sample_memory(self, group: int, stop: threading.Event) -> None:
        started = time.monotonic()
        while not stop.wait(1.0):
            self.results.memory_samples.append((time.monotonic() - started, processes.memory(group)))

    # --- the whole run -------------------------------------------------------------------------

    def run(self) -> list[Results]:
        put_back = affinity.recover()
        if put_back:
            say(f"put back the CPU affinity a killed bench left on pids {', '.join(map(str, put_back))}")
        started = subprocess.run(
            [str(ROOT / "scripts" / "stack"), "up", "all", "--report-started"],
            check=True,
            capture_output=True,
            text=True,
            timeout=300,
        ).stdout.split()
        try:
            if "pinned" in self.options.modes:
                # Before any mode runs: a pinned mode that cannot find them fails now, not after the other.
                kafka_port = int(self.bootstrap.split(",")[0].rsplit(":", 1)[1])
                self.stack_pids = {
                    "Kafka": affinity.stack_process("kafka", kafka_port),
                    "Redis": affinity.stack_process("redis", self.redis_port),
                }
            for mode in self.options.modes:
                say(f"--- {mode} mode ---")
                self.results = Results(
                    options=self.options, mode=mode, started=datetime.now(UTC), machine=self.machine, shapes={}
                )
                self.runs.append(self.results)
                if mode == "pinned":
                    with self.pinned():
                        self.measure()
                else:
                    self.measure()
        finally:
            kafka.topics_delete(self.bootstrap, prefix=self.prefix)
            if started:
                subprocess.run([str(ROOT / "scripts" / "stack"), "down", *started], check=False, timeout=300)
        return self.runs

    def measure(self) -> None:
        with self.ceiling_app() as ceiling_url:
            self.produce_ceiling()
            self.run_service(ceiling_url)


def machine() -> str:
    memory_kib = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor() or "unknown CPU",
    )
    memory = f"{memory_kib / 1024 / 1024:.0f} GiB memory"
    return f"{os.cpu_count()} cores ({model}), {memory}, Python {platform.python_version()}"


def _exit_on_signal(number: int, _frame: FrameType | None) -> None:
    """SIGTERM and SIGHUP end the run as Ctrl-C does: through its clean-ups (the service stopped,
    Kafka's and Redis's affinity put back), once; a second signal does not cut those short."""
    for name in ("SIGTERM", "SIGHUP", "SIGINT"):
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    say(f"{signal.Signals(number).name}: stopping")
    raise SystemExit(128 + number)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--mode",
        choices=("both", *MODES),
        default="both",
        help="shared: every process on every core; pinned: the web on a core of its own, everything else on "
        "another; both (default): shared, then pinned",
    )
    parser.add_argument("--smoke", action="store_true", help="a few seconds a phase, to check the bench runs")
    parser.add_argument("--seconds", type=float, help="each closed-loop run (default 20; smoke 1)")
    parser.add_argument("--steady-seconds", type=float, help="each open-loop run (default 60; smoke 2)")
    parser.add_argument(
        "--memory-events",
        type=int,
        help="events the shared mode's 50-event open loop sends at least (1,000,000)",
    )
    parser.add_argument(
        "--service-root", type=Path, default=ROOT, help="the checkout of the service to measure (default: this one)"
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="where to write the report (default docs/benchmarks.md; a smoke run writes none unless given)",
    )
    args = parser.parse_args(argv)
    smoke = bool(args.smoke)
    modes = MODES if args.mode == "both" else (args.mode,)
    plan = None
    if "pinned" in modes:
        try:
            plan = affinity.plan()
        except affinity.Refused as refused:
            print(f"scripts/bench: {refused}", file=sys.stderr)
            return 2
    options = Options(
        service_root=args.service_root.resolve(),
        seconds=args.seconds or (1 if smoke else 20),
        steady_seconds=args.steady_seconds or (2 if smoke else 60),
        memory_events=args.memory_events if args.memory_events is not None else (0 if smoke else 1_000_000),
        produce_count=5_000 if smoke else 300_000,
        output=args.output or (None if smoke else ROOT / "docs" / "benchmarks.md"),
        smoke=smoke,
        modes=modes,
        plan=plan,
    )
    for name in ("SIGTERM", "SIGHUP"):
        if signal.getsignal(getattr(signal, name)) is not signal.SIG_IGN:  # (nohup's stays ignored)
            signal.signal(getattr(signal, name), _exit_on_signal)
    try:
        with affinity.only_bench(say):
            runs = Bench(options).run()
    except affinity.Refused as refused:
        print(f"scripts/bench: {refused}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        say("interrupted: the service stopped, Kafka's and Redis's CPU affinity put back; no report written")
        return 130
    for results in runs:
        print(f"\n{report.HEADINGS[results.mode]}\n")
        print(report.table(results))
    if options.output is not None:
        previous = options.output.read_text() if options.output.exists() else ""
        options.output.write_text(report.document(runs, previous=previous))
        say(f"wrote {options.output}")
    if not all(results.pinning_held for results in runs):
        say("the pinning did not hold (the report says where): the pinned table judges nothing")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
