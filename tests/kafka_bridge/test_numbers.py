"""The admin's live numbers: the worker's hourly counts (one write per delivered group, added in the
database) and what analysts see of them on the type and major pages. The tally is pure; the writes
go to the real database (SQLite or PostgreSQL); the end-to-end tests post through the HTTP API to a
real worker thread, the real Redis queue and the real Kafka broker."""

from __future__ import annotations

import html
import logging
import re
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from eventcapture.celery import app
from kafka_bridge.dead_letters import dead_letters_replay
from kafka_bridge.intake import Intake, _Group
from kafka_bridge.models import DeadLetter, EventCount
from kafka_bridge.numbers import (
    PendingCounts,
    Tally,
    event_counts_add,
    event_counts_purge,
    event_counts_record,
    group_tally,
    hour_of,
)
from kafka_bridge.queue import QueuedEvent, TaskWriter
from registry.models import EventMajor
from tests.factories import nudged, nudged_record
from tests.kafka_bridge.test_dead_letters import (
    drill_topic,  # noqa: F401 (a fixture)
    kept,
    new_revision,
    post_batch,
    queued,
    revision,
    topic_event_ids,
    wait_for,
)
from tests.kafka_bridge.test_intake import broker, intake_queue  # noqa: F401 (fixtures)
from tests.registry.test_admin import table_rows

NUDGED = "org.openstax.ec.nudged_v1"
HIGHLIGHT_V1 = "org.openstax.ec.created_highlight_v1"
HIGHLIGHT_V2 = "org.openstax.ec.created_highlight_v2"
NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def event(schema_id: int) -> QueuedEvent:
    return QueuedEvent(str(uuid.uuid4()), schema_id, "key", {})


def nudged_events(count: int, *, first: int = 0) -> list[QueuedEvent]:
    schema_id = revision().pk
    return [
        QueuedEvent(str(uuid.uuid4()), schema_id, "key", nudged_record(session_order=first + n)) for n in range(count)
    ]


def major_id(full_name: str) -> int:
    return int(EventMajor.objects.get(full_name=full_name).pk)


def rows() -> dict[tuple[int, datetime], tuple[int, int, datetime | None]]:
    return {
        (row.major_id, row.hour): (row.accepted, row.delivered, row.last_accepted_at)
        for row in EventCount.objects.all()
    }


def totals(full_name: str) -> tuple[int, int]:
    counted = EventCount.objects.filter(major__full_name=full_name)
    return sum(row.accepted for row in counted), sum(row.delivered for row in counted)


def content(response: Any) -> str:
    return str(response.content.decode())


def analyst_client(django_user_model: Any) -> Client:
    """A staff user in the Analysts group with the view permissions the migrations grant it
    (registry 0004, kafka_bridge 0002): tests on a flushed database have to grant them again."""
    group, _ = Group.objects.get_or_create(name="Analysts")
    group.permissions.add(
        *Permission.objects.filter(content_type__app_label="registry", codename__startswith="view_"),
        *Permission.objects.filter(content_type__app_label="kafka_bridge", codename="view_deadletter"),
    )
    user = django_user_model.objects.create_user("analyst", "analyst@example.org", "x", is_staff=True)
    user.groups.add(group)
    client = Client()
    client.force_login(user)
    return client


def numbers_of(page: str, name: str) -> list[str]:
    """The last six cells (the live numbers) of the list page's row that starts with ``name``."""
    return {row[0]: row for row in table_rows(page, "result_list")}[name][-6:]


def panel(page: str) -> dict[str, list[str]]:
    return {row[0]: row[1:] for row in table_rows(page, "live-numbers")}


# --- The tally (pure) ------------------------------------------------------------------------------


