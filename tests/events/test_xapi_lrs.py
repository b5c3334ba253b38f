"""The xAPI endpoint as an xAPI 1.0.3 LRS answers requests carrying X-Experience-API-Version:
through the HTTP API and the real queue (Redis), each rule read back from the queued records."""

from __future__ import annotations

import copy
import gzip
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import caches
from rest_framework.test import APIClient

from eventcapture.ratelimits import throttling_reset
from events.throttling import ClientIpRateThrottle, UserRateThrottle
from tests.queues import queued_events

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("catalogue", "empty_queue")]

URL = "/api/v0/xapi/statements"
XAPI = {"X-Experience-API-Version": "1.0.3"}
EXAMPLE = json.loads((Path(settings.BASE_DIR) / "schemas/org/adlnet/xapi/Statement/v1/example.json").read_text())
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def statement(**changes: Any) -> dict[str, Any]:
    """The catalogue's example statement with ``changes``; a change to None removes the key."""
    built = copy.deepcopy(EXAMPLE)
    built.update(changes)
    return {key: value for key, value in built.items() if value is not None}


def agent(name: str, **more: Any) -> dict[str, Any]:
    """An Agent without objectType, as xAPI lets clients write it."""
    return {"name": name, "mbox": f"mailto:{name.lower()}@example.edu", **more}


def post(body: Any, **headers: str) -> Any:
    return APIClient().post(URL, data=json.dumps(body), content_type="application/json", headers={**XAPI, **headers})


def put(body: Any, statement_id: str | None, **headers: str) -> Any:
    path = URL if statement_id is None else f"{URL}?statementId={statement_id}"
    return APIClient().put(path, data=json.dumps(body), content_type="application/json", headers={**XAPI, **headers})


def error_codes(response: Any) -> list[tuple[int | None, str | None, str]]:
    return [(error["index"], error["path"], error["code"]) for error in response.json()["errors"]]


# --- POST: ids, defaults, answer ----------------------------------------------------------------


def test_a_statement_without_id_gets_one_which_is_answered_and_is_the_queued_records_id_and_key():
    response = post(statement(id=None))

    assert response.status_code == 200
    assert response["X-Experience-API-Version"] == "1.0.3"
    [assigned] = response.json()
    assert UUID_TEXT.fullmatch(assigned)
    [event] = queued_events()
    assert event.key == assigned
    assert event.record["id"] == assigned
    assert event.event_id != assigned  # the delivery's own id, minted at the edge as for events


def test_the_answer_lists_every_statements_id_in_request_order_keeping_the_ids_clients_gave():
    own = ["0f8fad5b-d9cb-469f-a165-70867728950e", "7C9E6679-7425-40DE-944B-E07FC1F90AE7"]
    body = [statement(id=own[0]), statement(id=None), statement(id=own[1]), statement(id=None)]

    response = post(body)

    assert response.status_code == 200
    ids = response.json()
    assert len(ids) == 4
    assert (ids[0], ids[2]) == (own[0], own[1])  # kept as sent, case included
    assert len(set(ids)) == 4
    assert [(event.key, event.record["id"]) for event in queued_events()] == [(i, i) for i in ids]


def test_a_single_statement_is_answered_with_an_array_of_its_id():
    response = post(statement(id="0f8fad5b-d9cb-469f-a165-70867728950e"))
    assert response.status_code == 200
    assert response.json() == ["0f8fad5b-d9cb-469f-a165-70867728950e"]


def test_actor_and_object_without_object_type_are_an_agent_and_an_activity():
    object_without_type = {"id": "https://openstax.org/books/physics", "definition": {"name": {"en-US": "Physics"}}}
    response = post(statement(actor=agent("Ada"), object=object_without_type))

    assert response.status_code == 200, response.json()
    [event] = queued_events()
    assert event.record["actor"] == {"objectType": "Agent", "name": "Ada", "mbox": "mailto:ada@example.edu"}
    assert event.record["object"] == {"objectType": "Activity", **object_without_type}


