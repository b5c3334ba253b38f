"""Statement writes judged by the xAPI 1.0.3 requirements an LRS must meet (the ADL "xAPI LRS
conformance requirements", XAPI-00001 …), through the HTTP API in LRS mode (``X-Experience-API-Version``)
and the real queue: an invalid statement is 400 with the usual error body and nothing is queued; a
valid one is 200 and its record is queued whole."""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import pytest
from rest_framework.test import APIClient

from events.xapi_statements import statement_record
from tests.queues import queued_events
from tests.xapi_records import group_object_statement, rich_statement, statement_rebuilt

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("catalogue", "empty_queue")]

URL = "/api/v0/xapi/statements"
XAPI = {"X-Experience-API-Version": "1.0.3"}
BASE: dict[str, Any] = {
    "actor": {"mbox": "mailto:ada@example.edu"},
    "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
    "object": {"id": "https://openstax.org/books/physics"},
}
ACTIVITY = {"objectType": "Activity", "id": "https://openstax.org/books/physics"}
ADA = {"objectType": "Agent", "mbox": "mailto:ada@example.edu"}
GRACE = {"objectType": "Agent", "mbox": "mailto:grace@example.edu"}
SHA2 = "495395e777cd98da653df9615d09c0fd6bb2f8d4788394cd53c56a3bfdcd848a"
ATTACHMENT = {
    "usageType": "http://adlnet.gov/expapi/attachments/signature",
    "display": {"en-US": "Signature"},
    "contentType": "application/octet-stream",
    "length": 27,
    "sha2": SHA2,
    "fileUrl": "https://openstax.org/signatures/1",
}


def statement(**changes: Any) -> dict[str, Any]:
    """``BASE`` with ``changes``: a dotted name sets a nested value; None removes the key."""
    built = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        *parents, name = dotted.split("__")
        target = built
        for parent in parents:
            target = target.setdefault(parent, {})
        if value is None:
            target.pop(name, None)
        else:
            target[name] = copy.deepcopy(value)
    return built


def post(body: Any, path: str = URL) -> Any:
    return APIClient().post(path, data=json.dumps(body), content_type="application/json", headers=XAPI)


def refused(body: Any, *expected: tuple[str, str], path: str = URL) -> None:
    """``body`` is refused with 400 and exactly the ``(path, code)`` errors ``expected``; nothing queued."""
    response = post(body, path)
    assert response.status_code == 400, response.content
    assert response["X-Experience-API-Version"] == "1.0.3"
    errors = response.json()["errors"]
    assert [(error["path"], error["code"]) for error in errors] == list(expected), errors
    assert queued_events() == []


def accepted(body: Any) -> dict[str, Any]:
    """``body`` (one statement) is answered 200 with its id, and the record queued for it."""
    response = post(body)
    assert response.status_code == 200, response.content
    [event] = queued_events()
    assert response.json() == [event.key]
    return event.record


# --- 2.2 Formatting requirements ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"actor": {"mbox": "mailto:ada@example.edu", "name": None}}, "actor.name"),
        ({"verb__display": {"en-US": None}}, "verb.display.en-US"),
        ({"context": {"registration": None}}, "context.registration"),
        ({"object__definition": {"moreInfo": None}}, "object.definition.moreInfo"),
        ({"result": {"score": {"raw": None}}}, "result.score.raw"),
    ],
)
def test_xapi_00001_a_null_property_outside_extensions_is_400(changes, path):
    refused(statement(**changes), (f"statement.{path}", "invalid_type"))


def test_xapi_00001_a_null_extension_value_is_accepted_and_kept_as_json_text():
    record = accepted(statement(result={"extensions": {"https://openstax.org/x/nothing": None}}))
    assert record["result"] == {
        "extensions": {"https://openstax.org/x/nothing": "null"},
        "jsonExtensionKeys": ["https://openstax.org/x/nothing"],
    }