def test_a_group_is_tallied_by_major_with_accepted_in_the_hour_queued_and_delivered_in_the_hour_acknowledged():
    queued_late = NOON + timedelta(minutes=59, seconds=30)
    queued_next_hour = NOON + timedelta(hours=1, seconds=5)
    tally = group_tally(
        tasks=[
            (queued_late.timestamp(), [event(1), event(1), event(2), event(99)]),
            (queued_next_hour.timestamp(), [event(1)]),
        ],
        # Schema ids 1 and 2 are revisions of major 10; 99 could not be loaded (no major).
        majors={1: 10, 2: 10},
        delivered={10: 3},
        delivered_at=NOON + timedelta(hours=1, seconds=20),
    )

    assert {key: (row.accepted, row.delivered, row.last_accepted_at) for key, row in tally.rows.items()} == {
        (10, NOON): (3, 0, queued_late),
        (10, NOON + timedelta(hours=1)): (1, 3, queued_next_hour),
    }


def test_a_task_queued_without_its_time_is_accepted_in_the_hour_of_delivery():
    delivered_at = NOON + timedelta(minutes=7)

    tally = group_tally(tasks=[(None, [event(1)])], majors={1: 10}, delivered={10: 1}, delivered_at=delivered_at)

    assert [(key, row.accepted, row.delivered) for key, row in tally.rows.items()] == [((10, NOON), 1, 1)]


def test_an_hour_is_the_utc_hour_truncated():
    assert hour_of(datetime(2026, 3, 2, 13, 59, 59, 999999, tzinfo=UTC)) == datetime(2026, 3, 2, 13, tzinfo=UTC)
    local = datetime(2026, 3, 2, 14, 30, tzinfo=UTC).astimezone(timezone.get_fixed_timezone(90))
    assert hour_of(local) == datetime(2026, 3, 2, 14, tzinfo=UTC)


# --- Writing the counts (real database) ------------------------------------------------------------


def count_writes(queries: CaptureQueriesContext) -> int:
    return sum(
        1
        for query in queries.captured_queries
        if re.search(r"insert into\W+kafka_bridge_eventcount", query["sql"], re.I)
    )


@pytest.mark.django_db
def test_a_groups_counts_are_written_in_one_statement_and_added_to_what_the_rows_hold(catalogue):
    nudged_id, highlight_id = major_id(NUDGED), major_id(HIGHLIGHT_V1)
    first = Tally()
    for minute in range(40):
        first.accepted(major_id=nudged_id, queued_at=NOON + timedelta(minutes=minute))
    first.accepted(major_id=highlight_id, queued_at=NOON - timedelta(minutes=1))
    first.delivered(major_id=nudged_id, at=NOON + timedelta(minutes=59), count=40)
    second = Tally()
    second.accepted(major_id=nudged_id, queued_at=NOON + timedelta(minutes=3), count=2)
    second.delivered(major_id=nudged_id, at=NOON + timedelta(minutes=59), count=2)

    with CaptureQueriesContext(connection) as queries:
        event_counts_add(tally=first)
    assert count_writes(queries) == 1
    with CaptureQueriesContext(connection) as queries:
        event_counts_add(tally=second)
    assert count_writes(queries) == 1

    assert rows() == {
        # Added, not overwritten; the latest arrival kept (the second group's came earlier).
        (nudged_id, NOON): (42, 42, NOON + timedelta(minutes=39)),
        (highlight_id, NOON - timedelta(hours=1)): (1, 0, NOON - timedelta(minutes=1)),
    }


def test_tallies_add_up():
    first, second = Tally(), Tally()
    first.accepted(major_id=1, queued_at=NOON + timedelta(minutes=5), count=3)
    first.delivered(major_id=1, at=NOON, count=2)
    second.accepted(major_id=1, queued_at=NOON + timedelta(minutes=9), count=4)
    second.accepted(major_id=2, queued_at=NOON - timedelta(minutes=1), count=1)
    second.delivered(major_id=1, at=NOON, count=5)

    first.add(second)

    assert {key: (row.accepted, row.delivered, row.last_accepted_at) for key, row in first.rows.items()} == {
        (1, NOON): (7, 7, NOON + timedelta(minutes=9)),
        (2, NOON - timedelta(hours=1)): (1, 0, NOON - timedelta(minutes=1)),
    }


