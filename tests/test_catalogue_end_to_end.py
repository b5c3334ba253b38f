"""Every catalogue event and xAPI statement, posted over HTTP, reaches Kafka through the real queue
and worker and decodes with Confluent's AvroDeserializer to exactly the expected record."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from django.conf import settings

from kafka_bridge.consumer import DecodedRecord, TopicTail
from registry.models import EventMajor
from tests.sso_tokens import sso_keys, sso_token

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("kafka_topics", "celery_worker_thread")]

CATALOGUE = Path(settings.BASE_DIR) / "schemas"
OPENSTAX = sorted((CATALOGUE / "org/openstax/ec").glob("*/v*/example.json"))
USER = "0b5cbe1b-8c11-4a9c-9d5b-0e3b1f3c9a11"
DEVICE = "5d4c3b2a-1f0e-4d9c-8b7a-665544332211"
AGENT_AGENT = "EventCaptureTest/1.0 (end-to-end)"
SOURCE_URI = "https://openstax.org/books/physics/pages/1-intro?a=1&w=me;w=and&w=my%20shadow&b&c=&q=x+y"
QUERY = {"a": ["1"], "w": ["me", "and", "my shadow"], "b": [], "c": [""], "q": ["x y"]}
OCCURRED = datetime(2020, 1, 1, 0, 0, 42, 123000, tzinfo=UTC)
SENT = datetime(2020, 1, 1, 0, 0, 45, tzinfo=UTC)


def _read(path: Path) -> Any:
    return json.loads(path.read_text())


def _expected_value(value: Any, schema: dict[str, Any]) -> Any:
    """What the JSON value of a property becomes in Avro, by the JSON schema alone (uuid → 16 raw
    bytes; a titled object → a record with every property, missing ones null)."""
    if value is None:
        return None
    if schema.get("format") == "uuid":
        return uuid.UUID(value).bytes
    if schema.get("type") == "object" and "title" in schema:
        return {name: _expected_value(value.get(name), sub) for name, sub in schema["properties"].items()}
    return value


def _tails(live_server: Any, topics: set[str]) -> dict[str, TopicTail]:
    registry = f"{live_server.url}/schema-registry"
    return {topic: TopicTail(topic=topic, from_beginning=False, registry_url=registry) for topic in topics}


def _collect(tails: dict[str, TopicTail], topic_of: dict[str, str]) -> dict[str, DecodedRecord]:
    """The records whose ``event_id`` header is a key of ``topic_of``, read from their topics."""
    found: dict[str, DecodedRecord] = {}
    try:
        for topic, tail in tails.items():
            wanted = {event_id for event_id, its_topic in topic_of.items() if its_topic == topic}
            for record in tail.records(idle_timeout=30):
                if record.headers.get("event_id") in wanted:
                    found[record.headers["event_id"]] = record
                if wanted <= set(found):
                    break
    finally:
        for tail in tails.values():
            tail.close()
    return found


def test_every_openstax_event_reaches_kafka_as_the_expected_record(live_server, settings):
    keys = sso_keys()
    settings.SSO_ENCRYPTION_KEY, settings.SSO_SIGNATURE_PUBLIC_KEY = keys.encryption_key, keys.public_pem
    examples = [_read(path) for path in OPENSTAX]
    for example in examples:
        example.update(
            source_uri=SOURCE_URI,
            client_clock_occurred_at=OCCURRED.isoformat().replace("+00:00", "Z"),
            client_clock_sent_at=SENT.isoformat().replace("+00:00", "Z"),
        )
    majors = {major.full_name: major for major in EventMajor.objects.select_related("event_type")}
    tails = _tails(live_server, {majors[example["type"]].topic for example in examples})

    before = datetime.now(UTC)
    response = requests.post(
        f"{live_server.url}/api/v0/events",
        json={"events": [{"data": example} for example in examples]},
        headers={"Authorization": f"Bearer {sso_token(user_uuid=USER, keys=keys)}", "User-Agent": AGENT_AGENT},
        cookies={settings.DEVICE_COOKIE_NAME: DEVICE.upper()},
        timeout=10,
    )
    after = datetime.now(UTC)
    assert response.status_code == 202, response.text
    ids = response.json()["ids"]
    assert len(ids) == len(examples) == 7
    records = _collect(tails, {i: majors[e["type"]].topic for i, e in zip(ids, examples, strict=True)})

    for event_id, example in zip(ids, examples, strict=True):
        major = majors[example["type"]]
        record = records.get(event_id)
        assert record is not None, f"{example['type']} ({event_id}) did not reach Kafka"
        assert (record.topic, record.key) == (major.topic, example["session_uuid"])
        assert record.headers == {"event_id": event_id, "event_type": example["type"]}
        json_schema = major.revisions.latest("revision").json_schema
        value = dict(record.value)
        occurred_at = value.pop("occurred_at")
        # occurred_at = occurred + (received - sent), floored to milliseconds; received is between
        # `before` and `after`.
        received = occurred_at - (OCCURRED - SENT)
        assert before - timedelta(milliseconds=1) <= received <= after
        expected: dict[str, Any] = {}
        for name in value:
            if name in json_schema["properties"]:
                expected[name] = _expected_value(example.get(name), json_schema["properties"][name])
        expected.update(
            device_uuid=uuid.UUID(DEVICE).bytes,
            user_uuid=uuid.UUID(USER).bytes,
            scheme="https",
            host="openstax.org",
            path="/books/physics/pages/1-intro",
            query=QUERY,
        )
        if example["type"] == "org.openstax.ec.started_session_v1":
            expected.update(ip_address="127.0.0.1", user_agent=AGENT_AGENT)
        if example["type"] == "org.openstax.ec.interacted_element_v1":
            expected["context_state_change"] = None
        assert value == expected, example["type"]


XAPI_EXAMPLE = _read(CATALOGUE / "org/adlnet/xapi/Statement/v1/example.json")


def _statement(**changes: Any) -> dict[str, Any]:
    statement: dict[str, Any] = copy.deepcopy(XAPI_EXAMPLE)
    statement.update(changes, id=str(uuid.uuid4()))
    return statement


AGENT = {"objectType": "Agent", "name": "Ada", "mbox": "mailto:ada@example.edu"}
GROUP = {
    "objectType": "Group",
    "name": "Study group 4",
    "member": [AGENT, {"objectType": "Agent", "account": {"homePage": "https://openstax.org", "name": "grace"}}],
}
SUB_STATEMENT = {
    "objectType": "SubStatement",
    "actor": AGENT,
    "verb": {"id": "http://adlnet.gov/expapi/verbs/attempted"},
    "object": {"objectType": "Activity", "id": "https://openstax.org/exercise/42"},
}


def test_xapi_statements_keep_agents_groups_and_sub_statements_through_kafka(live_server):
    statements = [
        _statement(actor=AGENT),
        _statement(actor=GROUP),
        # The example's context has a platform, which xAPI allows only with an Activity object.
        _statement(actor=AGENT, object=SUB_STATEMENT, context={"language": "en-US"}),
    ]
    major = EventMajor.objects.get(full_name="org.adlnet.xapi.Statement")
    tails = _tails(live_server, {major.topic})
    response = requests.post(f"{live_server.url}/api/v0/xapi/statements", json=statements, timeout=10)
    assert response.status_code == 202, response.text
    ids = response.json()["ids"]
    records = _collect(tails, dict.fromkeys(ids, major.topic))

    agent, group, sub = (records[event_id] for event_id in ids)
    for record, statement in zip((agent, group, sub), statements, strict=True):
        assert record.key == statement["id"]
        assert record.value["id"] == statement["id"]
        assert record.headers["event_type"] == "org.adlnet.xapi.Statement"
    assert agent.value["actor"] == {**dict.fromkeys(("name", "mbox", "mbox_sha1sum", "openid", "account")), **AGENT}
    assert group.value["actor"]["objectType"] == "Group"
    assert group.value["actor"]["name"] == "Study group 4"
    assert [member["name"] for member in group.value["actor"]["member"]] == ["Ada", None]
    assert group.value["actor"]["member"][1]["account"] == {"homePage": "https://openstax.org", "name": "grace"}
    assert sub.value["object"]["objectType"] == "SubStatement"
    assert sub.value["object"]["verb"]["id"] == "http://adlnet.gov/expapi/verbs/attempted"
    assert sub.value["object"]["object"]["objectType"] == "Activity"
    assert sub.value["object"]["object"]["id"] == "https://openstax.org/exercise/42"
