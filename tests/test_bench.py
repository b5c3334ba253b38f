"""`make bench` keeps working: a smoke run (a few seconds a phase) prints every row of its table.
Its numbers are not checked here: the bench measures, the tests check behaviour."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.integration


def test_a_smoke_run_of_the_bench_prints_every_row(tmp_path):
    if shutil.which("wrk") is None:
        pytest.fail("wrk is missing: apt-get install wrk (CI installs it)")
    report = tmp_path / "benchmarks.md"
    # The bench runs the service with scripts/run on settings of its own, not the suite's
    # (tests/settings.py puts these in the environment).
    suite = {"DJANGO_SETTINGS_MODULE", "SECRET_KEY", "REGISTRY_CACHE_SECONDS", "KAFKA_TOPIC_PREFIX"}
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in suite and not name.startswith(("CELERY_", "RATE_LIMIT", "RATELIMIT_"))
    }

    result = subprocess.run(
        [str(ROOT / "scripts" / "bench"), "--smoke", "--output", str(report)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("|")]
    labels = [row.split("|")[1].strip() for row in rows[2:]]
    for expected in (
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
    ):
        assert any(label.startswith(expected) for label in labels), f"no row {expected!r} in:\n{result.stdout}"
    assert "—" not in "".join(row.split("|")[3] for row in rows[2:4]), "no accept figures"
    written = report.read_text()
    assert written.startswith("# Benchmarks")
    assert "\n".join(rows) in written