def test_defaults_apply_to_group_members_instructors_authorities_context_activities_and_sub_statements():
    sub_statement = {
        "objectType": "SubStatement",
        "actor": {"objectType": "Group", "name": "Pair", "member": [agent("Ada"), agent("Grace")]},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/attempted"},
        "object": {"id": "https://openstax.org/exercise/42"},
        "context": {"instructor": agent("Emmy")},
    }
    context = {
        "instructor": agent("Lise"),
        "team": {"objectType": "Group", "member": [agent("Marie")]},
        # One Activity where xAPI expects a list: an LRS stores the list of it.
        "contextActivities": {"parent": {"id": "https://openstax.org/books/physics"}},
    }
    body = statement(
        actor={"objectType": "Group", "member": [agent("Ada")]},
        object=sub_statement,
        context=context,
        authority=agent("Registrar"),
    )

    response = post(body)

    assert response.status_code == 200, response.json()
    [event] = queued_events()
    record = event.record
    assert record["actor"]["member"] == [{"objectType": "Agent", **agent("Ada")}]
    assert record["authority"] == {"objectType": "Agent", **agent("Registrar")}
    assert record["context"]["instructor"] == {"objectType": "Agent", **agent("Lise")}
    assert record["context"]["team"]["member"] == [{"objectType": "Agent", **agent("Marie")}]
    assert record["context"]["contextActivities"]["parent"] == [
        {"objectType": "Activity", "id": "https://openstax.org/books/physics"}
    ]
    sub = record["object"]
    assert [member["objectType"] for member in sub["actor"]["member"]] == ["Agent", "Agent"]
    assert sub["object"] == {"objectType": "Activity", "id": "https://openstax.org/exercise/42"}
    assert sub["context"]["instructor"] == {"objectType": "Agent", **agent("Emmy")}


def test_a_group_without_object_type_is_not_guessed_but_refused():
    # xAPI makes objectType optional for Agents only; a Group must say it is one.
    response = post(statement(actor={"member": [agent("Ada")]}))
    assert response.status_code == 400
    assert error_codes(response) == [(0, "statement.actor.objectType", "required")]
    assert queued_events() == []


def test_stored_is_set_and_timestamp_and_version_default_to_it_and_to_1_0_0():
    before = datetime.now(UTC) - timedelta(milliseconds=1)
    bare_statement = statement(id=None, timestamp=None, version=None, stored="1999-01-01T00:00:00Z")
    response = post([bare_statement, statement(id=None)])
    after = datetime.now(UTC)

    assert response.status_code == 200
    bare, full = (event.record for event in queued_events())
    stored = datetime.fromisoformat(bare["stored"])
    assert before <= stored <= after
    assert bare["stored"].endswith("Z")
    assert bare["timestamp"] == bare["stored"]
    assert bare["version"] == "1.0.0"
    assert full["stored"] == bare["stored"]  # one receive time per request
    assert (full["timestamp"], full["version"]) == (EXAMPLE["timestamp"], EXAMPLE["version"])


# --- POST: all or nothing, refusals -------------------------------------------------------------


def test_one_invalid_statement_refuses_the_whole_request_with_400_in_the_existing_error_shape():
    body = [statement(id=None, object={"id": "https://openstax.org/x"}), statement(verb={"display": {"en": "did"}})]

    response = post(body)

    assert response.status_code == 400
    assert response["X-Experience-API-Version"] == "1.0.3"
    assert response.json() == {
        "status_code": 400,
        "messages": ["Event [1]: id is required"],
        "errors": [{"index": 1, "path": "statement.verb.id", "code": "required", "message": "id is required"}],
    }
    assert queued_events() == []


def test_xapi_00027_a_statement_id_that_is_not_a_uuid_is_400_invalid_format():
    response = post([statement(), statement(id="statement-1")])
    assert response.status_code == 400
    assert error_codes(response) == [(1, "statement.id", "invalid_format")]
    assert queued_events() == []


def test_two_statements_with_one_id_refuse_the_request():
    same = "0f8fad5b-d9cb-469f-a165-70867728950e"
    response = post([statement(id=same), statement(id=None), statement(id=same.upper())])
    assert response.status_code == 400
    assert error_codes(response) == [(2, "statement.id", "invalid_value")]
    assert "statement [0]" in response.json()["errors"][0]["message"]
    assert queued_events() == []


def test_xapi_00101_a_statement_of_another_xapi_version_is_400():
    response = post(statement(version="2.0.0"))
    assert response.status_code == 400
    assert error_codes(response) == [(0, "statement.version", "invalid_format")]


def test_a_body_that_is_not_a_statement_or_an_array_is_400_with_the_version_header():
    response = post("a statement")
    assert response.status_code == 400
    assert response["X-Experience-API-Version"] == "1.0.3"
    assert error_codes(response) == [(None, None, "malformed_request")]


# --- the version header -------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.0.0", "1.0.1", "1.0.2", "1.0.3", "1.0"])
def test_every_1_0_x_version_is_spoken(version):
    response = post(statement(id=None), **{"X-Experience-API-Version": version})
    assert response.status_code == 200
    assert response["X-Experience-API-Version"] == "1.0.3"