@pytest.mark.parametrize(("requirement", "missing"), [("00003", "actor"), ("00004", "verb"), ("00005", "object")])
def test_xapi_00003_00004_00005_a_statement_without_actor_verb_or_object_is_400(requirement, missing):
    refused(statement(**{missing: None}), (f"statement.{missing}", "required"))


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"result": {"score": {"max": "100"}}}, "result.score.max"),
        ({"result": {"completion": "false"}}, "result.completion"),
        ({"context": {"platform": 12345}}, "context.platform"),
    ],
)
def test_xapi_00006_a_value_of_the_wrong_type_is_400(changes, path):
    refused(statement(**changes), (f"statement.{path}", "invalid_type"))


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"verb__id": ""}, "verb.id"),
        ({"actor": {"mbox": "ada@example.edu"}}, "actor.mbox"),
        ({"context": {"registration": "MA97B177-9383-4934-8543-0F91A7A02836"}}, "context.registration"),
    ],
)
def test_xapi_00007_a_value_not_of_its_format_empty_included_is_400(changes, path):
    refused(statement(**changes), (f"statement.{path}", "invalid_format"))


def test_xapi_00008_a_key_in_another_case_is_400_unknown_field():
    body = statement(actor=None, Actor={"mbox": "mailto:ada@example.edu"})
    refused(body, ("statement.actor", "required"), ("statement", "unknown_field"))


def test_xapi_00009_an_enumerated_value_in_another_case_is_400():
    body = statement(object__definition={"interactionType": "True-False"})
    refused(body, ("statement.object.definition.interactionType", "invalid_value"))


def test_xapi_00014_an_object_type_holding_json_text_is_400():
    refused(statement(actor__objectType='"objectType": "Agent"'), ("statement.actor.objectType", "invalid_value"))


# --- 2.3 Statement lifecycle: voiding ----------------------------------------------------------


def test_xapi_00017_00020_a_voiding_statement_must_refer_to_a_statement():
    voided = {"id": "http://adlnet.gov/expapi/verbs/voided", "display": {"en-US": "voided"}}
    refused(statement(verb=voided), ("statement.object.objectType", "invalid_value"))
    target = {"objectType": "StatementRef", "id": str(uuid.uuid4())}
    assert accepted(statement(verb=voided, object=target))["object"] == target


# --- 2.4 Statement properties --------------------------------------------------------------------


@pytest.mark.parametrize("timestamp", ["01/011/2015", "2008-09-15T15:53:00.601-00:00", "2008-09-15T15:53:00-0000"])
def test_xapi_00022_00123_an_invalid_timestamp_is_400(timestamp):
    refused(statement(timestamp=timestamp), ("statement.timestamp", "invalid_format"))


@pytest.mark.parametrize(
    "timestamp", ["2031-03-12T15:04:05.123456Z", "2024-03-12T15:04:05+05:30", "2024-03-12T15:04", "20240312T150405Z"]
)
def test_xapi_00022_00123_a_timestamp_in_the_future_basic_format_or_without_seconds_or_zone_is_kept(timestamp):
    assert accepted(statement(timestamp=timestamp))["timestamp"] == timestamp


def test_xapi_00024_00098_an_authority_may_be_an_anonymous_group_of_two_agents():
    authority = {"objectType": "Group", "member": [ADA, GRACE]}
    assert accepted(statement(authority=authority))["authority"] == authority


@pytest.mark.parametrize(
    ("authority", "expected"),
    [
        ({"objectType": "Group", "member": [ADA]}, ("statement.authority.member", "invalid_value")),
        ({"objectType": "Group", "member": [ADA, GRACE, ADA]}, ("statement.authority.member", "invalid_value")),
        (
            {"objectType": "Group", "mbox": "mailto:team@example.edu", "member": [ADA, GRACE]},
            ("statement.authority", "unknown_field"),
        ),
        (
            {"objectType": "Activity", "id": "https://openstax.org/x"},
            ("statement.authority.objectType", "invalid_value"),
        ),
    ],
)
def test_xapi_00024_00098_00100_an_authority_that_is_no_agent_or_anonymous_group_of_two_is_400(authority, expected):
    refused(statement(authority=authority), expected)


def test_xapi_00025_attachments_must_be_an_array_of_attachments():
    refused(statement(attachments=ATTACHMENT), ("statement.attachments", "invalid_type"))
    refused(statement(attachments=["a"]), ("statement.attachments.0", "invalid_type"))


def test_xapi_00026_a_statement_without_id_gets_one():
    record = accepted(statement())
    assert uuid.UUID(record["id"])