@pytest.mark.django_db
@override_settings(EVENT_COUNTS_FLUSH_SECONDS=3600)
def test_groups_counted_between_two_writes_are_written_together(catalogue):
    pending = PendingCounts()
    nudged_id = major_id(NUDGED)
    with CaptureQueriesContext(connection) as queries:
        for minute in range(3):
            tally = Tally()
            tally.accepted(major_id=nudged_id, queued_at=NOON + timedelta(minutes=minute), count=10)
            tally.delivered(major_id=nudged_id, at=NOON + timedelta(minutes=minute), count=10)
            pending.count(tally)
    assert count_writes(queries) == 0
    assert rows() == {}

    with CaptureQueriesContext(connection) as queries:
        assert pending.flush() is True
    assert count_writes(queries) == 1
    assert rows() == {(nudged_id, NOON): (30, 30, NOON + timedelta(minutes=2))}
    # Nothing left: a second flush writes nothing.
    with CaptureQueriesContext(connection) as queries:
        assert pending.flush() is True
    assert count_writes(queries) == 0


@pytest.mark.django_db(transaction=True)
@override_settings(EVENT_COUNTS_FLUSH_SECONDS=0.2)
def test_pending_counts_are_written_by_the_timer_without_more_traffic(committed_catalogue):
    pending = PendingCounts()
    tally = Tally()
    tally.accepted(major_id=major_id(NUDGED), queued_at=NOON, count=7)
    tally.delivered(major_id=major_id(NUDGED), at=NOON, count=7)
    pending.count(tally)

    wait_for(lambda: bool(rows()), timeout=30, what="the timer's write")
    assert rows() == {(major_id(NUDGED), NOON): (7, 7, NOON)}


@pytest.mark.django_db
def test_a_count_that_cannot_be_written_is_logged_and_dropped(catalogue, caplog):
    tally = Tally()
    tally.accepted(major_id=major_id(NUDGED), queued_at=NOON, count=5)
    tally.delivered(major_id=major_id(NUDGED), at=NOON, count=4)
    table = connection.ops.quote_name(EventCount._meta.db_table)
    with connection.cursor() as cursor:
        # Undone with the test's transaction.
        cursor.execute(f"ALTER TABLE {table} RENAME TO {connection.ops.quote_name('eventcount_away')}")

    with caplog.at_level(logging.WARNING, logger="kafka_bridge.numbers"):
        assert event_counts_record(tally=tally) is False

    (message,) = [record.getMessage() for record in caplog.records if record.name == "kafka_bridge.numbers"]
    assert message.startswith("could not write the event counts (5 accepted, 4 delivered are not counted): ")


@pytest.mark.django_db
def test_purging_deletes_the_rows_of_hours_before_the_given_time(catalogue):
    tally = Tally()
    for hours in (0, 1, 48, 49):
        tally.accepted(major_id=major_id(NUDGED), queued_at=NOON - timedelta(hours=hours))
    event_counts_add(tally=tally)

    # The hour from 48 to 47 hours before noon is over by then; the next one is not.
    assert event_counts_purge(before=NOON - timedelta(hours=47)) == 2
    assert event_counts_purge(before=NOON - timedelta(minutes=30)) == 0

    assert sorted(hour for _major, hour in rows()) == [NOON - timedelta(hours=1), NOON]


# --- The admin, as an analyst ----------------------------------------------------------------------


def seed(now: datetime) -> dict[str, Any]:
    """Rows of nudged_v1 in this hour, 5 hours ago and 30 hours ago; of created_highlight_v1 and v2
    this hour; one pending and one replayed dead letter of nudged_v1."""
    this_hour = hour_of(now)
    last_arrival = this_hour + (now - this_hour) / 2
    tally = Tally()
    tally.accepted(major_id=major_id(NUDGED), queued_at=last_arrival, count=7)
    tally.delivered(major_id=major_id(NUDGED), at=this_hour, count=6)
    tally.accepted(major_id=major_id(NUDGED), queued_at=this_hour - timedelta(hours=5), count=100)
    tally.delivered(major_id=major_id(NUDGED), at=this_hour - timedelta(hours=5), count=101)
    tally.accepted(major_id=major_id(NUDGED), queued_at=this_hour - timedelta(hours=30), count=1000)
    tally.delivered(major_id=major_id(NUDGED), at=this_hour - timedelta(hours=30), count=1000)
    tally.accepted(major_id=major_id(HIGHLIGHT_V1), queued_at=this_hour, count=2)
    tally.delivered(major_id=major_id(HIGHLIGHT_V1), at=this_hour, count=2)
    tally.accepted(major_id=major_id(HIGHLIGHT_V2), queued_at=this_hour, count=3)
    tally.delivered(major_id=major_id(HIGHLIGHT_V2), at=this_hour, count=3)
    event_counts_add(tally=tally)
    pending = kept(queued(schema_id=revision().pk, record={"x": 1}))
    kept(queued(schema_id=revision().pk, record={"x": 2}), status=DeadLetter.Status.REPLAYED)
    highlight = kept(queued(schema_id=revision(HIGHLIGHT_V2).pk, record={"x": 3}))
    return {"last_arrival": last_arrival, "pending": pending, "highlight": highlight}


