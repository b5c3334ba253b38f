"""The machinery of the fault drills: a Kafka broker and a Redis of their own (``scripts/stack``
with a state folder and ports of the run's own), real Celery worker processes, a client that posts
batches to the live server, and a ledger of what reached Kafka, counted by ``event_id``."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import redis
import requests
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from tests.factories import batch, nudged

ROOT = Path(__file__).resolve().parents[2]
STACK_SCRIPT = ROOT / "scripts" / "stack"
# Each run's services and logs live in DRILLS_DIR/run-<pid of pytest>; the last finished run's logs
# are kept in DRILLS_DIR/last-run.
DRILLS_DIR = ROOT / ".stack" / "drills"

# Seconds before Redis hands a task a worker took but never acknowledged to another worker. The
# service's default is an hour; the drills use a short one so a killed worker's tasks come back
# within the drill (kombu restores them when a worker starts, or in its periodic sweep).
VISIBILITY_TIMEOUT = 10
# Seconds the worker waits for Kafka's delivery reports before retrying a batch (default 30).
DELIVERY_TIMEOUT = 5
# Seconds to wait for every accepted event to show up in Kafka once the fault is over.
DRAIN_TIMEOUT = 150


class DrillError(Exception):
    """The drill's machinery failed (a service would not start, a worker died at start-up)."""


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise DrillError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def _free_ports(count: int) -> list[int]:
    """Distinct loopback ports nothing listened on a moment ago."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


class QueueDepth(NamedTuple):
    queued: int  # tasks waiting in the queue
    unacked: int  # tasks a worker took and has not acknowledged (Redis keeps them for re-delivery)

    @property
    def total(self) -> int:
        return self.queued + self.unacked


class DrillStack:
    """Kafka (KRaft) and Redis (append-only) run by ``scripts/stack`` in a folder and on ports of
    their own: stopping them never touches the services other tests or ``make run`` use."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.kafka_port, self.controller_port, self.sasl_port, self.redis_port = _free_ports(4)
        self.logs = directory / "logs"
        self.env = {
            **os.environ,
            "STACK_DIR": str(directory),
            "KAFKA_HOST": "127.0.0.1",
            "KAFKA_PORT": str(self.kafka_port),
            "KAFKA_CONTROLLER_PORT": str(self.controller_port),
            # Not the main stack's SASL port (9094), which its broker holds.
            "KAFKA_SASL_PORT": str(self.sasl_port),
            "REDIS_HOST": "127.0.0.1",
            "REDIS_PORT": str(self.redis_port),
        }

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def broker_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def _stack(self, *args: str) -> None:
        result = subprocess.run(
            [str(STACK_SCRIPT), *args], env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=180, check=False
        )
        if result.returncode != 0:
            raise DrillError(f"scripts/stack {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")

    def up(self, *services: str) -> None:
        for service in services:
            self._stack("up", service)

    def down(self, *services: str) -> None:
        self._stack("down", *services)

    @contextmanager
    def _frozen(self, service: str, marker: str) -> Iterator[None]:
        """``service`` stopped with SIGSTOP, then resumed with SIGCONT, once its pid file names a
        process whose command line holds ``marker`` (never a process of another stack)."""
        pid = int((self.directory / "run" / f"{service}.pid").read_text().strip())
        if marker not in _cmdline(pid):
            raise DrillError(f"pid {pid} is not the drills' {service}")
        os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(pid, signal.SIGCONT)

    def kafka_frozen(self) -> AbstractContextManager[None]:
        """The broker frozen: its connections stay open, so what clients send waits, unanswered,
        in its socket buffers, and is handled on resume."""
        return self._frozen("kafka", str(self.directory))

    def redis_frozen(self) -> AbstractContextManager[None]:
        """Redis frozen: connections stay open and new ones are still accepted by the kernel, but
        nothing is answered (a stuck server, a network partition), unlike a stopped Redis, whose
        port refuses at once."""
        return self._frozen("redis", f"127.0.0.1:{self.redis_port}")

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.broker_url, socket_timeout=5, socket_connect_timeout=5)

    def queue_depth(self) -> QueueDepth:
        client = self.redis()
        try:
            queued = sum(
                int(client.llen(key))
                for pattern in ("celery*", "deliver*")
                for key in client.scan_iter(pattern)
                if client.type(key) == b"list"
            )
            return QueueDepth(queued=queued, unacked=int(client.hlen("unacked")))
        finally:
            client.close()

    def unacked_since(self) -> float | None:
        """When (Unix time) the most recently taken unacknowledged task was taken, if any."""
        client = self.redis()
        try:
            newest = client.zrange("unacked_index", -1, -1, withscores=True)
        finally:
            client.close()
        return float(newest[0][1]) if newest else None

    def queue_flush(self) -> None:
        client = self.redis()
        try:
            client.flushdb()
        finally:
            client.close()

    def topic_create(self, topic: str, *, partitions: int = 3) -> None:
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        if topic not in admin.list_topics(timeout=15).topics:
            futures = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
            futures[topic].result(timeout=30)

        def leaders() -> bool:
            metadata = admin.list_topics(topic, timeout=15).topics.get(topic)
            if metadata is None or not metadata.partitions:
                return False
            return all(partition.leader >= 0 for partition in metadata.partitions.values())

        wait_for(leaders, timeout=30, what=f"leaders of {topic}")


