"""How a signed statement's payload is compared with the statement received (xAPI 1.0.3, Data 2.6
and the statement comparison of Data 2.3.1), and that no signature, however malformed, makes the
check fail: pure units, no services (the HTTP API's answers are in test_xapi_attachments.py)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events.xapi_signatures import signature_problems, signed_difference

STATEMENT: dict[str, Any] = {
    "id": "0f8fad5b-d9cb-469f-a165-70867728950e",
    "actor": {"objectType": "Agent", "mbox": "mailto:ada@example.edu"},
    "verb": {"id": "http://adlnet.gov/expapi/verbs/answered", "display": {"en-US": "answered"}},
    "object": {"objectType": "Activity", "id": "https://openstax.org/x/1", "definition": {"type": "https://x.org/t"}},
    "result": {"score": {"raw": 1}, "extensions": {"https://x.org/e": True}},
    "timestamp": "2024-03-12T15:04:05Z",
}


def changed(**changes: Any) -> dict[str, Any]:
    statement = copy.deepcopy(STATEMENT)
    for name, value in changes.items():
        if value is None:
            statement.pop(name)
        else:
            statement[name] = value
    return statement


@pytest.mark.parametrize(
    "received",
    [
        changed(id=None),
        changed(timestamp=None, version="1.0.0", stored="2024-03-12T15:04:06Z"),
        changed(authority={"mbox": "mailto:lrs@example.edu"}),
        changed(id="0F8FAD5B-D9CB-469F-A165-70867728950E"),
        changed(timestamp="2024-03-12T10:04:05.000-05:00"),
        changed(actor={"mbox": "mailto:ada@EXAMPLE.EDU"}),
        changed(verb={"id": "http://adlnet.gov/expapi/verbs/answered"}),
        changed(object={"id": "https://openstax.org/x/1"}),
        changed(result={"score": {"raw": 1.0}, "extensions": {"https://x.org/e": True}}),
        changed(attachments=[{"usageType": "https://x.org/u", "sha2": "ab"}]),
    ],
    ids=[
        "id assigned",
        "timestamp and version assigned, stored set",
        "authority assigned",
        "a UUID in upper case",
        "a timestamp in another zone",
        "a mbox domain in upper case",
        "a verb display",
        "an activity definition",
        "1.0 for 1",
        "attachments",
    ],
)
def test_what_xapi_does_not_count_as_a_difference_is_ignored(received):
    assert signed_difference(STATEMENT, received) is None


@pytest.mark.parametrize(
    ("received", "where"),
    [
        (changed(verb={"id": "http://adlnet.gov/expapi/verbs/failed"}), "statement.verb.id"),
        (changed(id="9f8fad5b-d9cb-469f-a165-70867728950e"), "statement.id"),
        (changed(timestamp="2024-03-12T15:04:06Z"), "statement.timestamp"),
        (changed(actor={"mbox": "mailto:ADA@example.edu"}), "statement.actor.mbox"),
        (changed(result={"score": {"raw": 1}, "extensions": {"https://x.org/e": 1}}), "statement.result.extensions"),
        (changed(result={"score": {"raw": 1}, "duration": "PT1M"}), "statement.result.duration"),
        (changed(context={"platform": "tutor"}), "statement.context"),
    ],
    ids=["verb", "id", "instant", "mbox local part", "true for 1", "a property added", "a property added (2)"],
)
def test_any_other_difference_counts_and_is_named(received, where):
    found = signed_difference(STATEMENT, received)

    assert found is not None
    assert found.startswith(where)


def test_a_groups_members_are_compared_in_any_order():
    members = [{"mbox": "mailto:ada@example.edu"}, {"mbox": "mailto:grace@example.edu"}]
    group = {"objectType": "Group", "member": members}

    assert signed_difference(changed(actor=group), changed(actor={**group, "member": members[::-1]})) is None
    assert signed_difference(changed(actor=group), changed(actor={**group, "member": members[:1]})) is not None


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                ["id", "actor", "object", "objectType", "member", "timestamp", "verb", "display", "mbox", "x"]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(derandomize=True, database=None, deadline=None, max_examples=300)
@given(st.dictionaries(st.sampled_from(["id", "actor", "verb", "object", "context", "timestamp", "x"]), _json))
def test_any_json_object_as_a_payload_is_compared_never_a_crash_and_equals_itself(payload):
    found = signed_difference(payload, STATEMENT)

    assert found is None or found.startswith("statement")
    assert signed_difference(payload, copy.deepcopy(payload)) is None


@settings(derandomize=True, database=None, deadline=None, max_examples=300)
@given(st.binary(max_size=60) | st.lists(st.binary(max_size=12), min_size=3, max_size=3).map(b".".join))
def test_any_bytes_as_a_signature_are_a_problem_never_a_crash(data):
    attachment = {"usageType": "http://adlnet.gov/expapi/attachments/signature", "sha2": "ab"}
    statement = {**STATEMENT, "attachments": [attachment]}

    [problem] = signature_problems(
        index=0, statement=statement, completed=statement, attachments={"ab": data}, event_type="t", max_depth=32
    )

    assert problem.code == "invalid_signature"