@pytest.mark.parametrize(
    ("value", "code"), [(12345, "invalid_type"), ("AA97B177-9383-4934-8543-0F91A7A028368", "invalid_format")]
)
def test_xapi_00027_00028_00029_an_id_that_is_no_uuid_text_is_400(value, code):
    refused(statement(id=value), ("statement.id", code))


def test_xapi_00031_00032_an_actor_object_type_other_than_agent_or_group_is_400():
    refused(statement(actor__objectType="agent"), ("statement.actor.objectType", "invalid_value"))


@pytest.mark.parametrize(
    ("actor", "expected"),
    [
        ({"name": "Ada"}, ("statement.actor", "required")),
        (
            {"mbox": "mailto:ada@example.edu", "openid": "https://openid.example.org/ada"},
            ("statement.actor", "invalid_value"),
        ),
    ],
)
def test_xapi_00034_an_agent_uses_exactly_one_inverse_functional_identifier(actor, expected):
    refused(statement(actor=actor), expected)


def test_xapi_00035_00037_an_anonymous_group_needs_a_member_and_a_group_at_most_one_identifier():
    refused(statement(actor={"objectType": "Group", "name": "Nobody"}), ("statement.actor.member", "required"))
    two_ifis = {"objectType": "Group", "mbox": "mailto:g@example.edu", "openid": "https://openid.example.org/g"}
    refused(statement(actor=two_ifis), ("statement.actor", "invalid_value"))


def test_xapi_00036_members_are_an_array_of_valid_agents():
    refused(statement(actor={"objectType": "Group", "member": ADA}), ("statement.actor.member", "invalid_type"))
    refused(
        statement(actor={"objectType": "Group", "member": [{"name": "Ada"}]}), ("statement.actor.member.0", "required")
    )


def test_xapi_00037_an_identified_group_without_members_is_kept_with_its_identifier():
    group = {
        "objectType": "Group",
        "name": "Study group 4",
        "account": {"homePage": "https://openstax.org", "name": "g4"},
    }
    assert accepted(statement(actor=group))["actor"] == group


@pytest.mark.parametrize(
    ("ifi", "value"),
    [
        ("mbox", "mailto:should.fail.com"),
        ("mbox", "http://should.fail.com"),
        ("mbox_sha1sum", "not a sha1"),
        ("openid", "ab=c://should.fail.com"),
    ],
)
def test_xapi_00038_00039_00040_an_identifier_not_of_its_form_is_400(ifi, value):
    refused(statement(actor={ifi: value}), (f"statement.actor.{ifi}", "invalid_format"))


@pytest.mark.parametrize(
    ("account", "expected"),
    [
        ({"name": "ada"}, ("statement.actor.account.homePage", "required")),
        ({"homePage": "ab=c://should.fail.com", "name": "ada"}, ("statement.actor.account.homePage", "invalid_format")),
        ({"homePage": "https://openstax.org"}, ("statement.actor.account.name", "required")),
    ],
)
def test_xapi_00041_00042_00043_an_invalid_account_is_400(account, expected):
    refused(statement(actor={"account": account}), expected)


def test_xapi_00044_a_verb_id_must_be_an_iri():
    refused(statement(verb__id="ab=c://should.fail.com"), ("statement.verb.id", "invalid_format"))


@pytest.mark.parametrize("display", [{"a12345": "did"}, {"de-419-DE": "tat"}, {}, "did"])
def test_xapi_00045_00121_a_display_that_is_no_rfc_5646_language_map_is_400(display):
    code = "invalid_type" if isinstance(display, str) else "invalid_format" if display else "invalid_value"
    refused(statement(verb__display=display), ("statement.verb.display", code))


def test_xapi_00046_an_object_type_of_another_case_is_400():
    refused(statement(object__objectType="activity"), ("statement.object.objectType", "invalid_value"))


def test_xapi_00046_a_group_may_be_the_object_and_reaches_the_record_as_a_group():
    group = {"objectType": "Group", "name": "Study group 4", "member": [ADA, GRACE]}
    assert accepted(statement(object=group))["object"] == group