@pytest.mark.parametrize("version", ["2.0.0", "0.95", "1.1", "1.0.x", "", "1.0.3; 2.0.0"])
def test_another_version_in_the_header_is_400_and_nothing_is_queued(version):
    response = post(statement(), **{"X-Experience-API-Version": version})
    assert response.status_code == 400
    assert response["X-Experience-API-Version"] == "1.0.3"
    [error] = response.json()["errors"]
    assert error["code"] == "unsupported_xapi_version"
    assert "1.0.x" in error["message"]
    assert queued_events() == []


def test_a_huge_version_header_or_statement_id_gets_a_small_refusal():
    by_header = post(statement(), **{"X-Experience-API-Version": "9" * 100_000})
    by_parameter = put(statement(id=None), "0" * 100_000)
    assert (by_header.status_code, by_parameter.status_code) == (400, 400)
    assert len(by_header.content) < 1000
    assert len(by_parameter.content) < 1000


def test_an_unsupported_version_on_a_put_is_400_too():
    response = put(statement(id=None), str(uuid.uuid4()), **{"X-Experience-API-Version": "2.0.0"})
    assert response.status_code == 400
    assert error_codes(response) == [(None, None, "unsupported_xapi_version")]


# --- PUT ----------------------------------------------------------------------------------------


def test_a_put_stores_the_statement_under_statement_id_and_answers_204_with_the_version_header():
    statement_id = str(uuid.uuid4())

    response = put(statement(id=None, actor=agent("Ada"), object={"id": "https://openstax.org/x"}), statement_id)

    assert response.status_code == 204
    assert response.content == b""
    assert response["X-Experience-API-Version"] == "1.0.3"
    [event] = queued_events()
    assert (event.key, event.record["id"]) == (statement_id, statement_id)
    assert event.record["actor"]["objectType"] == "Agent"
    assert event.record["object"]["objectType"] == "Activity"


def test_a_put_of_a_statement_carrying_the_same_id_is_204_and_keeps_its_spelling():
    statement_id = str(uuid.uuid4())
    response = put(statement(id=statement_id.upper()), statement_id)
    assert response.status_code == 204
    [event] = queued_events()
    assert event.key == statement_id.upper()


def test_a_put_of_a_statement_carrying_another_id_is_409():
    response = put(statement(id=str(uuid.uuid4())), str(uuid.uuid4()))
    assert response.status_code == 409
    assert response["X-Experience-API-Version"] == "1.0.3"
    assert error_codes(response) == [(0, "statement.id", "statement_id_conflict")]
    assert queued_events() == []


@pytest.mark.parametrize(("own_id", "code"), [("statement-1", "invalid_format"), (42, "invalid_type")])
def test_a_put_of_a_statement_whose_id_is_no_uuid_is_400(own_id, code):
    response = put(statement(id=own_id), str(uuid.uuid4()))
    assert response.status_code == 400
    assert error_codes(response) == [(0, "statement.id", code)]
    assert queued_events() == []


@pytest.mark.parametrize("statement_id", [None, "", "not-a-uuid", "0f8fad5b-d9cb-469f-a165-70867728950"])
def test_a_put_without_a_valid_statement_id_is_400(statement_id):
    response = put(statement(id=None), statement_id)
    assert response.status_code == 400
    assert error_codes(response) == [(None, "statementId", "malformed_request")]
    assert queued_events() == []


def test_a_put_of_an_array_is_400():
    response = put([statement(id=None)], str(uuid.uuid4()))
    assert response.status_code == 400
    assert error_codes(response) == [(None, None, "malformed_request")]


def test_a_put_of_an_invalid_statement_is_400_in_the_existing_error_shape():
    response = put(statement(id=None, verb={}), str(uuid.uuid4()))
    assert response.status_code == 400
    assert error_codes(response) == [(0, "statement.verb.id", "required")]
    assert queued_events() == []


# --- the same limits as the events --------------------------------------------------------------


def test_a_gzip_encoded_body_is_read():
    body = gzip.compress(json.dumps([statement(id=None)]).encode())
    response = APIClient().post(
        URL, data=body, content_type="application/json", headers={**XAPI, "Content-Encoding": "gzip"}
    )
    assert response.status_code == 200
    assert [event.key for event in queued_events()] == response.json()


def test_a_body_over_the_size_limit_is_413_on_post_and_put():
    big = statement(id=None, context={"platform": "x" * (settings.MAX_REQUEST_BYTES + 1)})
    for response in (post(big), put(big, str(uuid.uuid4()))):
        assert response.status_code == 413
        assert response["X-Experience-API-Version"] == "1.0.3"
        assert error_codes(response) == [(None, None, "payload_too_large")]
    assert queued_events() == []


