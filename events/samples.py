"""Sample traffic: realistic events of every active major, sent through the HTTP API as a client
sends them (``manage.py send_sample_events``), so that dashboards, topics and consumers have data.

Each event starts from its major's example and varies what a real one varies, read from the
major's JSON schema: UUIDs are new (the session's is one of a few simulated sessions, whose
``session_order`` counts up), times are now, and a field with an ``enum`` takes one of its values.
The xAPI statement gets a new ``id`` and ``timestamp``. What the schema leaves open keeps the
example's value, so every event is one the API accepts.
"""

from __future__ import annotations

import copy
import gzip
import json
import random
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from events.services import XAPI_STATEMENT
from registry.selectors import ActiveExample

EVENTS_PATH = "/api/v0/events"
XAPI_PATH = "/api/v0/xapi/statements"
# Simulated sessions, each with its own counter of session_order.
_SESSIONS = 5


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class SampleMaker:
    """Varied events from the examples, one type after another at random."""

    def __init__(self, examples: Sequence[ActiveExample], *, seed: int | None = None) -> None:
        if not examples:
            raise ValueError("no active event type has an example to start from")
        self.examples = list(examples)
        self.random = random.Random(seed)  # noqa: S311 (sample data, not secrets)
        self.sessions = [str(uuid.UUID(int=self.random.getrandbits(128), version=4)) for _ in range(_SESSIONS)]
        self.orders: Counter[str] = Counter()

    def event(self, example: ActiveExample) -> dict[str, Any]:
        if example.full_name == XAPI_STATEMENT:
            statement = copy.deepcopy(example.example)
            statement["id"] = str(uuid.UUID(int=self.random.getrandbits(128), version=4))
            statement["timestamp"] = _now()
            return statement
        event = copy.deepcopy(example.example)
        session = self.random.choice(self.sessions)
        for name, schema in (example.json_schema.get("properties") or {}).items():
            if name not in event or not isinstance(schema, dict):
                continue
            if name == "session_uuid":
                event[name] = session
            elif name == "session_order":
                self.orders[session] += 1
                event[name] = self.orders[session]
            elif isinstance(schema.get("enum"), list) and schema["enum"]:
                event[name] = self.random.choice(schema["enum"])
            elif schema.get("format") == "uuid":
                event[name] = str(uuid.UUID(int=self.random.getrandbits(128), version=4))
            elif schema.get("format") == "date-time":
                event[name] = _now()
        return event

    def batches(self, *, size: int) -> Iterator[tuple[ActiveExample, list[dict[str, Any]]]]:
        """Batches of ``size`` events of one type each, the type drawn at random each time."""
        while True:
            example = self.random.choice(self.examples)
            yield example, [self.event(example) for _ in range(size)]


@dataclass
class SendReport:
    sent: Counter[str] = field(default_factory=Counter)
    refused: Counter[int] = field(default_factory=Counter)
    first_refusal: str | None = None

    @property
    def events_sent(self) -> int:
        return sum(self.sent.values())


class SendFailed(Exception):
    """The service could not be reached."""


def batch_post(
    *, base_url: str, example: ActiveExample, events: list[dict[str, Any]], timeout: float
) -> tuple[int, str]:
    """POSTs one batch as a client does (gzip JSON); the answer's status and body."""
    body: Any
    if example.full_name == XAPI_STATEMENT:
        path, body = XAPI_PATH, events
    else:
        path, body = EVENTS_PATH, {"events": [{"data": event} for event in events]}
    request = urllib.request.Request(  # noqa: S310 (the URL's scheme is checked by the command)
        base_url.rstrip("/") + path,
        data=gzip.compress(json.dumps(body).encode()),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip", "User-Agent": "send_sample_events"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SendFailed(f"{base_url} did not answer: {reason}") from exc


def samples_send(
    *,
    maker: SampleMaker,
    base_url: str,
    batch_size: int,
    rate: float,
    count: int | None,
    duration: float | None,
    timeout: float = 10.0,
    progress: Callable[[int], None] = lambda sent: None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> SendReport:
    """Sends batches of ``batch_size`` at about ``rate`` events a second until ``count`` events
    were sent or ``duration`` seconds passed (whichever is given; both: the first reached)."""
    report = SendReport()
    started = clock()
    attempted = 0
    for example, events in maker.batches(size=batch_size):
        if count is not None and attempted >= count:
            break
        if duration is not None and clock() - started >= duration:
            break
        if count is not None:
            events = events[: count - attempted]
        # The rate: this batch goes when the events before it have had their time.
        wait = started + attempted / rate - clock()
        if wait > 0:
            sleep(wait)
        status, body = batch_post(base_url=base_url, example=example, events=events, timeout=timeout)
        attempted += len(events)
        if status in (200, 202):
            report.sent[example.full_name] += len(events)
        else:
            report.refused[status] += len(events)
            report.first_refusal = report.first_refusal or f"{status}: {body[:300]}"
        progress(report.events_sent)
    return report
