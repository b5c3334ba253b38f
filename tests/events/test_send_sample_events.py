"""manage.py send_sample_events: varied events of every active type, sent through the HTTP API to
a live server (and its real queue), all accepted."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from prometheus_client import REGISTRY

from events.samples import SampleMaker
from registry.models import EventMajor
from registry.selectors import active_examples
from tests.factories import SHIPPED_TOPICS
from tests.ports import closed_port

ACCEPTED = "eventcapture_events_accepted_total"


def accepted(event_type: str) -> float:
    return REGISTRY.get_sample_value(f"{ACCEPTED}", {"event_type": event_type}) or 0.0


@pytest.mark.integration
@pytest.mark.usefixtures("committed_catalogue")
def test_every_active_type_is_sent_varied_and_accepted(live_server):
    before = {full_name: accepted(full_name) for full_name in SHIPPED_TOPICS}
    out = StringIO()

    call_command("send_sample_events", url=live_server.url, count=120, rate=10_000, batch_size=3, seed=7, stdout=out)

    sent = {line.split()[1]: int(line.split()[0]) for line in out.getvalue().splitlines() if line.startswith(" ")}
    assert set(sent) == set(SHIPPED_TOPICS), out.getvalue()  # every active type, with seed 7
    assert sum(sent.values()) == 120
    assert "sent 120 events to" in out.getvalue()
    # Every one was accepted by the service (202: durably queued), counted by its type.
    for full_name, count in sent.items():
        assert accepted(full_name) - before[full_name] == count, full_name


@pytest.mark.django_db
@pytest.mark.usefixtures("catalogue")
def test_events_vary_from_the_example_where_real_ones_do():
    maker = SampleMaker(active_examples(), seed=1)
    (nudged,) = [example for example in maker.examples if example.full_name == "org.openstax.ec.nudged_v1"]
    first, second = maker.event(nudged), maker.event(nudged)

    assert first["type"] == nudged.example["type"]
    assert first["app"] == nudged.example["app"]  # no enum, no format: the example's
    assert first["client_clock_occurred_at"] != nudged.example["client_clock_occurred_at"]
    assert first["session_uuid"] in maker.sessions
    orders = {(first["session_uuid"], first["session_order"]), (second["session_uuid"], second["session_order"])}
    assert len(orders) == 2  # a session's events count up
    (statement,) = [example for example in maker.examples if example.full_name == "org.adlnet.xapi.Statement"]
    assert maker.event(statement)["id"] != statement.example["id"]


@pytest.mark.django_db
@pytest.mark.usefixtures("catalogue")
def test_a_service_that_does_not_answer_or_a_type_that_is_not_active_is_a_clear_error():
    with pytest.raises(CommandError, match="did not answer"):
        call_command("send_sample_events", url=f"http://127.0.0.1:{closed_port()}", count=1, stdout=StringIO())
    with pytest.raises(CommandError, match=r"not an active event type with an example: org\.example\.nothing_v1"):
        call_command("send_sample_events", types="org.example.nothing_v1", count=1, stdout=StringIO())
    EventMajor.objects.update(status=EventMajor.Status.RETIRED)
    with pytest.raises(CommandError, match="no active event type has an example"):
        call_command("send_sample_events", count=1, stdout=StringIO())
    with pytest.raises(CommandError, match="is not an http"):
        call_command("send_sample_events", url="file:///etc/passwd", count=1, stdout=StringIO())
