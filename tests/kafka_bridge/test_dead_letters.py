"""Dead letters: accepted events that cannot be encoded are kept with the reason, the rest of their
batch is delivered, and a replay delivers them with their original event id once the cause is
fixed. The drill (d) and the other integration tests go through the real Redis queue, a real
worker thread and the real Kafka broker; the rest needs only the database."""

from __future__ import annotations

import base64
import copy
import html
import json
import logging
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
import requests
from django.contrib.admin.models import LogEntry
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from kafka_bridge.consumer import DecodedRecord, TopicTail
from kafka_bridge.dead_letters import dead_letters_record, dead_letters_replay
from kafka_bridge.delivery import batch_deliver
from kafka_bridge.models import DeadLetter
from kafka_bridge.producer import producer_reset
from kafka_bridge.queue import QueuedEvent
from kafka_bridge.registry_client import registry_client_reset
from kafka_bridge.targets import encoding_cache_clear
from kafka_bridge.tasks import deliver_batch
from kafka_bridge.topics import topics_ensure
from registry.avro import avro_schema_fingerprint, avro_schema_text
from registry.models import EventMajor, SchemaRevision, kafka_topic_name
from registry.selectors import registry_cache_clear
from registry.validation import compatibility_reasons
from tests.factories import NUDGED_EXAMPLE, batch, nudged, nudged_record, registrar_create
from tests.queues import queues_purge

NUDGED = "org.openstax.ec.nudged_v1"
STARTED_SESSION = "org.openstax.ec.started_session_v1"
INT_TOO_BIG = 2**40


# --- Builders --------------------------------------------------------------------------------------


def revision(full_name: str = NUDGED, number: int = 1) -> SchemaRevision:
    return SchemaRevision.objects.get(major__full_name=full_name, revision=number)


def queued(*, schema_id: int, record: dict[str, Any], event_id: str | None = None) -> QueuedEvent:
    """One event as a deliver_batch task carries it."""
    return QueuedEvent(event_id or str(uuid.uuid4()), schema_id, NUDGED_EXAMPLE["session_uuid"], record)


def kept(event: QueuedEvent, *, reason: str = "EncodingError: does not fit", **fields: Any) -> DeadLetter:
    """``event`` kept as a dead letter through the service, then ``fields`` set on it."""
    dead_letters_record(failures=[(event, ValueError(reason))])
    DeadLetter.objects.filter(event_id=event.event_id).update(reason=reason, **fields)
    return DeadLetter.objects.get(event_id=event.event_id)


def row(letter: DeadLetter) -> dict[str, Any]:
    return dict(DeadLetter.objects.filter(pk=letter.pk).values().get())