def _libs_share(directory: Path) -> None:
    """Hard-links the Kafka jars of the main stack into the drills' folder (no second download);
    without them ``scripts/stack`` resolves the jars itself."""
    main = Path(os.environ.get("STACK_DIR") or ROOT / ".stack") / "kafka" / "libs"
    target = directory / "kafka" / "libs"
    if not (main / ".complete").is_file() or target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        shutil.copytree(main, target, copy_function=os.link)
    except OSError:
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(main, target)


def _leftovers_clean() -> None:
    """Stops what an earlier run killed before its clean-up left behind: the services (by their
    pid files) and the worker processes (by the pid files of their process groups)."""
    for directory in DRILLS_DIR.glob("run-*"):
        owner = directory.name.removeprefix("run-")
        if owner.isdigit() and _alive(int(owner)) and "python" in _cmdline(int(owner)):
            continue  # another run, still going
        for pid_file in (directory / "run").glob("worker-*.pid"):
            pid = int(pid_file.read_text().strip() or 0)
            if pid and _alive(pid) and "celery" in _cmdline(pid):
                with suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
        subprocess.run(
            [str(STACK_SCRIPT), "down", "all"],
            env={**os.environ, "STACK_DIR": str(directory)},
            capture_output=True,
            timeout=120,
            check=False,
        )
        shutil.rmtree(directory, ignore_errors=True)


def drill_stack_start() -> DrillStack:
    DRILLS_DIR.mkdir(parents=True, exist_ok=True)
    _leftovers_clean()
    directory = DRILLS_DIR / f"run-{os.getpid()}"
    shutil.rmtree(directory, ignore_errors=True)
    (directory / "run").mkdir(parents=True)
    _libs_share(directory)
    stack = DrillStack(directory)
    try:
        stack.up("kafka", "redis")
    except BaseException:
        drill_stack_stop(stack)
        raise
    return stack


def drill_stack_stop(stack: DrillStack) -> None:
    """Stops the services and keeps only the logs, in DRILLS_DIR/last-run."""
    try:
        stack.down("kafka", "redis")
    finally:
        last = DRILLS_DIR / "last-run"
        shutil.rmtree(last, ignore_errors=True)
        if stack.logs.is_dir():
            shutil.move(stack.logs, last)
        shutil.rmtree(stack.directory, ignore_errors=True)