def test_xapi_00047_an_activity_needs_an_iri_id():
    refused(statement(object={"definition": {"name": {"en": "x"}}}), ("statement.object.id", "required"))
    refused(statement(object={"id": "physics"}), ("statement.object.id", "invalid_format"))


def test_xapi_00049_an_unknown_interaction_type_is_400():
    refused(
        statement(object__definition={"interactionType": "essay"}),
        ("statement.object.definition.interactionType", "invalid_value"),
    )


def test_xapi_00049_to_00055_00062_every_interaction_kind_with_its_components_is_kept():
    component = [{"id": "a", "description": {"en-US": "A"}}, {"id": "b"}]
    definitions = [
        {"interactionType": "choice", "correctResponsesPattern": ["a[,]b"], "choices": component},
        {"interactionType": "sequencing", "correctResponsesPattern": ["a[,]b"], "choices": component},
        {"interactionType": "likert", "correctResponsesPattern": ["a"], "scale": component},
        {"interactionType": "matching", "correctResponsesPattern": ["a[.]b"], "source": component, "target": component},
        {"interactionType": "performance", "correctResponsesPattern": ["a[.]1:"], "steps": component},
        {"interactionType": "fill-in", "correctResponsesPattern": ["{case_matters=false}Ada"]},
    ]
    for definition in definitions:
        assert accepted(statement(object__definition=definition))["object"]["definition"] == definition


def test_xapi_00058_interaction_component_ids_are_unique_within_their_list():
    definition = {"interactionType": "choice", "choices": [{"id": "a"}, {"id": "b"}, {"id": "a"}]}
    refused(statement(object__definition=definition), ("statement.object.definition.choices.2.id", "invalid_value"))


def test_xapi_00063_an_interaction_component_must_be_an_object_with_an_id():
    definition = {"interactionType": "likert", "scale": ["a", {"description": {"en": "B"}}]}
    refused(
        statement(object__definition=definition),
        ("statement.object.definition.scale.0", "invalid_type"),
        ("statement.object.definition.scale.1.id", "required"),
    )


def test_xapi_00064_interaction_properties_need_an_interaction_type():
    definition = {"correctResponsesPattern": ["true"]}
    refused(statement(object__definition=definition), ("statement.object.definition.interactionType", "required"))


def test_xapi_00065_an_agent_object_must_say_it_is_one():
    # Without objectType the object is an Activity, which has no mbox.
    refused(
        statement(object={"mbox": "mailto:ada@example.edu"}),
        ("statement.object.id", "required"),
        ("statement.object", "unknown_field"),
    )


@pytest.mark.parametrize("key", ["id", "stored", "version", "authority"])
def test_xapi_00067_to_00070_a_sub_statement_has_no_id_stored_version_or_authority(key):
    values = {"id": str(uuid.uuid4()), "stored": "2024-03-12T15:04:05Z", "version": "1.0.0", "authority": ADA}
    sub = {"objectType": "SubStatement", **BASE, key: values[key]}
    refused(statement(object=sub), ("statement.object", "unknown_field"))


def test_xapi_00071_a_sub_statement_cannot_hold_a_sub_statement():
    inner = {"objectType": "SubStatement", **BASE}
    refused(statement(object={**inner, "object": inner}), ("statement.object.object.objectType", "invalid_value"))


def test_xapi_00072_00073_a_statement_reference_needs_its_object_type_and_a_uuid():
    refused(
        statement(object={"objectType": "StatementRef", "id": "should fail"}), ("statement.object.id", "invalid_format")
    )
    refused(
        statement(object={"objectType": "statementref", "id": str(uuid.uuid4())}),
        ("statement.object.objectType", "invalid_value"),
    )


@pytest.mark.parametrize("duration", ["PA1H0M0S", "P", "PT", "1H"])
def test_xapi_00077_00124_a_duration_not_in_iso_8601_is_400(duration):
    refused(statement(result={"duration": duration}), ("statement.result.duration", "invalid_format"))


