"""A standard xAPI client library (@xapi/xapi, Node.js; tests/xapi_client) sends statements to the
live server as any xAPI content would; the ids it got back are those of the records that reached
Kafka through the real queue and worker."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from kafka_bridge.consumer import DecodedRecord, TopicTail
from registry.models import EventMajor

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("kafka_topics", "celery_worker_thread")]

CLIENT = Path(settings.BASE_DIR) / "tests" / "xapi_client"


def _node() -> str:
    node = shutil.which("node")
    assert node is not None, "Node.js is needed: apt-get install nodejs npm"
    assert (CLIENT / "node_modules" / "@xapi" / "xapi").is_dir(), f"run `make xapi-client` (npm ci in {CLIENT})"
    return node


def _records_keyed(tail: TopicTail, keys: set[str]) -> dict[str, DecodedRecord]:
    found: dict[str, DecodedRecord] = {}
    for record in tail.records(idle_timeout=30):
        if record.key in keys:
            found[str(record.key)] = record
            if set(found) == keys:
                break
    return found


def test_the_ids_an_xapi_client_library_gets_back_are_those_of_the_statements_in_kafka(live_server):
    node = _node()
    topic = EventMajor.objects.get(full_name="org.adlnet.xapi.Statement").topic
    own_id, put_id = str(uuid.uuid4()), str(uuid.uuid4())
    with TopicTail(topic=topic, from_beginning=False, registry_url=f"{live_server.url}/schema-registry/") as tail:
        done = subprocess.run(
            [node, "send.mjs", f"{live_server.url}/api/v0/xapi/", own_id, put_id],
            cwd=CLIENT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        got = json.loads(done.stdout)

        assert got["statuses"] == [200, 200]
        assert got["put_status"] == 204
        assert got["versions"] == ["1.0.3", "1.0.3", "1.0.3"]
        assert got["own_id"] == got["sent_own_id"] == own_id
        assigned = {got["without_id"], got["without_object_type"]}
        assert len(assigned) == 2
        assert all(uuid.UUID(statement_id).version == 4 for statement_id in assigned)
        assert own_id not in assigned
        assert put_id not in assigned

        records = _records_keyed(tail, {*assigned, own_id, put_id})

    assert set(records) == {*assigned, own_id, put_id}
    for statement_id, record in records.items():
        assert record.value["id"] == statement_id
        assert record.headers["event_type"] == "org.adlnet.xapi.Statement"
        assert record.value["actor"]["objectType"] == "Agent"
        assert record.value["actor"]["name"] == "Ada"
        assert record.value["object"]["objectType"] == "Activity"
        assert record.value["verb"]["id"] == "http://adlnet.gov/expapi/verbs/completed"
        assert record.value["version"] == "1.0.0"
    untyped = records[got["without_object_type"]].value["object"]
    assert untyped["id"] == "https://openstax.org/books/college-physics-2e/pages/1-introduction"
