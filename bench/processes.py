"""The processes the bench runs and watches: the service (``scripts/run``), the ceiling app, and
the resident memory of a process group's web and worker processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from celery import Celery

QUEUE = "celery"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class Process:
    """A command in a process group of its own, its output in ``log``; stopped with SIGTERM (as a
    supervisor does), then SIGKILL to whatever is left of the group."""

    def __init__(self, command: list[str], *, cwd: Path, env: dict[str, str], log: Path) -> None:
        self.command = command
        log.parent.mkdir(parents=True, exist_ok=True)
        self.log = log
        with log.open("wb") as output:
            self.popen = subprocess.Popen(
                command, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 90) -> None:
        if self.running():
            self.popen.send_signal(signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=timeout)
        with suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        if self.running():
            self.popen.wait(timeout=30)


def wait_for_http(url: str, *, process: Process, timeout: float) -> None:
    """Until ``url`` answers 200; fails early when the process exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.running():
            raise RuntimeError(f"{process.command[0]} exited:\n{process.log_tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 (a loopback URL the bench made)
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer 200 within {timeout:.0f}s:\n{process.log_tail()}")


class WorkerControl:
    """Celery's remote control of the service's worker: is it up, stop and resume consuming."""

    def __init__(self, broker_url: str) -> None:
        self.app = Celery("bench", broker=broker_url)

    def wait_ready(self, *, process: Process, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not process.running():
                raise RuntimeError(f"the service exited:\n{process.log_tail()}")
            if self.app.control.ping(timeout=1.0):
                return
        raise TimeoutError(f"the worker did not answer a ping within {timeout:.0f}s:\n{process.log_tail()}")

    def _intake(self, command: str) -> bool:
        """A worker with an intake (kafka_bridge/intake.py) takes batches through it, not through
        Celery's consumer; True when it answered ``command``."""
        replies = self.app.control.broadcast(command, reply=True, timeout=5, limit=1) or []
        return any("ok" in answer for reply in replies for answer in reply.values())

    def consuming(self) -> bool:
        replies = self.app.control.inspect(timeout=2).active_queues() or {}
        return any(queue["name"] == QUEUE for queues in replies.values() for queue in queues)

    def pause(self) -> None:
        if self._intake("intake_pause"):
            return
        # Without an intake: Celery's consumer. A worker that has just started may still be
        # setting it up: ask until it holds.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            self.app.control.cancel_consumer(QUEUE, reply=True, timeout=5, limit=1)
            if not self.consuming():
                return
            time.sleep(0.5)
        raise RuntimeError("the worker did not stop consuming")

    def resume(self) -> None:
        if self._intake("intake_resume"):
            return
        if not self.app.control.add_consumer(QUEUE, reply=True, timeout=5, limit=1):
            raise RuntimeError("the worker did not resume consuming")


@dataclass(frozen=True)
class Memory:
    """Resident memory in MiB of a group's web (gunicorn) and worker (celery) processes: now, and
    the sum of each process's peak."""

    web: float
    worker: float
    web_peak: float
    worker_peak: float


def _status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass(frozen=True)
class Member:
    pid: int
    parent: int
    command: str

    @property
    def kind(self) -> str | None:
        """ "web" (gunicorn), "worker" (celery) or None (the script that started them)."""
        return "web" if "gunicorn" in self.command else "worker" if "celery" in self.command else None


def members(group: int) -> list[Member]:
    """The live processes of process group ``group``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) != group or fields[0] == "Z":
                continue
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
        found.append(Member(pid=int(stat.parent.name), parent=int(fields[1]), command=command))
    return found


def web_processes(group: int) -> list[tuple[int, str]]:
    """The gunicorn processes of ``group``, each named master or worker, masters first."""
    web = [member for member in members(group) if member.kind == "web"]
    pids = {member.pid for member in web}
    named = [(member.pid, "gunicorn worker" if member.parent in pids else "gunicorn master") for member in web]
    return sorted(named, key=lambda one: (one[1] != "gunicorn master", one[0]))


def memory(group: int) -> Memory:
    sums = {"web": [0, 0], "worker": [0, 0]}
    for member in members(group):
        if member.kind is not None:
            sums[member.kind][0] += _status_kib(member.pid, "VmRSS")
            sums[member.kind][1] += _status_kib(member.pid, "VmHWM")
    return Memory(
        web=sums["web"][0] / 1024,
        worker=sums["worker"][0] / 1024,
        web_peak=sums["web"][1] / 1024,
        worker_peak=sums["worker"][1] / 1024,
    )