def test_too_many_statements_are_refused_by_their_count(settings):
    settings.MAX_EVENTS_PER_REQUEST = 2
    response = post([statement(id=None)] * 3)
    assert response.status_code == 422
    assert error_codes(response) == [(None, "events", "too_many_events")]


@pytest.mark.usefixtures("empty_queue", "unreachable_queue")
def test_nothing_is_answered_200_or_204_unless_durably_queued():
    for response in (post(statement(id=None)), put(statement(id=None), str(uuid.uuid4()))):
        assert response.status_code == 503
        assert response["Retry-After"] == "5"
        assert error_codes(response) == [(None, None, "queue_unavailable")]


# A fixed clock 39.5 s before the end of its minute, so no window ends in the middle of a test.
NOW = 1_699_999_980.0 + 20.5


def test_posts_and_puts_count_against_the_rate_limit(settings, monkeypatch):
    for throttle in (ClientIpRateThrottle, UserRateThrottle):
        monkeypatch.setattr(throttle, "timer", staticmethod(lambda: NOW))
    throttling_reset()
    caches["ratelimit"].clear()
    settings.RATE_LIMIT_PER_IP = "2/min"
    client = APIClient()
    first = client.post(
        URL,
        data=json.dumps(statement(id=None)),
        content_type="application/json",
        headers=XAPI,
        REMOTE_ADDR="203.0.113.77",
    )
    second = client.put(
        f"{URL}?statementId={uuid.uuid4()}",
        data=json.dumps(statement(id=None)),
        content_type="application/json",
        headers=XAPI,
        REMOTE_ADDR="203.0.113.77",
    )
    third = client.put(
        f"{URL}?statementId={uuid.uuid4()}",
        data=json.dumps(statement(id=None)),
        content_type="application/json",
        headers=XAPI,
        REMOTE_ADDR="203.0.113.77",
    )
    assert [first.status_code, second.status_code, third.status_code] == [200, 204, 429]
    assert third["X-Experience-API-Version"] == "1.0.3"
    assert error_codes(third) == [(None, None, "rate_limited")]
    assert len(queued_events()) == 2
    caches["ratelimit"].clear()


# --- without the header: the service's own contract, unchanged ----------------------------------


def plain_post(body: Any) -> Any:
    return APIClient().post(URL, data=json.dumps(body), content_type="application/json")


def test_without_the_header_a_statement_is_completed_as_in_lrs_mode_and_an_invalid_one_is_422():
    completed = statement(id=None, object={"id": "https://openstax.org/x"}, stored="1999-01-01T00:00:00Z")
    invalid = statement(verb={"id": "not an IRI"})

    refused = plain_post([completed, invalid])
    accepted = plain_post([completed, statement(timestamp=None, version=None)])

    assert refused.status_code == 422
    assert error_codes(refused) == [(1, "statement.verb.id", "invalid_format")]
    assert "X-Experience-API-Version" not in refused
    assert accepted.status_code == 202
    first, second = (event.record for event in queued_events())
    assert UUID_TEXT.fullmatch(first["id"])
    assert first["object"] == {"objectType": "Activity", "id": "https://openstax.org/x"}
    assert first["stored"] != "1999-01-01T00:00:00Z"
    assert first["stored"] == second["stored"] == second["timestamp"]
    assert second["version"] == "1.0.0"


def test_without_the_header_the_answer_is_still_202_with_delivery_ids_and_the_key_is_the_statement_id():
    response = plain_post(statement())

    assert response.status_code == 202
    assert "X-Experience-API-Version" not in response
    body = response.json()
    assert body["accepted"] == 1
    assert body["warnings"] == []
    [event] = queued_events()
    assert body["ids"] == [event.event_id]
    assert event.key == EXAMPLE["id"] != event.event_id


def test_without_the_header_two_statements_with_one_id_are_both_taken_as_before():
    response = plain_post([statement(), statement()])
    assert response.status_code == 202
    assert [event.key for event in queued_events()] == [EXAMPLE["id"], EXAMPLE["id"]]


def test_without_the_header_a_put_is_405_as_before():
    response = APIClient().put(
        f"{URL}?statementId={uuid.uuid4()}", data=json.dumps(statement()), content_type="application/json"
    )
    assert response.status_code == 405
    assert error_codes(response) == [(None, None, "method_not_allowed")]
    assert "X-Experience-API-Version" in response.json()["errors"][0]["message"]
    assert queued_events() == []