def but_last_arrival(numbers: list[str]) -> list[str]:
    """The numbers without the last arrival ("20 minutes ago" changes as the test runs)."""
    return numbers[:4] + numbers[5:]


def exact(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def test_the_type_and_major_lists_show_each_ones_numbers_to_an_analyst(analyst):
    seeded = seed(timezone.now())

    types = content(analyst.get(reverse("admin:registry_eventtype_changelist")))
    majors = content(analyst.get(reverse("admin:registry_eventmajor_changelist")))

    # This hour, and the 24 hours that include the row of 5 hours ago but not that of 30 hours ago.
    assert but_last_arrival(numbers_of(types, "org.openstax.ec.nudged")) == ["7", "107", "6", "107", "1"]
    # A type's numbers are its majors' summed.
    assert but_last_arrival(numbers_of(types, "org.openstax.ec.created_highlight")) == ["5", "5", "5", "5", "1"]
    assert numbers_of(types, "org.openstax.ec.started_session") == ["0", "0", "0", "0", "—", "0"]
    assert but_last_arrival(numbers_of(majors, NUDGED)) == ["7", "107", "6", "107", "1"]
    assert but_last_arrival(numbers_of(majors, HIGHLIGHT_V1)) == ["2", "2", "2", "2", "0"]
    assert but_last_arrival(numbers_of(majors, HIGHLIGHT_V2)) == ["3", "3", "3", "3", "1"]
    # The last arrival is said as people say it, with the exact time as its title.
    title = f'title="{exact(seeded["last_arrival"])}"'
    assert title in types
    assert title in majors
    assert "Django administration" not in majors
    assert "<title>Select event major to view | Event capture admin</title>" in majors


def dead_letters_linked(client: Client, page: str) -> list[list[int]]:
    """The dead letters listed behind each pending count's link on ``page``."""
    listed = []
    for url in re.findall(r'<a class="registry-pending" href="([^"]+)">', page):
        response = client.get(html.unescape(url))
        assert response.status_code == 200
        listed.append([letter.pk for letter in response.context["cl"].result_list])
    return listed


def test_the_pending_dead_letters_link_to_the_dead_letter_list_filtered_to_them(analyst):
    seeded = seed(timezone.now())
    pending, highlight = seeded["pending"].pk, seeded["highlight"].pk

    majors = content(analyst.get(reverse("admin:registry_eventmajor_changelist")))
    types = content(analyst.get(reverse("admin:registry_eventtype_changelist")))

    assert sorted(dead_letters_linked(analyst, majors)) == sorted([[pending], [highlight]])
    # A type's link lists the pending letters of all its majors.
    assert sorted(dead_letters_linked(analyst, types)) == sorted([[pending], [highlight]])


def test_a_types_page_shows_the_numbers_of_each_major_and_of_all_together(analyst):
    seed(timezone.now())
    event_type = EventMajor.objects.get(full_name=HIGHLIGHT_V1).event_type

    page = content(analyst.get(reverse("admin:registry_eventtype_change", args=[event_type.pk])))

    assert {label: but_last_arrival(numbers) for label, numbers in panel(page).items()} == {
        HIGHLIGHT_V1: ["2", "2", "2", "2", "0"],
        HIGHLIGHT_V2: ["3", "3", "3", "3", "1"],
        "org.openstax.ec.created_highlight (all majors)": ["5", "5", "5", "5", "1"],
    }


def test_a_majors_page_shows_its_numbers(analyst):
    seeded = seed(timezone.now())

    page = content(analyst.get(reverse("admin:registry_eventmajor_change", args=[major_id(NUDGED)])))

    assert but_last_arrival(panel(page)[NUDGED]) == ["7", "107", "6", "107", "1"]
    assert f'title="{exact(seeded["last_arrival"])}"' in page


def test_a_list_page_looks_its_numbers_up_in_one_query_whatever_its_rows(analyst):
    seed(timezone.now())
    url = reverse("admin:registry_eventmajor_changelist")

    with CaptureQueriesContext(connection) as queries:
        response = analyst.get(url)

    assert len(response.context["cl"].result_list) == EventMajor.objects.count() > 5
    statements = [query["sql"] for query in queries.captured_queries]
    assert sum("kafka_bridge_eventcount" in sql for sql in statements) == 1
    assert sum("kafka_bridge_deadletter" in sql for sql in statements) == 1


def test_a_user_who_may_not_see_dead_letters_sees_their_count_unlinked(catalogue, django_user_model):
    seed(timezone.now())
    user = django_user_model.objects.create_user("viewer", "viewer@example.org", "x", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename="view_eventmajor"))
    client = Client()
    client.force_login(user)

    page = content(client.get(reverse("admin:registry_eventmajor_changelist")))

    assert '<span class="registry-pending">1</span>' in page
    assert 'class="registry-pending" href=' not in page


