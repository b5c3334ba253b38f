"""Load: wrk for closed loops (each connection sends its next request when the last is answered),
and an open-loop generator (requests at a fixed rate, whatever the answers do)."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import orjson

LUA = Path(__file__).with_name("post.lua")
CONNECTIONS = 16
WRK_THREADS = 2
# The load generators' scheduling priority in the pinned mode, wrk's and the open loop's (nice;
# root may raise it, others run them as they are).
WRK_NICE_PINNED = -10


@dataclass(frozen=True)
class ClosedLoop:
    requests: int
    seconds: float
    non_2xx: int
    socket_errors: int
    p50_ms: float
    p99_ms: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk(url: str, *, body: Path, seconds: float, connections: int = CONNECTIONS, nice: int = 0) -> ClosedLoop:
    """``connections`` connections posting ``body`` to ``url`` for ``seconds``; at the scheduling
    priority ``nice`` (negative: ahead of the processes it shares a core with, where allowed)."""
    command = ["wrk", f"-t{WRK_THREADS}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "-s", str(LUA), url]
    if nice:
        command = ["nice", "-n", str(nice), *command]
    result = subprocess.run(
        command,
        env={**os.environ, "BODY": str(body)},
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    summary = next((line for line in result.stdout.splitlines() if line.startswith("{")), None)
    if summary is None:
        raise RuntimeError(f"wrk printed no summary:\n{result.stdout}\n{result.stderr}")
    return ClosedLoop(**orjson.loads(summary))


def combined(runs: Sequence[ClosedLoop]) -> ClosedLoop:
    """Several runs of the same load as one: their requests over their time (the mean rate), the
    errors summed, the mean of their medians and the worst of their 99th percentiles."""
    return ClosedLoop(
        requests=sum(run.requests for run in runs),
        seconds=sum(run.seconds for run in runs),
        non_2xx=sum(run.non_2xx for run in runs),
        socket_errors=sum(run.socket_errors for run in runs),
        p50_ms=sum(run.p50_ms for run in runs) / len(runs),
        p99_ms=max(run.p99_ms for run in runs),
    )


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


@dataclass
class OpenLoop:
    rate: float
    seconds: float
    statuses: Counter[int] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)  # from each request's planned start to its answer
    accepted_events: int = 0
    # (the first event id of an accepted request, Unix time its answer arrived)
    answered: list[tuple[str, float]] = field(default_factory=list)
    late_starts: int = 0  # requests started more than 10 ms after their planned time (the generator fell behind)

    @property
    def sent(self) -> int:
        return sum(self.statuses.values())


class _Connection:
    """One keep-alive HTTP/1.1 connection, reopened when the server closes it."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def send(self, request: bytes) -> tuple[int, bytes]:
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {
            name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])
        }
        answer = await self.reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, answer

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


async def _open_loop(url: str, body: bytes, *, events: int, rate: float, seconds: float, workers: int) -> OpenLoop:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    result = OpenLoop(rate=rate, seconds=seconds)
    total = int(rate * seconds)
    numbers = itertools.count()
    started = time.monotonic() + 0.2

    async def worker() -> None:
        connection = _Connection(host, port)
        try:
            while (number := next(numbers)) < total:
                planned = started + number / rate
                delay = planned - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                elif delay < -0.01:
                    result.late_starts += 1
                try:
                    status, answer = await connection.send(request)
                except (OSError, asyncio.IncompleteReadError):
                    await connection.close()
                    status, answer = 0, b""
                result.latencies_ms.append((time.monotonic() - planned) * 1000)
                result.statuses[status] += 1
                if status == 202:
                    result.accepted_events += events
                    result.answered.append((orjson.loads(answer)["ids"][0], time.time()))
        finally:
            await connection.close()

    await asyncio.gather(*(worker() for _ in range(workers)))
    return result


def open_loop(
    url: str, body: bytes, *, events: int, rate: float, seconds: float, workers: int = 64, nice: int = 0
) -> OpenLoop:
    """``rate`` requests a second posting ``body`` (``events`` events) to ``url`` for ``seconds``,
    each started at its planned time whether or not earlier ones were answered (up to ``workers``
    in flight); latencies count from the planned start, so a stall is not hidden by waiting. Runs
    in the calling thread, at priority ``nice`` where it may be raised (as wrk), so that a late
    answer is the web's, not the generator's own wait for CPU."""
    with raised_priority(nice):
        return asyncio.run(_open_loop(url, body, events=events, rate=rate, seconds=seconds, workers=workers))


@contextmanager
def raised_priority(nice: int) -> Iterator[None]:
    """The calling thread at priority ``nice`` for the block when that is above its own (a lower
    nice; Linux sets a thread's own, and the threads it starts meanwhile inherit it), then back.
    Where it may not be raised (not root), as it is, as ``nice -n`` runs wrk."""
    before = os.getpriority(os.PRIO_PROCESS, 0)
    raised = False
    if nice < before:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, nice)
            raised = True
        except PermissionError:
            pass
    try:
        yield
    finally:
        if raised:
            os.setpriority(os.PRIO_PROCESS, 0, before)
