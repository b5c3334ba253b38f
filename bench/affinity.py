"""CPU affinity for the bench's pinned mode: the web on one core of its own, everything else on
another, as a deployment gives the web a core (or a machine) of its own.

On Linux affinity belongs to each thread, and a new thread or process starts with its creator's.
A process started pinned (``taskset``) keeps its children pinned; one already running (Kafka,
Redis, the gunicorn that ``scripts/run`` starts) is pinned thread by thread, until a pass finds
none left to move. What holds is read back from the kernel (``Cpus_allowed_list`` in
``/proc/<pid>/task/<tid>/status``), never assumed.

Kafka and Redis are shared with whatever else uses them: their affinity before the run is put
back afterwards, and written to a file first, so that a bench killed outright (SIGKILL) has it
put back by the next one.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import orjson

# What a run left pinned, until it is put back; and the lock that keeps two benches from running
# at once (they share Kafka, Redis and the bench's Redis databases). The system's temporary folder:
# every checkout's bench uses the same Kafka and Redis.
RECORD = Path(tempfile.gettempdir()) / "eventcapture-bench-affinity.json"
LOCK = Path(tempfile.gettempdir()) / "eventcapture-bench.lock"
# Passes over a running process's threads before giving up on moving them all (a process that
# keeps starting threads from threads not yet moved).
PIN_PASSES = 10


class Refused(Exception):
    """The pinned mode cannot run here."""


def cpu_list(cpus: Iterable[int]) -> str:
    """``{0, 1, 2, 5}`` as the kernel writes it: ``0-2,5``."""
    ordered = sorted(set(cpus))
    ranges: list[str] = []
    start = previous = None
    for cpu in [*ordered, None]:
        if cpu is not None and previous is not None and cpu == previous + 1:
            previous = cpu
            continue
        if start is not None:
            ranges.append(str(start) if start == previous else f"{start}-{previous}")
        start = previous = cpu
    return ",".join(ranges)


def parse_cpu_list(text: str) -> frozenset[int]:
    cpus: set[int] = set()
    for part in text.strip().split(","):
        if not part:
            continue
        first, _, last = part.partition("-")
        cpus.update(range(int(first), int(last or first) + 1))
    return frozenset(cpus)


@dataclass(frozen=True)
class Plan:
    """The web's core and the core everything else shares."""

    web: int
    rest: int


def plan(allowed: Iterable[int] | None = None) -> Plan:
    """One core for the web, another for the rest, of those this process may use; refused with
    fewer than two. On a bigger machine still one core each, as on the two-core machine the
    targets were set for."""
    cpus = sorted(os.sched_getaffinity(0) if allowed is None else allowed)
    if len(cpus) < 2:
        raise Refused(
            f"the pinned mode needs two cores (the web on one, everything else on the other) and the bench "
            f"may use {len(cpus)} here (CPU {cpu_list(cpus)}); run `scripts/bench --mode shared` instead"
        )
    return Plan(web=cpus[0], rest=cpus[1])


# --- reading and setting it ------------------------------------------------------------------------


