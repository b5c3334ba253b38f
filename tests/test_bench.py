"""`make bench` keeps working: a smoke run (a few seconds a phase) of both modes prints every row of
both tables, and the pinned mode puts the web on a core of its own, checks it did, and gives Kafka
and Redis their affinity back. Its numbers are not checked here: the bench measures, the tests
check behaviour."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bench import affinity, load, report, run
from bench.results import Options, Results, ShapeResult

ROOT = Path(__file__).resolve().parents[1]
KAFKA_PORT = int(os.environ.get("KAFKA_PORT", "9092"))
REDIS_PORT = int(os.environ.get("REDIS_PORT", "6379"))

ROWS = (
    "50-event requests, accepted, worker running",
    "single-event requests, accepted, worker running",
    "drain of 50-event batches",
    "drain of single-event batches",
    "delivered to Kafka during the 50-event load",
    "delivered to Kafka during the single-event load",
    "steady 50-event",
    "steady single-event",
    "peak resident memory",
    "one Python process Avro-encoding and producing",
)


def bench_env() -> dict[str, str]:
    # The bench runs the service with scripts/run on settings of its own, not the suite's
    # (tests/settings.py puts these in the environment).
    suite = {"DJANGO_SETTINGS_MODULE", "SECRET_KEY", "REGISTRY_CACHE_SECONDS", "KAFKA_TOPIC_PREFIX"}
    return {
        name: value
        for name, value in os.environ.items()
        if name not in suite and not name.startswith(("CELERY_", "RATE_LIMIT", "RATELIMIT_"))
    }


def stack_affinity() -> dict[str, dict[int, frozenset[int]]]:
    """Every thread's CPUs of the Kafka and the Redis the bench uses."""
    return {
        name: affinity.allowed(affinity.stack_process(name, port))
        for name, port in (("kafka", KAFKA_PORT), ("redis", REDIS_PORT))
    }


def same_affinity(before: dict[str, dict[int, frozenset[int]]], after: dict[str, dict[int, frozenset[int]]]) -> None:
    """Each thread that lived through the run has its CPUs back; a thread started meanwhile has its
    process's."""
    for name, threads in after.items():
        for tid, cpus in threads.items():
            assert cpus == before[name].get(tid, next(iter(before[name].values()))), (name, tid, cpus)


def table_rows(output: str, heading: str) -> list[str]:
    """The rows (past the header) of the table printed under ``heading``."""
    lines = output.splitlines()
    start = lines.index(heading)
    rows = []
    for line in lines[start + 1 :]:
        if line.startswith("|"):
            rows.append(line)
        elif rows:
            break
    return rows[2:]


def cells(row: str) -> list[str]:
    return [cell.strip() for cell in row.strip("|").split("|")]


