"""``make run`` as a supervisor runs it: a SIGTERM to its whole process group stops everything it
started (gunicorn, the worker, and the Kafka broker and Redis it brought up). Runs on a stack of
its own (folder, ports), so the services other tests use are never touched."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.drills.harness import _free_ports, _libs_share

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parent.parent


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie of a process that already ended counts as gone.
    return "Z" not in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 (a loopback URL of the test's own)
            return bool(response.status == 200)
    except OSError:
        return False


def test_sigterm_to_make_runs_process_group_stops_everything_it_started(tmp_path):
    stack_dir = tmp_path / "stack"
    _libs_share(stack_dir)
    kafka_port, controller_port, sasl_port, redis_port, web_port = _free_ports(5)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "eventcapture.settings",
        "SECRET_KEY": "run-script-test-key-long-enough-for-the-production-guards",
        "STACK_DIR": str(stack_dir),
        "KAFKA_PORT": str(kafka_port),
        "KAFKA_CONTROLLER_PORT": str(controller_port),
        "KAFKA_SASL_PORT": str(sasl_port),
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{kafka_port}",
        "REDIS_PORT": str(redis_port),
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
        "RATELIMIT_CACHE_URL": f"redis://127.0.0.1:{redis_port}/1",
        "PORT": str(web_port),
        "WORKER_METRICS_PORT": "0",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "METRICS_DIR": str(tmp_path / "metrics"),
    }
    log = (tmp_path / "run.log").open("w")
    run = subprocess.Popen(
        ["make", "run"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 180
        while not _answers(f"http://127.0.0.1:{web_port}/ping"):
            assert run.poll() is None, (tmp_path / "run.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "make run did not serve within 180 s"
            time.sleep(0.5)
        started = {name: int((stack_dir / "run" / f"{name}.pid").read_text()) for name in ("kafka", "redis")}
        assert all(_alive(pid) for pid in started.values())

        # What a supervisor does: the whole group at once (make forwards it to the script too).
        os.killpg(run.pid, signal.SIGTERM)
        run.wait(timeout=120)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
        log.close()

    output = (tmp_path / "run.log").read_text()
    assert "run: stopping" in output, output[-3000:]
    assert not [name for name, pid in started.items() if _alive(pid)], output[-3000:]
    assert not _answers(f"http://127.0.0.1:{web_port}/ping")