def threads(pid: int) -> list[int]:
    try:
        return sorted(int(tid) for tid in os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return []


def allowed(pid: int) -> dict[int, frozenset[int]]:
    """Each thread's ``Cpus_allowed_list`` as the kernel reports it (threads that ended meanwhile
    are left out)."""
    found = {}
    for tid in threads(pid):
        with suppress(OSError):
            for line in Path(f"/proc/{pid}/task/{tid}/status").read_text().splitlines():
                if line.startswith("Cpus_allowed_list:"):
                    found[tid] = parse_cpu_list(line.split(":", 1)[1])
    return found


def pin(pid: int, cpus: frozenset[int]) -> None:
    """Every thread of ``pid`` onto ``cpus``, threads started meanwhile too."""
    for _ in range(PIN_PASSES):
        moved = 0
        for tid in threads(pid):
            try:
                if os.sched_getaffinity(tid) != cpus:
                    os.sched_setaffinity(tid, cpus)
                    moved += 1
            except ProcessLookupError:
                continue  # the thread ended
            except PermissionError as error:
                raise RuntimeError(
                    f"cannot pin pid {pid}: {error.strerror}; run the bench as the user that runs it"
                ) from error
        if not moved:
            return
    raise RuntimeError(f"pid {pid} kept starting threads on other CPUs; gave up after {PIN_PASSES} passes")


def started_at(pid: int) -> int | None:
    """The process's start time (clock ticks after boot): with the pid, it names one process, not
    a later one that reuses the number."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def listener(port: int) -> int | None:
    """The process listening on TCP ``port`` (IPv4 or IPv6), or None."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                    inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return None
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        with suppress(OSError):
            for fd in fd_dir.iterdir():
                with suppress(OSError):
                    if os.readlink(fd) in inodes:
                        return int(fd_dir.parent.name)
    return None


def stack_process(name: str, port: int) -> int:
    """The pid of the Kafka or Redis the bench uses (``name`` in its command line), found by the
    port it listens on: scripts/stack's, started from this checkout or another."""
    pid = listener(port)
    if pid is None:
        raise Refused(f"nothing this user can see listens on port {port} ({name}): cannot pin it")
    if name.lower() not in command(pid).lower():
        raise Refused(
            f"the process listening on port {port} (pid {pid}: {command(pid)[:80]!r}) is not {name}'s own "
            f"(a container's proxy?): the pinned mode pins the local stack's (scripts/stack)"
        )
    return pid


# --- pinning other processes for a while ----------------------------------------------------------


@dataclass
class _Saved:
    pid: int
    started: int | None
    threads: dict[int, list[int]] = field(default_factory=dict)  # tid -> its CPUs before


def _restore(saved: _Saved) -> None:
    if saved.started is None or started_at(saved.pid) != saved.started:
        return  # gone, or its pid reused: nothing of ours to put back
    before = {tid: frozenset(cpus) for tid, cpus in saved.threads.items()}
    # Threads started during the run take the process's own (its first thread's) affinity back.
    default = before.get(saved.pid) or frozenset().union(*before.values())
    if not default:
        return
    for tid in threads(saved.pid):
        with suppress(ProcessLookupError):
            os.sched_setaffinity(tid, before.get(tid, default))


def _write_record(saved: Iterable[_Saved]) -> None:
    records = [{"pid": s.pid, "started": s.started, "threads": s.threads} for s in saved]
    temporary = RECORD.with_suffix(".tmp")
    temporary.write_bytes(orjson.dumps(records, option=orjson.OPT_NON_STR_KEYS))
    temporary.replace(RECORD)


def recover() -> list[int]:
    """Put back what a bench killed during its pinned run left pinned; the pids put back."""
    try:
        records = orjson.loads(RECORD.read_bytes())
    except FileNotFoundError:
        return []
    except orjson.JSONDecodeError:
        records = []
    put_back = []
    for record in records:
        saved = _Saved(
            pid=record["pid"],
            started=record["started"],
            threads={int(tid): cpus for tid, cpus in record["threads"].items()},
        )
        if started_at(saved.pid) == saved.started:
            _restore(saved)
            put_back.append(saved.pid)
    RECORD.unlink(missing_ok=True)
    return put_back


@contextmanager
def pinned(pids: Iterable[int], cpus: frozenset[int]) -> Iterator[None]:
    """``pids`` (every thread) on ``cpus`` inside the block; their affinity before it put back
    after, whatever ends the block."""
    saved = [
        _Saved(
            pid=pid,
            started=started_at(pid),
            threads={tid: sorted(tid_cpus) for tid, tid_cpus in allowed(pid).items()},
        )
        for pid in pids
    ]
    _write_record(saved)
    try:
        for pid in (s.pid for s in saved):
            pin(pid, cpus)
        yield
    finally:
        for one in saved:
            _restore(one)
        RECORD.unlink(missing_ok=True)


# --- checking --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """One process as a check found it: its threads' CPUs (the union), and the CPUs it should have."""

    group: str  # "the ceiling app's web", "Kafka", ...
    pid: int
    name: str  # "gunicorn master", "gunicorn worker", "celery", ...
    threads: int
    cpus: frozenset[int]
    wanted: frozenset[int]

    @property
    def held(self) -> bool:
        return self.cpus == self.wanted


@dataclass(frozen=True)
class Check:
    when: str
    seen: tuple[Seen, ...]
    missing: tuple[str, ...] = ()  # groups that should have had processes and had none

    @property
    def held(self) -> bool:
        return not self.missing and all(seen.held for seen in self.seen)


@dataclass
class Pinning:
    """Where the pinned mode put things, and every check of it during the run."""

    plan: Plan
    checks: list[Check] = field(default_factory=list)

    @property
    def held(self) -> bool:
        return bool(self.checks) and all(check.held for check in self.checks)

    def check(self, when: str, groups: Mapping[str, tuple[list[tuple[int, str]], frozenset[int]]]) -> Check:
        """Reads the affinity of every thread of every process of ``groups`` (name -> (pid and
        name of each process, the CPUs wanted)) and records it."""
        seen = []
        missing = []
        for group, (members, wanted) in groups.items():
            found = 0
            for pid, name in members:
                per_thread = allowed(pid)
                if not per_thread:
                    continue  # ended meanwhile
                found += 1
                cpus = frozenset().union(*per_thread.values())
                seen.append(Seen(group=group, pid=pid, name=name, threads=len(per_thread), cpus=cpus, wanted=wanted))
            if not found:
                missing.append(group)
        check = Check(when=when, seen=tuple(seen), missing=tuple(missing))
        self.checks.append(check)
        return check


# --- one bench at a time ---------------------------------------------------------------------------


@contextmanager
def only_bench(say: Callable[[str], None]) -> Iterator[None]:
    """Waits for any other bench on this machine to finish, and holds the lock until the block ends."""
    with LOCK.open("a+") as lock:
        if not _try_lock(lock):
            lock.seek(0)
            say(f"another bench is running (pid {lock.read().strip() or '?'}); waiting for it to finish")
            fcntl.flock(lock, fcntl.LOCK_EX)
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        try:
            yield
        finally:
            lock.truncate(0)
            fcntl.flock(lock, fcntl.LOCK_UN)


def _try_lock(lock: IO[str]) -> bool:
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