class Worker:
    """``celery -A eventcapture worker`` as the service runs it (its pool of threads, as settings
    say), a process group of its own."""

    def __init__(self, *, name: str, env: dict[str, str], stack: DrillStack) -> None:
        self.name = name
        stack.logs.mkdir(parents=True, exist_ok=True)
        self.log_path = stack.logs / f"worker-{name}.log"
        command = [sys.executable, "-m", "celery", "-A", "eventcapture", "worker", "--loglevel", "INFO"]
        command += ["--hostname", f"{name}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat"]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        (stack.directory / "run" / f"worker-{name}.pid").write_text(str(self.process.pid))

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def wait_ready(self, timeout: float = 60) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise DrillError(f"worker {self.name} exited ({self.process.returncode}):\n{self.log_tail()}")
            return re.search(r"@\S+ ready\.", self.log()) is not None

        wait_for(ready, timeout=timeout, what=f"worker {self.name} to be ready")

    def kill(self) -> None:
        """SIGKILLs the whole worker (its process group), as a crash or the OOM killer would."""
        with suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def terminate(self, timeout: float = 90) -> int:
        """SIGTERM to the main process (what ``docker stop`` and ``scripts/run`` send): Celery's warm
        shutdown finishes the tasks in hand. Returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise DrillError(f"worker {self.name} did not exit within {timeout:.0f}s:\n{self.log_tail()}") from None

    def stop(self) -> None:
        """Clean-up: whatever is left of the process group goes."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=30)
        with suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.wait(timeout=30)


# drill_workers: starts a worker (keyword arguments: delivery_timeout, ready) and returns it.
WorkerStart = Callable[..., Worker]


@dataclass
class Posted:
    """What the API answered to the batches a drill posted."""

    accepted: list[str] = field(default_factory=list)  # event ids of 202 answers
    accepted_keys: set[str] = field(default_factory=set)  # Kafka keys (session_uuid) of accepted batches
    refused_keys: set[str] = field(default_factory=set)  # ... and of batches answered otherwise
    statuses: Counter[int] = field(default_factory=Counter)
    accepted_at: list[float] = field(default_factory=list)  # monotonic time of each 202
    without_retry_after: int = 0  # 503 answers without a Retry-After header
    problems: list[str] = field(default_factory=list)
    slowest: float = 0.0  # seconds the slowest answer took

    def __iadd__(self, other: Posted) -> Posted:
        self.accepted += other.accepted
        self.accepted_keys |= other.accepted_keys
        self.refused_keys |= other.refused_keys
        self.statuses += other.statuses
        self.accepted_at += other.accepted_at
        self.without_retry_after += other.without_retry_after
        self.problems += other.problems
        self.slowest = max(self.slowest, other.slowest)
        return self


class Client:
    """Posts batches of nudged events to the live server. Every batch has a session_uuid (the
    Kafka key) of its own, so the ledger can tell a drill's records from any others."""

    def __init__(self, base_url: str) -> None:
        self.url = f"{base_url}/api/v0/events"
        self.session = requests.Session()

    def post_batch(self, posted: Posted, *, size: int) -> int:
        key = str(uuid.uuid4())
        body = batch(*(nudged(session_uuid=key, session_order=order) for order in range(size)))
        started = time.monotonic()
        try:
            response = self.session.post(self.url, json=body, timeout=30)
        except requests.RequestException as exc:
            posted.refused_keys.add(key)
            posted.problems.append(f"no answer: {exc}")
            return 0
        finally:
            posted.slowest = max(posted.slowest, time.monotonic() - started)
        posted.statuses[response.status_code] += 1
        if response.status_code == 202:
            ids = response.json()["ids"]
            if len(ids) != size:
                posted.problems.append(f"202 with {len(ids)} ids for {size} events")
            posted.accepted += ids
            posted.accepted_keys.add(key)
            posted.accepted_at.append(time.monotonic())
        else:
            posted.refused_keys.add(key)
            if response.status_code == 503:
                if not response.headers.get("Retry-After"):
                    posted.without_retry_after += 1
            else:
                posted.problems.append(f"{response.status_code}: {response.text[:300]}")
        return response.status_code

    def post(self, *, batches: int, size: int = 50) -> Posted:
        posted = Posted()
        for _ in range(batches):
            self.post_batch(posted, size=size)
        return posted

    def post_paced(self, *, batches: int, size: int, seconds: float) -> tuple[threading.Thread, Posted]:
        """Posts ``batches`` evenly over ``seconds`` from a thread; join the thread, then read."""
        posted = Posted()

        def run() -> None:
            start = time.monotonic()
            for number in range(batches):
                time.sleep(max(0.0, start + number * seconds / batches - time.monotonic()))
                self.post_batch(posted, size=size)

        thread = threading.Thread(target=run, name="drill-poster", daemon=True)
        thread.start()
        return thread, posted


