"""The events the bench sends, and the Kafka records they become."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import orjson

EVENT_TYPE = "org.openstax.ec.nudged_v1"
TOPIC = "nudged"
SOURCE_URI = "https://openstax.org/books/college-physics-2e/pages/1-introduction?book_id=34343&utm_source=bench"


def body(*, events: int) -> bytes:
    """A request body of ``events`` nudged events of one browser session, as a page sends them:
    one send time for the batch, each event occurring a little earlier than the next."""
    session = str(uuid.uuid4())
    batch = [
        {
            "data": {
                "type": EVENT_TYPE,
                "app": "tutor",
                "target": "study_guides",
                "context": "3c7a7a8c-2f4d",
                "flavor": "full-screen-v2",
                "medium": "in-app",
                "client_clock_occurred_at": f"2026-11-30T10:00:{order % 60:02d}.{order:03d}Z",
                "client_clock_sent_at": "2026-11-30T10:01:00.000Z",
                "source_uri": SOURCE_URI,
                "session_uuid": session,
                "session_order": order,
            }
        }
        for order in range(events)
    ]
    return orjson.dumps({"events": batch})


def avro_schema(service_root: Path) -> dict[str, Any]:
    """The nudged revision's Avro schema as shipped in the service's catalogue."""
    path = service_root / "schemas" / "org" / "openstax" / "ec" / "nudged" / "v1" / "avro.avsc"
    schema: dict[str, Any] = orjson.loads(path.read_bytes())
    return schema


def record(*, order: int) -> dict[str, Any]:
    """The record the service makes of one bench event (UUIDs as the 16 bytes Avro holds)."""
    return {
        "device_uuid": None,
        "user_uuid": None,
        "session_uuid": uuid.uuid4().bytes,
        "session_order": order,
        "scheme": "https",
        "host": "openstax.org",
        "path": "/books/college-physics-2e/pages/1-introduction",
        "query": {"book_id": ["34343"], "utm_source": ["bench"]},
        "app": "tutor",
        "target": "study_guides",
        "context": "3c7a7a8c-2f4d",
        "flavor": "full-screen-v2",
        "medium": "in-app",
        "occurred_at": 1796032800000 + order,
    }