# --- Through the API, the real worker and Kafka ----------------------------------------------------


@pytest.mark.integration
@pytest.mark.usefixtures("celery_worker_thread")
def test_events_posted_and_delivered_are_counted_and_shown_to_an_analyst(live_server, drill_topic, django_user_model):  # noqa: F811
    # A revision whose Avro enum lacks a symbol its JSON schema allows: an accepted event the
    # worker cannot encode becomes a dead letter (accepted, not delivered).
    new_revision(symbols=["web", "mobile"])
    before = timezone.now()
    ids = post_batch(live_server, *(nudged(session_order=order) for order in range(3)))
    ids += post_batch(live_server, nudged(session_order=3), nudged(channel="email", session_order=4))
    after = timezone.now()

    wait_for(lambda: totals(NUDGED) == (5, 4), what="5 accepted and 4 delivered nudged_v1 events counted")

    assert topic_event_ids(drill_topic, f"{live_server.url}/schema-registry") == Counter(dict.fromkeys(ids[:4], 1))
    assert DeadLetter.objects.get(status=DeadLetter.Status.PENDING).event_id == uuid.UUID(ids[4])
    # One row, unless the two batches were queued either side of an hour's turn.
    row = EventCount.objects.filter(major__full_name=NUDGED, accepted__gt=0).latest("last_accepted_at")
    assert row.last_accepted_at is not None
    assert before - timedelta(seconds=1) <= row.last_accepted_at <= after
    assert row.hour == hour_of(row.last_accepted_at)
    assert totals("org.openstax.ec.started_session_v1") == (0, 0)

    client = analyst_client(django_user_model)
    majors = content(client.get(reverse("admin:registry_eventmajor_changelist")))
    shown = numbers_of(majors, NUDGED)
    assert (shown[1], shown[3], shown[5]) == ("5", "4", "1")
    assert f'title="{exact(row.last_accepted_at)}"' in majors
    event_type = EventMajor.objects.get(full_name=NUDGED).event_type
    page = content(client.get(reverse("admin:registry_eventtype_change", args=[event_type.pk])))
    numbers = panel(page)[NUDGED]
    assert (numbers[1], numbers[3], numbers[5]) == ("5", "4", "1")