@pytest.mark.parametrize("duration", ["PT1H0M0.1S", "P4W", "P3Y1M29DT4H35M59.14S", "PT16559.14S"])
def test_xapi_00077_00124_iso_8601_durations_are_accepted(duration):
    assert accepted(statement(result={"duration": duration}))["result"]["duration"] == duration


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        ({"scaled": 1.01}, ("statement.result.score.scaled", "invalid_value")),
        ({"scaled": -1.00001}, ("statement.result.score.scaled", "invalid_value")),
        ({"min": 5, "max": 4}, ("statement.result.score.min", "invalid_value")),
        ({"raw": 11, "max": 10}, ("statement.result.score.raw", "invalid_value")),
        ({"raw": -1, "min": 0}, ("statement.result.score.raw", "invalid_value")),
    ],
)
def test_xapi_00080_to_00083_a_score_out_of_its_bounds_is_400(score, expected):
    refused(statement(result={"score": score}), expected)


def test_xapi_00080_to_00083_a_score_within_its_bounds_is_kept():
    score = {"scaled": -1, "raw": 0.25, "min": 0, "max": 10}
    assert accepted(statement(result={"score": score}))["result"]["score"] == score


@pytest.mark.parametrize(("requirement", "name"), [("00084", "revision"), ("00085", "platform")])
def test_xapi_00084_00085_revision_and_platform_only_with_an_activity_object(requirement, name):
    body = statement(object=ADA, context={name: "r1"})
    refused(body, (f"statement.context.{name}", "invalid_value"))
    assert accepted(statement(context={name: "r1"}))["context"] == {name: "r1"}


def test_xapi_00087_a_registration_must_be_a_uuid():
    refused(statement(context={"registration": "should fail"}), ("statement.context.registration", "invalid_format"))


def test_xapi_00088_a_team_must_be_a_group():
    refused(statement(context={"team": ADA}), ("statement.context.team.objectType", "invalid_value"))


def test_xapi_00091_a_context_language_must_be_an_rfc_5646_tag():
    refused(statement(context={"language": "en_US"}), ("statement.context.language", "invalid_format"))
    assert accepted(statement(context={"language": "zh-Hant-TW"}))["context"]["language"] == "zh-Hant-TW"


def test_xapi_00093_to_00096_context_activities_of_the_four_kinds_a_lone_one_made_a_list():
    record = accepted(
        statement(
            context={
                "contextActivities": {
                    "parent": ACTIVITY,
                    "grouping": [ACTIVITY],
                    "category": [ACTIVITY],
                    "other": [ACTIVITY],
                }
            }
        )
    )
    assert record["context"]["contextActivities"] == {
        kind: [ACTIVITY] for kind in ("parent", "grouping", "category", "other")
    }


def test_xapi_00093_00095_context_activities_of_another_kind_or_none_are_400():
    refused(
        statement(context={"contextActivities": {"sibling": [ACTIVITY]}}),
        ("statement.context.contextActivities", "unknown_field"),
    )
    refused(statement(context={"contextActivities": {}}), ("statement.context.contextActivities", "invalid_value"))


def test_xapi_00097_stored_is_set_by_the_service_whatever_the_statement_says():
    record = accepted(statement(stored="2011-07-15T00:00:00.000Z"))
    assert record["stored"] != "2011-07-15T00:00:00.000Z"


@pytest.mark.parametrize(("version", "status"), [("1.0", 200), ("1.0.9", 200), ("0.9.9", 400), ("1.1.0", 400)])
def test_xapi_00101_a_version_other_than_1_0_or_1_0_x_is_400(version, status):
    assert post(statement(version=version)).status_code == status


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"length": "27"}, ("statement.attachments.0.length", "invalid_type")),
        ({"length": 2**31}, ("statement.attachments.0.length", "invalid_value")),
        ({"sha2": "not a hash"}, ("statement.attachments.0.sha2", "invalid_format")),
        ({"fileUrl": "should fail"}, ("statement.attachments.0.fileUrl", "invalid_format")),
        ({"fileUrl": None}, ("statement.attachments.0.fileUrl", "required")),
        ({"contentType": "should fail"}, ("statement.attachments.0.contentType", "invalid_format")),
        ({"display": None}, ("statement.attachments.0.display", "required")),
        ({"usageType": "should fail"}, ("statement.attachments.0.usageType", "invalid_format")),
    ],
)
def test_xapi_00102_to_00107_an_invalid_attachment_is_400(changes, expected):
    attachment = {key: value for key, value in {**ATTACHMENT, **changes}.items() if value is not None}
    refused(statement(attachments=[attachment]), expected)