def with_channel(source: SchemaRevision, *, symbols: list[str] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """``source``'s (Avro, JSON) schemas with an optional ``channel``: free text to clients, an Avro
    enum of ``symbols`` (with a default, so adding symbols stays FULL compatible) in the record; no
    ``channel`` in Avro at all when ``symbols`` is None."""
    avro = source.avro_schema_dict
    avro["fields"] = [field for field in avro["fields"] if field["name"] != "channel"]
    if symbols is not None:
        enum = {"type": "enum", "name": "channel", "symbols": symbols, "default": symbols[0]}
        avro["fields"].append({"name": "channel", "type": ["null", enum], "default": None})
    json_schema = copy.deepcopy(source.json_schema)
    json_schema["properties"]["channel"] = {"type": "string", "description": "How the nudge reached the student."}
    return avro, json_schema


def new_revision(*, symbols: list[str] | None) -> SchemaRevision:
    """A new revision of nudged_v1, compatible at FULL_TRANSITIVE, saved as a registry published
    it before it checked that the Avro record holds what the JSON schema accepts: the registry
    refuses such a pair now (any channel into an enum of a few), which is how dead letters come
    from a database that holds one."""
    major = EventMajor.objects.get(full_name=NUDGED)
    latest = major.revisions.order_by("-revision")[0]
    avro, json_schema = with_channel(latest, symbols=symbols)
    text = avro_schema_text(avro)
    assert compatibility_reasons(major=major, avro_schema=text) == []
    created = SchemaRevision.objects.create(
        major=major,
        revision=latest.revision + 1,
        json_schema=json_schema,
        avro_schema=text,
        fingerprint=avro_schema_fingerprint(text),
        created_by="editor",
    )
    registry_cache_clear()
    return created


def wait_for(condition: Callable[[], bool], *, timeout: float = 30.0, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def records_with_ids(tail: TopicTail, event_ids: set[str], *, timeout: float = 30.0) -> dict[str, DecodedRecord]:
    found: dict[str, DecodedRecord] = {}
    for record in tail.records(idle_timeout=timeout):
        if record.headers.get("event_id") in event_ids:
            found[record.headers["event_id"]] = record
            if set(found) == event_ids:
                break
    return found


def queued_tasks() -> list[tuple[str, list[Any]]]:
    """(task name, positional arguments) of every task waiting in the Celery queue."""
    from eventcapture.celery import app

    with app.connection_for_write() as connection:
        # kombu's Redis channel: its redis client reads the queue's list without consuming it.
        channel: Any = connection.default_channel
        messages = channel.client.lrange("celery", 0, -1)
    tasks = []
    for message in messages:
        envelope = json.loads(message)
        body = json.loads(base64.b64decode(envelope["body"]))
        tasks.append((envelope["headers"]["task"], body[0]))
    return tasks


def changelist_ids(response: Any) -> list[str]:
    return [str(letter.event_id) for letter in response.context["cl"].result_list]


def result_rows(response: Any) -> list[list[str]]:
    """The cells' text of each row of the changelist's table."""
    body = response.content.decode().split('id="result_list"', 1)[1].split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [
        [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", cell)).split()) for cell in cells]
        for cells in (
            re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", tr, flags=re.S)
            for tr in re.findall(r"<tr.*?</tr>", body, flags=re.S)
        )
    ]


def messages_text(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# --- Keeping dead letters --------------------------------------------------------------------------


def test_a_second_failure_of_a_kept_event_counts_an_attempt_and_keeps_when_it_was_first_seen(catalogue):
    event = queued(schema_id=revision().pk, record=nudged_record(session_order=INT_TOO_BIG))

    dead_letters_record(failures=[(event, ValueError("first"))])
    first = DeadLetter.objects.get()
    dead_letters_record(failures=[(event, RuntimeError("second"))])

    again = DeadLetter.objects.get()
    assert again.pk == first.pk
    assert str(again.event_id) == event.event_id
    assert again.event_type == NUDGED
    assert again.schema_id == revision().pk
    assert again.key == NUDGED_EXAMPLE["session_uuid"]
    assert again.record == event.record
    assert again.status == DeadLetter.Status.PENDING
    assert (again.attempts, again.reason) == (2, "RuntimeError: second")
    assert again.first_seen == first.first_seen
    assert again.last_seen > first.last_seen


def test_an_event_whose_revision_cannot_be_loaded_is_kept_without_a_type_and_stays_pending(catalogue, caplog):
    event = queued(schema_id=999_999, record=nudged_record(user_uuid="6e0f3e8a-5a6b-4f47-9f0c-8a2a6f5c9d11"))

    with caplog.at_level(logging.INFO):
        batch_deliver(events=[event])
        report = dead_letters_replay()
    producer_reset()

    letter = DeadLetter.objects.get()
    assert (letter.event_type, letter.schema_id, letter.status) == ("", 999_999, DeadLetter.Status.PENDING)
    assert (report.selected, report.replayed, report.still_failing, report.skipped) == (1, 0, 1, 0)
    assert (letter.attempts, letter.reason) == (2, "UnknownSchema: no schema revision 999999")
    # Logs name the event and the kind of failure, never a value of the record.
    assert event.event_id in caplog.text
    assert "UnknownSchema" in caplog.text
    for value in ("6e0f3e8a-5a6b-4f47-9f0c-8a2a6f5c9d11", NUDGED_EXAMPLE["session_uuid"], "study_guides"):
        assert value not in caplog.text


def test_a_dry_run_lists_the_pending_dead_letters_and_changes_nothing(catalogue):
    first = kept(queued(schema_id=revision().pk, record=nudged_record(session_order=INT_TOO_BIG)))
    second = kept(queued(schema_id=999_999, record=nudged_record()))
    done = kept(queued(schema_id=revision().pk, record=nudged_record()), status=DeadLetter.Status.REPLAYED)
    before = [row(letter) for letter in (first, second, done)]
    out = StringIO()

    call_command("replay_dead_letters", "--dry-run", stdout=out, stderr=StringIO())

    assert [row(letter) for letter in (first, second, done)] == before
    lines = out.getvalue().splitlines()
    assert [line.split()[:2] for line in lines[:-1]] == [
        [str(first.event_id), NUDGED],
        [str(second.event_id), "schema-id-999999"],
    ]
    assert lines[-1] == "dry run: 2 dead letters would be replayed; nothing was changed"


def test_type_and_since_choose_which_dead_letters_a_replay_tries_and_a_failure_exits_non_zero(catalogue):
    old = kept(
        queued(schema_id=revision().pk, record=nudged_record(session_order=INT_TOO_BIG)),
        last_seen=datetime(2026, 1, 10, 12, tzinfo=UTC),
    )
    recent = kept(
        queued(schema_id=revision().pk, record=nudged_record(session_order=-INT_TOO_BIG)),
        last_seen=datetime(2026, 2, 10, 12, tzinfo=UTC),
    )
    other_type = kept(
        queued(schema_id=revision(STARTED_SESSION).pk, record={"not": "a started_session record"}),
        last_seen=datetime(2026, 2, 10, 12, tzinfo=UTC),
    )
    out = StringIO()

    with pytest.raises(CommandError, match="1 dead letters still fail"):
        call_command("replay_dead_letters", "--type", NUDGED, "--since", "2026-02-01", stdout=out, stderr=StringIO())

    assert out.getvalue() == "replayed: 0 (0 with a later revision), still failing: 1, skipped: 0\n"
    attempts = {letter.pk: row(letter)["attempts"] for letter in (old, recent, other_type)}
    assert attempts == {old.pk: 1, recent.pk: 2, other_type.pk: 1}
    reason = row(recent)["reason"]
    assert reason.startswith("EncodingError: ")
    assert "session_order" in reason
    assert reason.endswith(f"(no later revision of {NUDGED} to try)")

    # A time without an offset is in TIME_ZONE (UTC): "old" was last seen at noon, before it.
    with pytest.raises(CommandError, match="2 dead letters still fail"):
        call_command("replay_dead_letters", "--since", "2026-01-10T12:00:01", stdout=StringIO(), stderr=StringIO())
    attempts = {letter.pk: row(letter)["attempts"] for letter in (old, recent, other_type)}
    assert attempts == {old.pk: 1, recent.pk: 3, other_type.pk: 2}

    with pytest.raises(CommandError, match="--since 'last tuesday' is not an ISO 8601 date or date-time"):
        call_command("replay_dead_letters", "--since", "last tuesday", stdout=StringIO())
    assert call_command("replay_dead_letters", "--type", "org.example.none_v1", stdout=out) is None


def test_a_later_revision_that_would_drop_a_value_is_never_used(catalogue):
    accepted = new_revision(symbols=["web", "mobile"])
    event = queued(schema_id=accepted.pk, record={**nudged_record(), "channel": "email"})
    batch_deliver(events=[event])
    producer_reset()
    # Removing the field is FULL compatible (it has a default), and would lose the value.
    without = new_revision(symbols=None)

    report = dead_letters_replay()

    letter = DeadLetter.objects.get()
    assert (report.replayed, report.still_failing) == (0, 1)
    assert letter.status == DeadLetter.Status.PENDING
    assert letter.reason.startswith("EncodingError: ")
    assert letter.reason.endswith(
        f"; the latest revision r{without.revision} (schema id {without.pk}) would change it: channel would be dropped"
    )
    assert letter.record == event.record


def test_a_replay_stops_when_kafka_does_not_answer_and_leaves_the_dead_letters_as_they_were(catalogue, settings):
    settings.KAFKA_BOOTSTRAP_SERVERS = "127.0.0.1:9"
    settings.KAFKA_DELIVERY_TIMEOUT = 1.0
    letter = kept(queued(schema_id=revision().pk, record=nudged_record()), reason="RegistryRefused: refused")
    before = row(letter)
    out = StringIO()
    producer_reset()
    try:
        with pytest.raises(CommandError, match="replay interrupted after 0 replayed: DeliveryFailed: "):
            call_command("replay_dead_letters", stdout=out, stderr=StringIO())
    finally:
        producer_reset()

    assert row(letter) == before
    assert out.getvalue() == "replayed: 0 (0 with a later revision), still failing: 0, skipped: 0\n"


# --- The admin -------------------------------------------------------------------------------------


def test_a_reason_never_keeps_the_credentials_of_a_url(catalogue):
    event = queued(schema_id=revision().pk, record=nudged_record())
    error = ValueError("https://registrar:s3cret@registry.example.org/subjects refused it; see http://user@host/x")
    dead_letters_record(failures=[(event, error)])
    reason = DeadLetter.objects.get(event_id=event.event_id).reason
    assert reason == "ValueError: https://***@registry.example.org/subjects refused it; see http://***@host/x"


def test_purging_deletes_settled_dead_letters_past_the_retention_and_pending_ones_only_when_asked(catalogue, settings):
    settings.DEAD_LETTER_RETENTION_DAYS = 30
    long_ago, recently = timezone.now() - timedelta(days=31), timezone.now() - timedelta(days=29)
    schema_id = revision().pk
    old_replayed = kept(queued(schema_id=schema_id, record={}), status=DeadLetter.Status.REPLAYED, last_seen=long_ago)
    old_delivered = kept(queued(schema_id=schema_id, record={}), status=DeadLetter.Status.DELIVERED, last_seen=long_ago)
    old_pending = kept(queued(schema_id=schema_id, record={}), last_seen=long_ago)
    new_replayed = kept(queued(schema_id=schema_id, record={}), status=DeadLetter.Status.REPLAYED, last_seen=recently)

    out = StringIO()
    call_command("purge_dead_letters", "--dry-run", stdout=out)
    assert "dry run: 2 replayed or delivered dead letters last seen over 30 days ago" in out.getvalue()
    assert DeadLetter.objects.count() == 4

    call_command("purge_dead_letters", stdout=out)
    remaining = set(DeadLetter.objects.values_list("pk", flat=True))
    assert remaining == {old_pending.pk, new_replayed.pk}
    assert not {old_replayed.pk, old_delivered.pk} & remaining

    call_command("purge_dead_letters", "--older-than", "30", "--include-pending", stdout=out)
    assert set(DeadLetter.objects.values_list("pk", flat=True)) == {new_replayed.pk}
    call_command("purge_dead_letters", "--older-than", "1", stdout=out)
    assert DeadLetter.objects.count() == 0
    for days in ("0", "³"):
        with pytest.raises(CommandError, match="not a positive number of days"):
            call_command("purge_dead_letters", "--older-than", days)


@pytest.fixture
def letters(catalogue: None) -> dict[str, DeadLetter]:
    long_reason = "RegistryRefused: http://registry.example/ refused org.openstax.ec.nudged_v1: " + "x" * 200
    return {
        "refused": kept(
            queued(schema_id=revision().pk, record=nudged_record()),
            reason=long_reason,
            last_seen=datetime(2026, 3, 2, 9, tzinfo=UTC),
        ),
        "unfit": kept(
            queued(schema_id=revision(STARTED_SESSION).pk, record={"not": "a record"}),
            reason="EncodingError: no value and no default for session_uuid",
            attempts=3,
        ),
        "replayed": kept(
            queued(schema_id=revision().pk, record=nudged_record(session_order=7)),
            reason="RegistryRefused: refused",
            status=DeadLetter.Status.REPLAYED,
        ),
    }


CHANGELIST = "admin:kafka_bridge_deadletter_changelist"


def test_the_changelist_shows_each_dead_letter_with_its_reason_cut_short(editor, letters):
    response = editor.get(reverse(CHANGELIST))

    assert response.status_code == 200
    refused = letters["refused"]
    (texts,) = [cells for cells in result_rows(response) if str(refused.event_id) in cells]
    assert texts[1:5] == [str(refused.event_id), NUDGED, refused.reason[:89] + "…", "1"]
    assert texts[-1] == "pending"
    assert set(changelist_ids(response)) == {str(letter.event_id) for letter in letters.values()}
    titles = [spec.title for spec in response.context["cl"].filter_specs]
    assert titles == ["status", "event type", "last seen"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status__exact": "replayed"}, ["replayed"]),
        ({"status__exact": "pending"}, ["refused", "unfit"]),
        ({"event_type": STARTED_SESSION}, ["unfit"]),
        ({"last_seen__gte": "2026-03-02 00:00:00+00:00", "last_seen__lt": "2026-03-03 00:00:00+00:00"}, ["refused"]),
        ({"q": "no default for session_uuid"}, ["unfit"]),
        ({"q": STARTED_SESSION}, ["unfit"]),
    ],
)
def test_the_changelist_filters_and_searches(editor, letters, query, expected):
    response = editor.get(reverse(CHANGELIST), query)

    assert response.status_code == 200
    assert sorted(changelist_ids(response)) == sorted(str(letters[name].event_id) for name in expected)


def test_searching_an_event_id_finds_its_dead_letter(editor, letters):
    event_id = str(letters["unfit"].event_id)

    response = editor.get(reverse(CHANGELIST), {"q": event_id})

    assert changelist_ids(response) == [event_id]


def test_a_dead_letters_page_shows_its_record_pretty_printed_and_nothing_to_edit(editor, letters):
    letter = letters["refused"]

    response = editor.get(reverse("admin:kafka_bridge_deadletter_change", args=[letter.pk]))

    assert response.status_code == 200
    page = response.content.decode()
    match = re.search(r'<pre[^>]*id="dead-letter-record"[^>]*>(.*?)</pre>', page, flags=re.S)
    assert match is not None
    assert html.unescape(match.group(1)) == json.dumps(letter.record, indent=2)
    assert html.escape(letter.reason) in page
    for editing in ('name="_save"', "<textarea", 'name="record"', 'name="reason"'):
        assert editing not in page
    assert editor.post(reverse("admin:kafka_bridge_deadletter_change", args=[letter.pk]), {}).status_code == 403
    assert editor.get(reverse("admin:kafka_bridge_deadletter_add")).status_code == 403


# Reads the real queue (Redis) to see what the action put there.
@pytest.mark.integration
def test_the_replay_action_queues_one_replay_task_for_the_pending_letters_selected(
    editor, letters, django_capture_on_commit_callbacks
):

    queues_purge()
    selected = [letters["refused"], letters["replayed"]]

    with django_capture_on_commit_callbacks(execute=True):
        response = editor.post(
            reverse(CHANGELIST),
            {"action": "replay_selected", "_selected_action": [letter.pk for letter in selected]},
            follow=True,
        )

    assert response.status_code == 200
    assert messages_text(response) == [
        "Queued a replay of 1 dead letter: the worker produces them to Kafka. Reload this page to see their "
        "status. 1 selected was not pending and left alone."
    ]
    assert queued_tasks() == [("kafka_bridge.replay_dead_letters", [[str(letters["refused"].event_id)]])]
    assert LogEntry.objects.get().change_message == "Queued a replay."
    queues_purge()


# Reads the real queue (Redis) to see what the action put there.
@pytest.mark.integration
def test_analysts_see_dead_letters_but_cannot_replay_them(analyst, letters, django_capture_on_commit_callbacks):

    queues_purge()
    letter = letters["refused"]

    changelist = analyst.get(reverse(CHANGELIST))
    detail = analyst.get(reverse("admin:kafka_bridge_deadletter_change", args=[letter.pk]))
    with django_capture_on_commit_callbacks(execute=True):
        posted = analyst.post(
            reverse(CHANGELIST), {"action": "replay_selected", "_selected_action": [letter.pk]}, follow=True
        )

    assert changelist.status_code == 200
    assert set(changelist_ids(changelist)) == {str(letter.event_id) for letter in letters.values()}
    assert "replay_selected" not in changelist.content.decode()
    assert detail.status_code == 200
    assert 'id="dead-letter-record"' in detail.content.decode()
    # The changelist offers analysts no action at all, so the post is only a page view.
    assert posted.status_code == 200
    assert messages_text(posted) == []
    assert queued_tasks() == []
    assert row(letter)["status"] == DeadLetter.Status.PENDING


# --- Through the real queue, worker and Kafka ------------------------------------------------------


@pytest.fixture
def drill_topic(kafka_topics: None) -> Iterator[str]:
    """nudged_v1 records go to a topic of this test's own: records framed with schema ids this test
    creates never reach a topic a later test reads from the beginning (where those ids would name
    other revisions, or none)."""
    topic = f"dead_letters_{uuid.uuid4().hex[:8]}"
    EventMajor.objects.filter(full_name=NUDGED).update(topic_override=topic)
    encoding_cache_clear()
    topics_ensure(partitions=1, replication=1)
    yield kafka_topic_name(topic)
    encoding_cache_clear()


def post_batch(live_server: Any, *datas: dict[str, Any]) -> list[str]:
    response = requests.post(f"{live_server.url}/api/v0/events", json=batch(*datas), timeout=10)
    assert response.status_code == 202, response.text
    ids: list[str] = response.json()["ids"]
    assert len(ids) == len(datas)
    return ids


def topic_event_ids(topic: str, registry_url: str) -> Counter[str]:
    """How many times each event id is in ``topic``, from its first record."""
    with TopicTail(topic=topic, from_beginning=True, registry_url=registry_url) as tail:
        return Counter(record.headers["event_id"] for record in tail.records(idle_timeout=5))


@pytest.mark.integration
@pytest.mark.usefixtures("celery_worker_thread")
def test_drill_d_an_event_that_cannot_be_encoded_is_kept_and_a_replay_delivers_it_once_fixed(live_server, drill_topic):
    registry_url = f"{live_server.url}/schema-registry"
    # An editor publishes a revision whose JSON schema lets clients send any channel while its Avro
    # enum knows two: events the API accepts (202) that the worker cannot encode.
    accepted_with = new_revision(symbols=["web", "mobile"])

    with TopicTail(topic=drill_topic, from_beginning=False, registry_url=registry_url) as tail:
        ids = post_batch(
            live_server,
            nudged(channel="web", session_order=1),
            nudged(channel="email", session_order=2),
            nudged(channel="mobile", session_order=3),
            nudged(session_order=4),
        )
        good, bad = {ids[0], ids[2], ids[3]}, ids[1]
        delivered = records_with_ids(tail, good)
        assert set(delivered) == good, "the rest of the batch did not reach Kafka"

        letter = DeadLetter.objects.get()
        assert str(letter.event_id) == bad
        assert (letter.event_type, letter.schema_id, letter.attempts) == (NUDGED, accepted_with.pk, 1)
        assert letter.status == DeadLetter.Status.PENDING
        assert letter.reason.startswith("EncodingError: ")
        assert "channel" in letter.reason
        assert letter.record["channel"] == "email"
        assert letter.record["session_order"] == 2
        assert letter.key == NUDGED_EXAMPLE["session_uuid"]

        # Nothing fixed yet: the replay fails again and says so with a non-zero exit.
        with pytest.raises(CommandError, match="1 dead letters still fail"):
            call_command("replay_dead_letters", stdout=StringIO(), stderr=StringIO())
        assert row(letter)["attempts"] == 2

        # The fix: a revision whose enum knows the symbol (FULL compatible: the enum has a default).
        fixed = new_revision(symbols=["web", "mobile", "email"])
        out = StringIO()
        call_command("replay_dead_letters", stdout=out, stderr=StringIO())
        assert out.getvalue() == "replayed: 1 (1 with a later revision), still failing: 0, skipped: 0\n"

        replayed = records_with_ids(tail, {bad})[bad]

    assert replayed.headers == {"event_id": bad, "event_type": NUDGED}
    assert replayed.key == NUDGED_EXAMPLE["session_uuid"]
    assert replayed.schema_id == fixed.pk
    assert replayed.value["channel"] == "email"
    assert replayed.value["session_order"] == 2
    assert replayed.value["session_uuid"] == uuid.UUID(NUDGED_EXAMPLE["session_uuid"]).bytes
    assert {delivered[event_id].value["channel"] for event_id in good} == {"web", "mobile", None}
    letter.refresh_from_db()
    assert (letter.status, letter.replayed_schema_id) == (DeadLetter.Status.REPLAYED, fixed.pk)
    assert letter.replayed_at is not None

    out = StringIO()
    call_command("replay_dead_letters", stdout=out, stderr=StringIO())
    assert out.getvalue() == "replayed: 0 (0 with a later revision), still failing: 0, skipped: 0\n"
    assert topic_event_ids(drill_topic, registry_url) == Counter(dict.fromkeys(ids, 1))


@pytest.mark.integration
@pytest.mark.usefixtures("celery_worker_thread")
def test_a_refusing_registry_is_fixed_in_config_and_the_replay_uses_the_original_revision(
    live_server, drill_topic, settings, django_user_model
):
    registrar_create()
    registry_url = f"{live_server.url}/schema-registry"
    settings.SCHEMA_REGISTRY_URL = registry_url
    settings.SCHEMA_REGISTRY_BASIC_AUTH = "registrar:wrong-pass"
    registry_client_reset()
    encoding_cache_clear()
    try:
        ids = post_batch(live_server, nudged(session_order=1), nudged(session_order=2))
        wait_for(lambda: DeadLetter.objects.count() == 2, what="two dead letters")
        for letter in DeadLetter.objects.all():
            assert letter.reason.startswith(f"RegistryRefused: {registry_url} refused {NUDGED}: ")
            assert "401" in letter.reason

        settings.SCHEMA_REGISTRY_BASIC_AUTH = "registrar:s3cret-pass"
        registry_client_reset()
        encoding_cache_clear()
        out = StringIO()
        with TopicTail(topic=drill_topic, from_beginning=False, registry_url=registry_url) as tail:
            call_command("replay_dead_letters", "--type", NUDGED, stdout=out, stderr=StringIO())
            found = records_with_ids(tail, set(ids))
    finally:
        registry_client_reset()
        encoding_cache_clear()

    assert out.getvalue() == "replayed: 2 (0 with a later revision), still failing: 0, skipped: 0\n"
    assert set(found) == set(ids)
    registered = requests.get(f"{registry_url}/subjects/{NUDGED}/versions/latest", timeout=10).json()
    assert {record.schema_id for record in found.values()} == {registered["id"]} == {revision().pk}
    assert sorted(record.value["session_order"] for record in found.values()) == [1, 2]
    assert set(DeadLetter.objects.values_list("status", "replayed_schema_id")) == {("replayed", revision().pk)}


@pytest.mark.integration
@pytest.mark.usefixtures("celery_worker_thread")
def test_the_admin_action_has_the_worker_replay_the_selected_letters(live_server, drill_topic, django_user_model):
    chosen = kept(queued(schema_id=revision().pk, record=nudged_record(session_order=11)))
    other = kept(queued(schema_id=revision().pk, record=nudged_record(session_order=12)))
    client = Client()
    client.force_login(django_user_model.objects.create_superuser("editor", "editor@example.org", "x"))

    with TopicTail(topic=drill_topic, from_beginning=False, registry_url=f"{live_server.url}/schema-registry") as tail:
        response = client.post(reverse(CHANGELIST), {"action": "replay_selected", "_selected_action": [chosen.pk]})
        assert response.status_code == 302
        record = records_with_ids(tail, {str(chosen.event_id)})[str(chosen.event_id)]
        wait_for(lambda: row(chosen)["status"] == DeadLetter.Status.REPLAYED, what="the letter marked replayed")

    assert record.headers == {"event_id": str(chosen.event_id), "event_type": NUDGED}
    assert record.value["session_order"] == 11
    assert row(other)["status"] == DeadLetter.Status.PENDING


@pytest.mark.integration
def test_a_retry_of_the_batch_that_delivers_a_kept_event_marks_its_dead_letter_delivered(drill_topic):
    event = queued(schema_id=revision().pk, record=nudged_record(session_order=21))
    still_bad = queued(schema_id=revision().pk, record=nudged_record(session_order=INT_TOO_BIG))
    kept(event, reason="RegistryRefused: refused")
    kept(still_bad)

    # A retry (the first attempt failed on Kafka) in which the first event now encodes.
    deliver_batch.apply(args=([event, still_bad],), retries=1, throw=True)
    producer_reset()

    delivered = DeadLetter.objects.get(event_id=event.event_id)
    pending = DeadLetter.objects.get(event_id=still_bad.event_id)
    assert delivered.status == DeadLetter.Status.DELIVERED
    assert delivered.replayed_at is not None
    assert (pending.status, pending.attempts) == (DeadLetter.Status.PENDING, 2)
    assert dead_letters_replay(ids=[event.event_id]).skipped == 1
