"""Values JSON Schema accepts that Avro or a consumer's reader would not: normalised or refused at the
edge, never left for the worker (through the HTTP API and the real queue)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from tests.factories import COUNTED, batch, counted_type, nudged
from tests.queues import queued_events

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("catalogue", "empty_queue")]

URL = "/api/v0/events"
CATALOGUE = Path(settings.BASE_DIR) / "schemas"
EARLIEST_MILLIS = -62_135_596_800_000
LATEST_MILLIS = 253_402_300_799_999


def post(*datas: dict[str, Any]) -> Any:
    return APIClient().post(URL, data=json.dumps(batch(*datas)), content_type="application/json")


def studyguide(**overrides: Any) -> dict[str, Any]:
    example = json.loads((CATALOGUE / "org/openstax/ec/accessed_studyguide/v1/example.json").read_text())
    return {**example, **overrides}


def test_an_integral_float_in_an_integer_field_is_queued_as_an_integer():
    response = post(nudged(session_order=42.0))
    assert response.status_code == 202, response.json()
    [event] = queued_events()
    assert event.record["session_order"] == 42
    assert type(event.record["session_order"]) is int


def test_an_integral_float_nested_in_a_record_is_queued_as_an_integer():
    metadata = {**studyguide()["source_metadata"], "content_index": 3.0}
    response = post(studyguide(source_metadata=metadata))
    assert response.status_code == 202, response.json()
    [event] = queued_events()
    assert event.record["source_metadata"]["content_index"] == 3
    assert type(event.record["source_metadata"]["content_index"]) is int


def test_a_fraction_in_an_integer_field_is_refused_with_422_and_nothing_is_queued():
    response = post(nudged(), nudged(session_order=1.5))
    assert response.status_code == 422
    assert [(error["index"], error["path"], error["code"]) for error in response.json()["errors"]] == [
        (1, "data.session_order", "invalid_type")
    ]
    assert queued_events() == []


def test_a_key_a_nested_record_does_not_define_is_dropped_with_a_warning():
    metadata = {**studyguide()["source_metadata"], "colour": "red"}
    response = post(studyguide(source_metadata=metadata))
    assert response.status_code == 202
    assert response.json()["warnings"] == ["Event [0]: unknown field 'source_metadata.colour' was dropped"]
    [event] = queued_events()
    assert "colour" not in event.record["source_metadata"]


@pytest.mark.parametrize(
    ("occurred", "sent", "clamped", "side"),
    [
        ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", EARLIEST_MILLIS, "before 0001-01-01T00:00:00.000Z"),
        ("9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", LATEST_MILLIS, "after 9999-12-31T23:59:59.999Z"),
    ],
)
def test_a_corrected_time_past_what_readers_decode_is_clamped_with_a_warning(occurred, sent, clamped, side):
    response = post(nudged(), nudged(client_clock_occurred_at=occurred, client_clock_sent_at=sent))
    assert response.status_code == 202, response.json()
    [warning] = response.json()["warnings"]
    assert warning.startswith("Event [1]: occurred_at")
    assert side in warning
    first, second = queued_events()
    assert EARLIEST_MILLIS < first.record["occurred_at"] < LATEST_MILLIS
    assert second.record["occurred_at"] == clamped


def test_clocks_at_the_edges_of_the_calendar_that_agree_are_kept_as_sent():
    response = post(
        nudged(client_clock_occurred_at="0001-01-01T00:00:00Z", client_clock_sent_at="0001-01-01T00:00:00Z"),
    )
    assert response.status_code == 202
    assert response.json()["warnings"] == []


@pytest.mark.parametrize(
    ("count", "accepted"), [(2**63 - 1, True), (-(2**63), True), (2**63, False), (-(2**63) - 1, False)]
)
def test_an_integer_beyond_avro_long_is_refused_with_422(count, accepted):
    counted_type()
    response = post(nudged(type=COUNTED, count=count))
    if accepted:
        assert response.status_code == 202, response.json()
        [event] = queued_events()
        assert event.record["count"] == count
    else:
        assert response.status_code == 422
        [error] = response.json()["errors"]
        assert (error["path"], error["code"]) == ("data.count", "invalid_value")
        assert "Avro long" in error["message"]
        assert queued_events() == []


XAPI_URL = "/api/v0/xapi/statements"
ATTACHMENT = {
    # Not a signature: a signature's contentType is application/octet-stream (xAPI Data 2.6).
    "usageType": "http://example.com/attachment-usage/test",
    "display": {"en-US": "A signature"},
    "contentType": "text/plain",
    "length": 27.0,
    "sha2": "495395e777cd98da653df9615d09c0fd6bb2f8d4788394cd53c56a3bfdcd848a",
    "fileUrl": "https://example.com/signature.txt",
}


def statement(**changes: Any) -> dict[str, Any]:
    example = json.loads((CATALOGUE / "org/adlnet/xapi/Statement/v1/example.json").read_text())
    return {**example, **changes}


@pytest.mark.parametrize("headers", [{}, {"X-Experience-API-Version": "1.0.3"}], ids=["own contract", "LRS"])
def test_a_statements_integral_floats_become_integers_and_integers_in_scores_floats(headers):
    sent = statement(attachments=[ATTACHMENT], result={"score": {"raw": 5, "min": 0, "max": 18446744073709551615}})
    response = APIClient().post(XAPI_URL, data=json.dumps(sent), content_type="application/json", headers=headers)
    assert response.status_code in (200, 202), response.json()
    [event] = queued_events()
    [attachment] = event.record["attachments"]
    assert attachment["length"] == 27
    assert type(attachment["length"]) is int
    score = event.record["result"]["score"]
    assert score == {"raw": 5.0, "min": 0.0, "max": 18446744073709551615.0}
    assert {type(value) for value in score.values()} == {float}


@pytest.mark.parametrize(("headers", "status"), [({}, 422), ({"X-Experience-API-Version": "1.0.3"}, 400)])
def test_a_statements_attachment_length_with_a_fraction_is_refused(headers, status):
    sent = statement(attachments=[{**ATTACHMENT, "length": 27.5}])
    response = APIClient().post(XAPI_URL, data=json.dumps(sent), content_type="application/json", headers=headers)
    assert response.status_code == status
    assert [(error["path"], error["code"]) for error in response.json()["errors"]] == [
        ("statement.attachments.0.length", "invalid_type")
    ]
    assert queued_events() == []


def test_an_event_whose_kafka_record_would_pass_the_producers_limit_is_refused_with_422():
    # The body fits MAX_REQUEST_BYTES (1 MiB); the record would not fit KAFKA_MESSAGE_MAX_BYTES (1,000,000).
    response = post(nudged(), nudged(app="a" * 1_000_000))
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert (error["index"], error["path"], error["code"]) == (1, "data", "event_too_large")
    assert error["message"].startswith("its Kafka record would be 1,000,")
    assert error["message"].endswith("at most 998,976 are allowed")
    assert queued_events() == []


def test_a_large_body_of_events_that_each_fit_is_accepted():
    response = post(*[nudged(app="a" * 2_000) for _ in range(400)])
    assert response.status_code == 202, response.json()
    assert len(queued_events()) == 400


def test_an_event_just_under_the_limit_is_accepted(settings):
    settings.KAFKA_MESSAGE_MAX_BYTES = 200_000
    response = post(nudged(app="a" * 190_000))
    assert response.status_code == 202, response.json()
    assert queued_events()[0].record["app"] == "a" * 190_000


@pytest.mark.parametrize(("headers", "status"), [({}, 422), ({"X-Experience-API-Version": "1.0.3"}, 400)])
def test_a_statement_whose_record_would_pass_the_limit_is_refused(headers, status):
    sent = statement(result={"extensions": {"https://example.com/notes": "n" * 1_000_000}})
    response = APIClient().post(XAPI_URL, data=json.dumps(sent), content_type="application/json", headers=headers)
    assert response.status_code == status
    assert [(error["path"], error["code"]) for error in response.json()["errors"]] == [("statement", "event_too_large")]
    assert queued_events() == []
