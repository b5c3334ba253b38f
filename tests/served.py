"""The service's processes as they are deployed, for tests that need the real thing: gunicorn with
``eventcapture/gunicorn_conf.py`` (its threads, several workers, a metrics folder as ``scripts/run``
gives it) and ``celery -A eventcapture worker``; and a black hole, a TCP listener that accepts
connections and never answers, which is what a frozen broker or a frozen Redis looks like to a
client."""

from __future__ import annotations

import os
import socket
import sys
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path

from bench.processes import Process, wait_for_http
from tests.ports import closed_port

ROOT = Path(__file__).resolve().parents[1]


class BlackHole:
    """A loopback TCP listener that accepts every connection, reads nothing and answers nothing;
    ``accepted`` counts the connections made to it. Closed (every connection with it) by ``close``."""

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(512)
        self.port: int = self._listener.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, name="black-hole", daemon=True)
        self._thread.start()

    @property
    def accepted(self) -> int:
        with self._lock:
            return len(self._held)

    def _accept(self) -> None:
        while True:
            try:
                held, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._held.append(held)

    def close(self) -> None:
        with suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(timeout=5)
        with self._lock:
            for held in self._held:
                held.close()


@contextmanager
def black_hole() -> Iterator[BlackHole]:
    hole = BlackHole()
    try:
        yield hole
    finally:
        hole.close()


def service_env(*, tmp_path: Path, **overrides: str) -> dict[str, str]:
    """The environment of a served process: production settings (DEBUG off), a database file of
    its own unless ``DATABASE_URL`` is given, a metrics folder, this run's Redis databases."""
    env = {name: value for name, value in os.environ.items() if name != "PROMETHEUS_MULTIPROC_DIR"}
    env |= {
        "DJANGO_SETTINGS_MODULE": "eventcapture.settings",
        "SECRET_KEY": "served-test-only-not-a-secret-but-long-enough-for-the-guards",
        "DEBUG": "false",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'served.sqlite3'}",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "SCHEMA_REGISTRY_URL": "",
        "METRICS_TOKEN": "",
        "WORKER_METRICS_PORT": "0",
    }
    return env | overrides


def _metrics_folder(tmp_path: Path, name: str) -> str:
    folder = tmp_path / "metrics" / name
    folder.mkdir(parents=True, exist_ok=False)
    return str(folder)


@contextmanager
def gunicorn_web(*, env: Mapping[str, str], tmp_path: Path, workers: int = 2) -> Iterator[str]:
    """The web as ``scripts/run`` serves it (gunicorn, ``eventcapture/gunicorn_conf.py``, each
    worker's metrics in a folder of its own) on a free loopback port: its base URL, once ``/ping``
    answers."""
    port = closed_port()
    command = [sys.executable, "-m", "gunicorn", "eventcapture.wsgi", "--config", "eventcapture/gunicorn_conf.py"]
    command += ["--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
    process = Process(
        command,
        cwd=ROOT,
        env={**env, "PROMETHEUS_MULTIPROC_DIR": _metrics_folder(tmp_path, f"web-{uuid.uuid4().hex[:6]}")},
        log=tmp_path / f"gunicorn-{port}.log",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/ping", process=process, timeout=90)
        yield url
    finally:
        process.stop(timeout=30)


@contextmanager
def celery_worker(*, env: Mapping[str, str], tmp_path: Path) -> Iterator[str]:
    """``celery -A eventcapture worker`` as ``scripts/run`` starts it (a metrics folder of its
    own), its exporter on a free loopback port: the exporter's base URL, once it answers."""
    port = closed_port()
    command = [sys.executable, "-m", "celery", "-A", "eventcapture", "worker", "--loglevel", "INFO"]
    command += ["--hostname", f"served-{uuid.uuid4().hex[:8]}@%h", "--without-gossip", "--without-mingle"]
    process = Process(
        command,
        cwd=ROOT,
        env={
            **env,
            "PROMETHEUS_MULTIPROC_DIR": _metrics_folder(tmp_path, f"worker-{uuid.uuid4().hex[:6]}"),
            "WORKER_METRICS_HOST": "127.0.0.1",
            "WORKER_METRICS_PORT": str(port),
        },
        log=tmp_path / f"worker-{port}.log",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/metrics", process=process, timeout=120)
        yield url
    finally:
        process.stop(timeout=30)