@pytest.mark.integration
def test_a_smoke_run_prints_both_tables_with_the_web_pinned_and_gives_kafka_and_redis_their_cpus_back(tmp_path):
    if shutil.which("wrk") is None:
        pytest.fail("wrk is missing: apt-get install wrk (CI installs it)")
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("the pinned mode needs two cores (test_the_pinned_mode_refuses_on_one_core checks the refusal)")
    plan = affinity.plan()
    output = tmp_path / "benchmarks.md"
    before = stack_affinity()

    result = subprocess.run(
        [str(ROOT / "scripts" / "bench"), "--smoke", "--output", str(output)],
        cwd=ROOT,
        env=bench_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    same_affinity(before, stack_affinity())
    for mode in ("shared", "pinned"):
        rows = table_rows(result.stdout, report.HEADINGS[mode])
        labels = [cells(row)[0] for row in rows]
        for expected in ROWS:
            assert any(label.startswith(expected) for label in labels), f"no {mode} row {expected!r}:\n{result.stdout}"
        accept = [cells(row) for row in rows[:2]]
        assert all(row[2] != "—" for row in accept), f"no {mode} accept figures"
        # The pinned table judges the accept target; the shared one only shows its ratio.
        if mode == "pinned":
            assert all(re.fullmatch(r"≥ 0\.4x: (yes|\*\*no\*\*)", row[4]) for row in accept), accept
        else:
            assert all(row[4] == "≥ 0.4x: judged in the pinned table" for row in accept), accept
        assert all(re.fullmatch(r"\d+\.\d\dx", row[3]) for row in accept), accept

    written = output.read_text()
    assert written.startswith("# Benchmarks")
    for mode in ("pinned", "shared"):
        assert f"<!-- bench:{mode} -->\n## {report.HEADINGS[mode]}" in written
        assert "\n".join(table_rows(result.stdout, report.HEADINGS[mode])) in written
    pinned = written[written.index("<!-- bench:pinned -->") : written.index("<!-- /bench:pinned -->")]
    assert "The pinning held" in pinned
    assert "did not hold" not in pinned
    # One gunicorn process per core the web has, the service's and the ceiling's alike.
    assert "Both webs run one gunicorn process" in pinned
    # What the checks saw, every process of each web (gunicorn's master and its one worker) on the
    # web's core, everything else on the other.
    lines = pinned.splitlines()
    header = lines.index("| processes | threads (most seen) | CPUs wanted | CPUs seen | checks |")
    seen: dict[str, Any] = {}
    for line in lines[header + 2 :]:
        if not line.startswith("|"):
            break
        row = cells(line)
        seen[row[0].split(":")[0]] = row
    for web in ("the ceiling app's web", "the service's web"):
        processes, _threads, wanted, cpus, checks = seen[web]
        assert re.fullmatch(r"gunicorn master \d+; gunicorn worker \d+", processes.split(": ", 1)[1]), processes
        assert wanted == cpus == str(plan.web), seen[web]
        assert int(checks) >= 3
    for other in ("the service's worker (and scripts/run)", "Kafka", "Redis"):
        assert seen[other][2] == seen[other][3] == str(plan.rest), seen[other]
    assert "celery" in seen["the service's worker (and scripts/run)"][0]


@pytest.mark.integration
@pytest.mark.parametrize(("stop", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["ctrl-c", "sigterm"])
def test_a_pinned_run_stopped_midway_gives_kafka_and_redis_their_cpus_back(stop, status):
    if shutil.which("wrk") is None:
        pytest.fail("wrk is missing: apt-get install wrk (CI installs it)")
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("the pinned mode needs two cores")
    plan = affinity.plan()
    before = stack_affinity()
    kafka = affinity.stack_process("kafka", KAFKA_PORT)
    bench = subprocess.Popen(
        [str(ROOT / "scripts" / "bench"), "--mode", "pinned", "--smoke"],
        cwd=ROOT,
        env=bench_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while set(affinity.allowed(kafka).values()) != {frozenset({plan.rest})}:
            assert bench.poll() is None, bench.stderr.read() if bench.stderr else ""
            assert time.monotonic() < deadline, "Kafka was never pinned"
            time.sleep(0.2)

        bench.send_signal(stop)
        _, errors = bench.communicate(timeout=120)
    finally:
        if bench.poll() is None:
            bench.kill()

    assert bench.returncode == status, errors[-2000:]
    same_affinity(before, stack_affinity())


def test_the_pinned_mode_refuses_on_one_core():
    if shutil.which("taskset") is None:
        pytest.fail("taskset is missing: apt-get install util-linux")
    first = min(os.sched_getaffinity(0))

    result = subprocess.run(
        ["taskset", "--cpu-list", str(first), sys.executable, "-m", "bench", "--mode", "pinned", "--smoke"],
        cwd=ROOT,
        env=bench_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert result.stderr == (
        "scripts/bench: the pinned mode needs two cores (the web on one, everything else on the other) and the "
        f"bench may use 1 here (CPU {first}); run `scripts/bench --mode shared` instead\n"
    )
    assert result.stdout == ""


# --- pinning other processes, put back whatever happens ------------------------------------------------


@pytest.fixture
def threaded_process():
    """A real process with a few threads (Kafka has a hundred), ended after the test."""
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import threading, time\n"
            "for _ in range(3): threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
            "print('ready', flush=True)\n"
            "time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline() == "ready\n"
    yield child.pid
    child.kill()
    child.wait()


@pytest.fixture
def record(tmp_path, monkeypatch):
    path = tmp_path / "affinity.json"
    monkeypatch.setattr(affinity, "RECORD", path)
    return path


def test_pinned_moves_every_thread_and_puts_their_cpus_back_even_when_the_block_fails(threaded_process, record):
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two cores")
    before = affinity.allowed(threaded_process)
    one = frozenset({max(os.sched_getaffinity(0))})

    seen: dict[str, Any] = {}

    def a_phase_that_fails() -> None:
        seen.update(during=affinity.allowed(threaded_process), recorded=record.exists())
        raise RuntimeError("a phase failed")

    with pytest.raises(RuntimeError, match="a phase failed"), affinity.pinned([threaded_process], one):
        a_phase_that_fails()
    during = seen["during"]
    assert seen["recorded"]

    assert len(during) == 4
    assert set(during.values()) == {one}
    assert affinity.allowed(threaded_process) == before
    assert not record.exists()


def test_recover_puts_back_what_a_killed_run_left_pinned(threaded_process, record):
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two cores")
    before = affinity.allowed(threaded_process)
    one = max(os.sched_getaffinity(0))
    # A run killed outright (SIGKILL) inside its block: nothing of its own puts anything back.
    killed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, sys\n"
            "from pathlib import Path\n"
            "from bench import affinity\n"
            "affinity.RECORD = Path(sys.argv[1])\n"
            "block = affinity.pinned([int(sys.argv[2])], frozenset({int(sys.argv[3])}))\n"
            "block.__enter__()\n"
            "os.kill(os.getpid(), 9)\n",
            str(record),
            str(threaded_process),
            str(one),
        ],
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert killed.returncode == -9
    assert set(affinity.allowed(threaded_process).values()) == {frozenset({one})}

    assert affinity.recover() == [threaded_process]

    assert affinity.allowed(threaded_process) == before
    assert not record.exists()
    assert affinity.recover() == []


def test_cpu_lists_read_and_write_as_the_kernel_does():
    assert affinity.parse_cpu_list("0-2,5,7-8\n") == frozenset({0, 1, 2, 5, 7, 8})
    assert affinity.cpu_list({8, 7, 5, 2, 1, 0}) == "0-2,5,7-8"
    assert affinity.cpu_list({3}) == "3"


def test_the_plan_gives_the_web_one_core_and_everything_else_another():
    assert affinity.plan([3, 1, 2]) == affinity.Plan(web=1, rest=2)
    with pytest.raises(affinity.Refused, match="needs two cores"):
        affinity.plan([0])


# --- the report --------------------------------------------------------------------------------------


def closed_loop(per_second: float) -> load.ClosedLoop:
    return load.ClosedLoop(requests=int(per_second * 2), seconds=2, non_2xx=0, socket_errors=0, p50_ms=1, p99_ms=2)


def pinned_results(*, held: bool) -> Results:
    options = Options(
        service_root=ROOT,
        seconds=2,
        steady_seconds=3,
        memory_events=0,
        produce_count=10,
        output=None,
        smoke=True,
        modes=("pinned",),
        plan=affinity.Plan(web=0, rest=1),
    )
    pinning = affinity.Pinning(plan=affinity.Plan(web=0, rest=1))
    web = frozenset({0})
    pinning.checks.append(
        affinity.Check(
            when="the service ready",
            seen=(
                affinity.Seen("the service's web", 10, "gunicorn master", 1, web, web),
                affinity.Seen("the service's web", 11, "gunicorn worker", 9, web if held else frozenset({0, 1}), web),
            ),
        )
    )
    shapes = {
        size: ShapeResult(events=size, ceiling=closed_loop(1000), accept=closed_loop(500), fill=closed_loop(600))
        for size in (50, 1)
    }
    return Results(
        options=options,
        mode="pinned",
        started=datetime(2026, 12, 7, 18, 30, tzinfo=UTC),
        machine="2 cores",
        shapes=shapes,
        produce_ceiling=1000,
        pinning=pinning,
    )


def test_a_pinned_run_whose_pinning_held_judges_the_accept_target():
    rows = report.table(pinned_results(held=True)).splitlines()[2:4]

    assert [cells(row)[3:] for row in rows] == [["0.50x", "≥ 0.4x: yes"], ["0.50x", "≥ 0.4x: yes"]]


def test_a_pinned_run_whose_pinning_did_not_hold_says_so_and_judges_nothing():
    results = pinned_results(held=False)

    table = report.table(results)
    section = report.section(results)

    for row in table.splitlines()[2:6]:
        assert cells(row)[3] == "— (pinning did not hold)"
        assert cells(row)[4].endswith(": not judged, the pinning did not hold")
    assert "x" not in "".join(cells(row)[3] for row in table.splitlines()[2:6])
    assert "**The pinning did not hold**" in section
    assert "- the service ready: the service's web, gunicorn worker 11 on CPUs 0-1 (wanted 0)" in section


def test_a_run_of_one_mode_keeps_the_other_modes_table_as_it_was():
    previous = report.document([pinned_results(held=True)]).replace(
        "Not measured yet: `scripts/bench --mode shared` (or `make bench`, both modes) writes it.",
        "| the shared table of an earlier run |",
    )

    again = report.document([pinned_results(held=True)], previous=previous)
    first = report.document([pinned_results(held=True)])

    assert "| the shared table of an earlier run |" in again
    assert "| the shared table of an earlier run |" not in first
    assert "Not measured yet: `scripts/bench --mode shared`" in first
    assert again.index("<!-- bench:pinned -->") < again.index("<!-- bench:shared -->")


def test_the_accept_is_cut_into_runs_of_five_seconds_or_more_that_alternate_with_the_ceilings():
    assert [run.accept_rounds(seconds) for seconds in (1, 4.9, 5, 9.9, 10, 20, 60)] == [1, 1, 1, 1, 2, 4, 12]


def test_runs_combined_are_their_requests_over_their_time_with_the_worst_p99():
    one = load.ClosedLoop(requests=1000, seconds=5, non_2xx=1, socket_errors=0, p50_ms=10, p99_ms=40)
    two = load.ClosedLoop(requests=500, seconds=5, non_2xx=0, socket_errors=2, p50_ms=20, p99_ms=90)
    both = load.combined([one, two])
    assert both.per_second == 150
    assert (both.non_2xx, both.socket_errors, both.p50_ms, both.p99_ms) == (1, 2, 15, 90)


def test_the_open_loop_runs_ahead_of_the_processes_it_shares_a_core_with_where_it_may_and_then_as_it_was():
    import threading

    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, 0)  # on Linux, the calling thread's

    before = niceness()
    seen: dict[str, int] = {}
    with load.raised_priority(before - 5):
        seen["block"] = niceness()
        started = threading.Thread(target=lambda: seen.setdefault("started", niceness()))
        started.start()
        started.join()
    seen["after"] = niceness()
    with load.raised_priority(before + 5):  # never lowered
        seen["lower asked"] = niceness()

    raised = before - 5 if os.geteuid() == 0 else before
    assert seen == {"block": raised, "started": raised, "after": before, "lower asked": before}