def test_xapi_00106_an_attachment_without_description_is_kept_as_sent():
    assert accepted(statement(attachments=[ATTACHMENT]))["attachments"] == [ATTACHMENT]


# --- 4.1 Extensions -------------------------------------------------------------------------------


def test_xapi_00118_extension_values_of_every_json_type_are_kept_as_json_text_and_listed():
    values = {
        "https://x.org/s": "5",
        "https://x.org/n": 5,
        "https://x.org/o": {"a": [True, None]},
        "https://x.org/z": None,
    }
    record = accepted(statement(context={"extensions": values}))
    assert record["context"] == {
        "extensions": {
            "https://x.org/s": "5",
            "https://x.org/n": "5",
            "https://x.org/o": '{"a":[true,null]}',
            "https://x.org/z": "null",
        },
        "jsonExtensionKeys": ["https://x.org/n", "https://x.org/o", "https://x.org/z"],
    }


def test_xapi_00119_an_empty_extensions_object_is_accepted():
    assert accepted(statement(result={"extensions": {}}))["result"] == {"extensions": {}}


def test_xapi_00120_an_extension_key_that_is_no_iri_is_400():
    refused(statement(result={"extensions": {"should fail": True}}), ("statement.result.extensions", "invalid_format"))


# --- Communication: the statement resource --------------------------------------------------------


def test_xapi_00324_a_write_with_a_query_parameter_the_lrs_does_not_know_is_400():
    refused(statement(), ("query", "malformed_request"), path=f"{URL}?foo=bar")


def test_xapi_00325_a_put_with_statement_id_in_another_case_is_400():
    response = APIClient().put(
        f"{URL}?StatementId={uuid.uuid4()}", data=json.dumps(statement()), content_type="application/json", headers=XAPI
    )
    assert response.status_code == 400
    assert [error["code"] for error in response.json()["errors"]] == ["malformed_request"]
    assert queued_events() == []


def test_xapi_00326_one_invalid_statement_refuses_the_batch():
    refused(
        [statement(id=str(uuid.uuid4())), statement(verb__id="should fail")], ("statement.verb.id", "invalid_format")
    )


@pytest.mark.parametrize("build", [rich_statement, group_object_statement])
def test_xapi_00143_00146_a_valid_statement_reaches_the_queue_as_its_whole_record(build):
    sent = build(str(uuid.uuid4()))
    response = APIClient().put(
        f"{URL}?statementId={sent['id']}", data=json.dumps(sent), content_type="application/json", headers=XAPI
    )

    assert response.status_code == 204, response.content
    [event] = queued_events()
    completed = {**sent, "stored": event.record["stored"]}
    assert event.record == {**dict.fromkeys(event.record), **statement_record(completed)}
    assert statement_rebuilt(event.record) == completed


MULTIPART = "multipart/mixed; boundary=-------314159265358979323846"


@pytest.mark.parametrize(
    ("content_type", "encoding"),
    [
        ("multipart/form-data; boundary=x", None),
        ("application/xml", None),
        ("application/json", "br"),
        (MULTIPART, "br"),
    ],
)
def test_xapi_00127_00323_a_body_this_lrs_does_not_read_is_400_not_415(content_type, encoding):
    # Statements come as application/json, or multipart/mixed with their attachments' data
    # (test_xapi_attachments.py); xAPI names no 415.
    boundary = MULTIPART.split("=")[1]
    body = f"--{boundary}\r\nContent-Type: application/json\r\n\r\n{json.dumps(statement())}\r\n--{boundary}--"
    headers = {**XAPI, **({"Content-Encoding": encoding} if encoding else {})}
    response = APIClient().post(URL, data=body, content_type=content_type, headers=headers)

    assert response.status_code == 400
    assert response["X-Experience-API-Version"] == "1.0.3"
    [error] = response.json()["errors"]
    assert error["code"] == "unsupported_media_type"
    assert "application/json" in error["message"]
    assert queued_events() == []


def test_without_the_header_a_multipart_body_is_still_415():
    response = APIClient().post(URL, data="--x\r\n", content_type=MULTIPART)
    assert response.status_code == 415
    assert [error["code"] for error in response.json()["errors"]] == ["unsupported_media_type"]