@pytest.mark.integration
@pytest.mark.usefixtures("celery_worker_thread")
def test_events_are_still_delivered_when_their_counts_cannot_be_written(live_server, drill_topic, caplog):  # noqa: F811
    table, away = connection.ops.quote_name(EventCount._meta.db_table), connection.ops.quote_name("eventcount_away")
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} RENAME TO {away}")
    try:
        with caplog.at_level(logging.WARNING, logger="kafka_bridge.numbers"):
            ids = post_batch(live_server, nudged(session_order=1), nudged(session_order=2))
            wait_for(
                lambda: any(record.name == "kafka_bridge.numbers" for record in caplog.records),
                what="the worker's warning that it could not count",
            )
            delivered = topic_event_ids(drill_topic, f"{live_server.url}/schema-registry")
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {away} RENAME TO {table}")

    assert delivered == Counter(dict.fromkeys(ids, 1))
    assert EventCount.objects.count() == 0
    assert DeadLetter.objects.count() == 0


@pytest.mark.integration
def test_a_replayed_dead_letter_counts_as_delivered_in_the_hour_of_its_replay(drill_topic, live_server):  # noqa: F811
    # Kept, though it fits its revision (the registry or Kafka had refused it, say); a replay delivers it.
    letter = kept(queued(schema_id=revision().pk, record=nudged_record(session_order=5)))
    before = timezone.now()

    report = dead_letters_replay()

    assert report.replayed == 1
    assert topic_event_ids(drill_topic, f"{live_server.url}/schema-registry") == Counter({str(letter.event_id): 1})
    (row,) = EventCount.objects.all()
    assert (row.major_id, row.accepted, row.delivered, row.last_accepted_at) == (major_id(NUDGED), 0, 1, None)
    assert row.hour in {hour_of(before), hour_of(timezone.now())}
    # Replayed once: a second replay finds nothing pending and counts nothing.
    assert dead_letters_replay().replayed == 0
    assert EventCount.objects.get().delivered == 1


@pytest.mark.integration
def test_the_intake_counts_a_delivered_group_of_tasks_in_one_write(drill_topic, broker, intake_queue):  # noqa: F811
    # Three tasks, written as the web writes them.
    web = TaskWriter(url=str(app.conf.broker_url), transport_options=dict(app.conf.broker_transport_options))
    for first in (0, 20, 40):
        web.put(nudged_events(20, first=first), [(f"request-{first}", 20)])
    intake = Intake(intake_queue, concurrency=1, visibility_timeout=3600, celery_queue="celery")
    taken = intake._take()
    assert [len(task.events) for task in taken] == [20, 20, 20]

    # Delivered in this thread (as the intake's delivery threads do), so its queries are seen here.
    with CaptureQueriesContext(connection) as queries:
        group = _Group(taken)
        intake._deliver_until_acknowledged(group, group.requests())

    assert count_writes(queries) == 1
    assert totals(NUDGED) == (60, 60)
    assert broker.hlen("unacked") == 0


def test_a_count_write_held_up_by_a_lock_gives_up_and_is_dropped(committed_catalogue, caplog):
    # The rows locked by another connection, as a long transaction or a stuck worker would.
    other = connections.create_connection(DEFAULT_DB_ALIAS)
    table = connection.ops.quote_name(EventCount._meta.db_table)
    try:
        with other.cursor() as cursor:
            if other.vendor == "postgresql":
                other.set_autocommit(False)
                cursor.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
            else:
                cursor.execute("BEGIN IMMEDIATE")
        tally = Tally()
        tally.delivered(major_id=major_id(NUDGED), at=NOON, count=3)

        with caplog.at_level(logging.WARNING, logger="kafka_bridge.numbers"):
            written = event_counts_record(tally=tally)
    finally:
        with other.cursor() as cursor:
            cursor.execute("ROLLBACK")
        other.close()

    # Given up after EVENT_COUNTS_WRITE_TIMEOUT (PostgreSQL) or the connection's lock wait (SQLite).
    assert written is False
    assert "could not write the event counts (0 accepted, 3 delivered are not counted)" in caplog.text
    assert re.search(r"canceling statement due to (lock|statement) timeout|database is locked", caplog.text)
    assert EventCount.objects.count() == 0
    # Nothing else was wrong with the write: without the lock, it is written.
    assert event_counts_record(tally=tally) is True
    assert rows() == {(major_id(NUDGED), NOON): (0, 3, None)}