@dataclass
class Tally:
    """What reached Kafka of a drill's accepted events."""

    drill: str
    accepted: int
    delivered: int  # accepted ids seen at least once
    duplicates: int  # extra copies of accepted ids (same event_id)
    records: int  # every record with one of the drill's keys
    stray: int  # records with one of the drill's keys and an id the API never returned in a 202
    refused: int  # batches answered with something other than 202 (503s)
    lost_ids: list[str]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def lost(self) -> int:
        return self.accepted - self.delivered

    def line(self) -> str:
        extra = "".join(f", {name} {value}" for name, value in self.extra.items())
        return (
            f"drill {self.drill}: accepted {self.accepted}, delivered {self.delivered}, lost {self.lost}, "
            f"duplicates {self.duplicates}, stray {self.stray}, refused batches {self.refused}{extra}"
        )


def _event_id(headers: Any) -> str | None:
    for name, value in headers or []:
        if name == "event_id" and value is not None:
            return value.decode() if isinstance(value, bytes) else str(value)
    return None


def kafka_records(*, bootstrap: str, topic: str, keys: set[str], wanted: set[str], timeout: float) -> Iterator[str]:
    """The event id of every record of ``topic`` whose key is in ``keys``, read from the beginning;
    returns once every id in ``wanted`` was seen and every partition was read to its end (or after
    ``timeout`` seconds)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"drill-ledger-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                metadata = consumer.list_topics(topic, timeout=10).topics[topic]
                partitions = sorted(metadata.partitions)
                if partitions:
                    break
            except Exception:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.5)
        consumer.assign([TopicPartition(topic, number, OFFSET_BEGINNING) for number in partitions])
        at_end: set[int] = set()
        missing = set(wanted)
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                if not missing and at_end == set(partitions):
                    return
                continue
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    at_end.add(message.partition() or 0)
                    continue
                if error.fatal():
                    raise DrillError(f"reading {topic}: {error}")
                continue  # transient: a broker that just came back, a leader being elected
            at_end.discard(message.partition() or 0)
            key = message.key()
            if (key.decode() if isinstance(key, bytes) else key) not in keys:
                continue
            event_id = _event_id(message.headers())
            if event_id is not None:
                missing.discard(event_id)
                yield event_id
    finally:
        consumer.close()


def tally(*, drill: str, bootstrap: str, topic: str, posted: Posted, timeout: float) -> Tally:
    accepted = set(posted.accepted)
    seen: Counter[str] = Counter(
        kafka_records(
            bootstrap=bootstrap,
            topic=topic,
            keys=posted.accepted_keys | posted.refused_keys,
            wanted=accepted,
            timeout=timeout,
        )
    )
    delivered = [event_id for event_id in accepted if seen[event_id]]
    return Tally(
        drill=drill,
        accepted=len(accepted),
        delivered=len(delivered),
        duplicates=sum(seen[event_id] - 1 for event_id in delivered),
        records=sum(seen.values()),
        stray=sum(count for event_id, count in seen.items() if event_id not in accepted),
        refused=len(posted.refused_keys),
        lost_ids=sorted(accepted - set(delivered))[:10],
    )
