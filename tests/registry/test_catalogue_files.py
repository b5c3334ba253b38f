from __future__ import annotations

import io
import json
import shutil
import uuid
from io import StringIO
from pathlib import Path
from typing import Any

import avro.schema
import fastavro
import jsonschema_rs
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from events.enrichment import source_uri_split
from kafka_bridge.encoding import Encoder, confluent_frame_split
from tests.factories import SHIPPED_TOPICS

CATALOGUE = Path(settings.BASE_DIR) / "schemas"
FOLDERS = sorted(path.parent for path in CATALOGUE.rglob("schema.json"))
OPENSTAX_FOLDERS = [folder for folder in FOLDERS if "openstax" in folder.parts]
XAPI = CATALOGUE / "org/adlnet/xapi/Statement/v1"
NUDGED = CATALOGUE / "org/openstax/ec/nudged/v1"
ENVELOPE = ["type", "client_clock_occurred_at", "client_clock_sent_at", "source_uri", "session_uuid"]
HEAD = ["device_uuid", "user_uuid", "session_uuid", "session_order", "scheme", "host", "path", "query"]


def read(path: Path):
    return json.loads(path.read_text())


def folder_id(folder: Path) -> str:
    return str(folder.relative_to(CATALOGUE))


def avsc(folder: Path):
    return read(folder / "avro.avsc")


def fields_of(folder: Path):
    return {field["name"]: field for field in avsc(folder)["fields"]}


def full_name(schema) -> str:
    return f"{schema['namespace']}.{schema['name']}"


def generate_avro(*args: str) -> str:
    out = StringIO()
    call_command("generate_avro", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def xapi_parsed():
    return fastavro.parse_schema(avsc(XAPI))


def avro_round_trip(parsed, datum):
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, parsed, datum)
    buffer.seek(0)
    return fastavro.schemaless_reader(buffer, parsed, parsed, return_record_name=True)


# --- generated files ---------------------------------------------------------------------------


def test_every_committed_avsc_is_what_generate_avro_makes_of_its_folder():
    # On failure the CommandError names every out-of-date file: run `manage.py generate_avro`.
    out = generate_avro("--check")

    assert "up to date: 7" in out
    assert "handwritten: 1" in out


def test_check_fails_naming_a_stale_avsc_and_writes_nothing(tmp_path):
    root = tmp_path / "schemas"
    shutil.copytree(CATALOGUE, root)
    stale = root / "org/openstax/ec/nudged/v1/avro.avsc"
    schema = read(stale)
    schema["fields"].pop()
    stale.write_text(json.dumps(schema, indent=2) + "\n")

    with pytest.raises(CommandError, match=r"out of date .*: org/openstax/ec/nudged/v1/avro.avsc$"):
        generate_avro("--check", "--path", str(root))

    assert read(stale) == schema


def test_check_fails_when_an_avsc_is_missing(tmp_path):
    root = tmp_path / "schemas"
    shutil.copytree(CATALOGUE, root)
    (root / "org/openstax/ec/started_session/v1/avro.avsc").unlink()

    with pytest.raises(CommandError, match=r"org/openstax/ec/started_session/v1/avro.avsc"):
        generate_avro("--check", "--path", str(root))


def test_generate_avro_rewrites_stale_files_only_and_keeps_the_handwritten_xapi_schema(tmp_path):
    root = tmp_path / "schemas"
    shutil.copytree(CATALOGUE, root)
    stale = root / "org/openstax/ec/changed_state/v1/avro.avsc"
    stale.write_text("{}")
    handwritten = root / "org/adlnet/xapi/Statement/v1/avro.avsc"
    handwritten.write_text(handwritten.read_text() + "\n")

    out = generate_avro("--path", str(root))

    assert "written: 1 (org/openstax/ec/changed_state/v1/avro.avsc)" in out
    assert stale.read_text() == (CATALOGUE / "org/openstax/ec/changed_state/v1/avro.avsc").read_text()
    assert handwritten.read_text() == (XAPI / "avro.avsc").read_text() + "\n"
    generate_avro("--check", "--path", str(root))


def test_generate_avro_refuses_a_folder_whose_schema_id_is_not_the_folder_event(tmp_path):
    root = tmp_path / "schemas"
    shutil.copytree(NUDGED, root / "org/openstax/ec/nudged/v2")

    with pytest.raises(CommandError, match=r"\$id is 'org.openstax.ec.nudged_v1', the folder says"):
        generate_avro("--path", str(root))


# --- every folder ------------------------------------------------------------------------------


@pytest.mark.parametrize("folder", FOLDERS, ids=folder_id)
def test_the_example_validates_against_the_folder_schema(folder):
    validator = jsonschema_rs.validator_for(read(folder / "schema.json"), validate_formats=True)

    assert [error.message for error in validator.iter_errors(read(folder / "example.json"))] == []


@pytest.mark.parametrize("folder", FOLDERS, ids=folder_id)
def test_the_avsc_parses_with_fastavro_and_with_the_avro_package(folder):
    text = (folder / "avro.avsc").read_text()

    fastavro.parse_schema(json.loads(text))
    parsed = avro.schema.parse(text)
    assert isinstance(parsed, avro.schema.RecordSchema)
    assert parsed.fullname == full_name(json.loads(text))


def test_the_catalogue_holds_the_eight_events_of_events_md_with_their_topics():
    topics = {full_name(avsc(folder)): read(folder / "event.json")["topic"] for folder in FOLDERS}

    assert topics == SHIPPED_TOPICS


@pytest.mark.parametrize("folder", FOLDERS, ids=folder_id)
def test_event_json_declares_an_active_full_transitive_event_with_an_owner_but_xapi_is_backward_transitive(folder):
    meta = read(folder / "event.json")

    # xAPI's revision 2 appends union branches (a Group object and authority): not FORWARD compatible.
    level = "BACKWARD_TRANSITIVE" if folder == XAPI else "FULL_TRANSITIVE"
    assert (meta["status"], meta["compatibility"]) == ("active", level)
    assert meta["owner"]
    assert meta["description"]


@pytest.mark.parametrize("folder", OPENSTAX_FOLDERS, ids=folder_id)
def test_an_openstax_schema_has_the_envelope_and_a_described_property_each(folder):
    schema = read(folder / "schema.json")
    name = full_name(avsc(folder))
    envelope = ENVELOPE if folder.parts[-2] == "started_session" else [*ENVELOPE, "session_order"]

    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == name
    assert schema["properties"]["type"]["const"] == name
    assert list(schema["properties"])[: len(envelope)] == envelope
    assert set(envelope) <= set(schema["required"])
    assert "additionalProperties" not in schema  # unknown fields are dropped with a warning, not refused
    assert [prop for prop, spec in schema["properties"].items() if prop != "type" and not spec.get("description")] == []


@pytest.mark.parametrize("folder", OPENSTAX_FOLDERS, ids=folder_id)
def test_an_openstax_record_starts_with_the_common_fields_and_has_occurred_at(folder):
    names = [field["name"] for field in avsc(folder)["fields"]]
    head = [name for name in HEAD if name != "session_order"] if folder.parts[-2] == "started_session" else HEAD

    assert names[: len(head)] == head
    assert "occurred_at" in names


@pytest.mark.parametrize("folder", OPENSTAX_FOLDERS, ids=folder_id)
def test_the_example_with_server_fields_encodes_into_its_avro_record_and_back(folder):
    example = read(folder / "example.json")
    source = source_uri_split(example["source_uri"])
    server = {
        "device_uuid": "c5e2b1a0-9f8e-4d7c-8b6a-5f4e3d2c1b0a",
        "user_uuid": None,
        "scheme": source.scheme,
        "host": source.host,
        "path": source.path,
        "query": source.query,
        "occurred_at": 1710255845120,
        "ip_address": "203.0.113.7",
        "user_agent": "Mozilla/5.0",
    }
    record = {name: example.get(name, server.get(name)) for name in fields_of(folder)}

    value = Encoder(schema=avsc(folder), schema_id=7).encode(record)

    schema_id, datum = confluent_frame_split(value)
    decoded: Any = fastavro.schemaless_reader(io.BytesIO(datum), fastavro.parse_schema(avsc(folder)), None)
    assert schema_id == 7
    own_fields = set(example) - {"type", "client_clock_occurred_at", "client_clock_sent_at", "source_uri"}
    assert own_fields <= set(decoded)
    assert uuid.UUID(bytes=decoded["session_uuid"]) == uuid.UUID(example["session_uuid"])
    assert decoded["host"] == source.host


@pytest.mark.parametrize(
    ("folder", "field"),
    [
        ("created_highlight/v1", "source_metadata"),
        ("interacted_element/v1", "target_attributes"),
        ("interacted_element/v1", "context_attributes"),
    ],
)
def test_a_map_of_strings_refuses_a_value_that_is_not_a_string(folder, field):
    folder_path = CATALOGUE / "org/openstax/ec" / folder
    validator = jsonschema_rs.validator_for(read(folder_path / "schema.json"), validate_formats=True)
    example = read(folder_path / "example.json")
    example[field] = {"count": 3}

    assert [list(error.instance_path) for error in validator.iter_errors(example)] == [[field, "count"]]


# --- EVENTS.md facts ---------------------------------------------------------------------------


def test_started_session_has_the_explicit_avro_field_order_of_events_md():
    names = [field["name"] for field in avsc(CATALOGUE / "org/openstax/ec/started_session/v1")["fields"]]

    assert names == [
        "device_uuid",
        "user_uuid",
        "session_uuid",
        "scheme",
        "host",
        "path",
        "query",
        "ip_address",
        "referrer",
        "user_agent",
        "occurred_at",
        "platform",
        "release_id",
        "service_worker",
        "organization_id",
    ]


def test_started_session_service_worker_is_one_of_three_values_in_json_and_an_optional_string_in_avro():
    folder = CATALOGUE / "org/openstax/ec/started_session/v1"

    assert read(folder / "schema.json")["properties"]["service_worker"]["enum"] == ["unsupported", "inactive", "active"]
    assert fields_of(folder)["service_worker"]["type"] == ["null", "string"]
    assert "session_order" not in read(folder / "schema.json")["properties"]


def test_nudged_ends_with_occurred_at_after_its_own_fields():
    names = [field["name"] for field in avsc(NUDGED)["fields"]]

    assert names[len(HEAD) :] == ["app", "target", "context", "flavor", "medium", "occurred_at"]


def test_interacted_element_has_context_state_change_always_null_and_not_accepted_from_json():
    folder = CATALOGUE / "org/openstax/ec/interacted_element/v1"
    field = fields_of(folder)["context_state_change"]

    assert (field["type"], field["default"]) == (["null", "string"], None)
    assert "context_state_change" not in read(folder / "schema.json")["properties"]
    assert [name for name in fields_of(folder)][-4:] == [
        "occurred_at",
        "context_region",
        "context_state_change",
        "source_metadata",
    ]


def test_created_highlight_v2_source_metadata_is_json_required_but_an_optional_shared_record_in_avro():
    folder = CATALOGUE / "org/openstax/ec/created_highlight/v2"
    field = fields_of(folder)["source_metadata"]

    assert "source_metadata" in read(folder / "schema.json")["required"]
    assert field["type"][0] == "null"
    assert field["default"] is None
    record = field["type"][1]
    assert f"{record['namespace']}.{record['name']}" == "org.openstax.ec.source_metadata"
    assert [(f["name"], f["type"]) for f in record["fields"]] == [
        ("content_id", "org.openstax.ec.uuid"),
        ("content_version", "string"),
        ("context_version", ["null", "string"]),
        ("content_index", ["null", "int"]),
        ("scope_id", ["null", "org.openstax.ec.uuid"]),
    ]


def test_created_highlight_v1_scope_id_is_a_plain_string_and_source_metadata_a_map_of_strings():
    folder = CATALOGUE / "org/openstax/ec/created_highlight/v1"
    properties = read(folder / "schema.json")["properties"]

    assert properties["scope_id"] == {"type": "string", "description": properties["scope_id"]["description"]}
    assert fields_of(folder)["scope_id"]["type"] == "string"
    assert fields_of(folder)["source_metadata"]["type"] == {"type": "map", "values": "string"}


@pytest.mark.parametrize("event", ["accessed_studyguide", "changed_state", "interacted_element"])
def test_optional_source_metadata_comes_last_as_an_optional_record(event):
    fields = avsc(CATALOGUE / f"org/openstax/ec/{event}/v1")["fields"]

    assert fields[-1]["name"] == "source_metadata"
    assert fields[-1]["type"][0] == "null"
    assert fields[-1]["type"][1]["name"] == "source_metadata"


# --- xAPI --------------------------------------------------------------------------------------


def test_the_xapi_actor_is_a_union_of_distinct_agent_and_group_records():
    actor = fields_of(XAPI)["actor"]["type"]

    assert [f"{branch['namespace']}.{branch['name']}" for branch in actor] == [
        "org.adlnet.xapi.Agent",
        "org.adlnet.xapi.Group",
    ]
    member = {field["name"]: field["type"] for field in actor[1]["fields"]}["member"]
    assert member == ["null", {"type": "array", "items": "org.adlnet.xapi.Agent"}]


def test_the_xapi_object_is_a_union_of_activity_agent_statement_ref_sub_statement_and_group_appended():
    branches = fields_of(XAPI)["object"]["type"]

    names = [branch if isinstance(branch, str) else f"{branch['namespace']}.{branch['name']}" for branch in branches]
    assert names == [
        "org.adlnet.xapi.Activity",
        "org.adlnet.xapi.Agent",
        "org.adlnet.xapi.StatementRef",
        "org.adlnet.xapi.SubStatement",
        "org.adlnet.xapi.Group",
    ]


def test_a_group_actor_written_with_union_tuple_notation_is_read_back_as_a_group_with_its_members():
    statement = read(XAPI / "example.json")
    statement["actor"] = ("org.adlnet.xapi.Group", statement["actor"])

    decoded = avro_round_trip(xapi_parsed(), statement)

    branch, group = decoded["actor"]
    assert branch == "org.adlnet.xapi.Group"
    assert [member[1]["name"] if isinstance(member, tuple) else member["name"] for member in group["member"]] == [
        "Ada",
        "Grace",
    ]


def test_a_group_actor_written_with_fastavros_type_key_is_read_back_as_a_group():
    statement = read(XAPI / "example.json")
    statement["actor"] = {"-type": "org.adlnet.xapi.Group", **statement["actor"]}

    assert avro_round_trip(xapi_parsed(), statement)["actor"][0] == "org.adlnet.xapi.Group"


def test_a_plain_group_with_an_identifier_and_no_members_is_still_written_as_a_group():
    # Agent and Group share most field names; the objectType enum is what tells them apart
    # when a writer does not name the branch (JSON-safe task payloads cannot carry tuples).
    statement = read(XAPI / "example.json")
    statement["actor"] = {"objectType": "Group", "name": "Study group 4", "mbox": "mailto:group4@example.edu"}

    assert avro_round_trip(xapi_parsed(), statement)["actor"][0] == "org.adlnet.xapi.Group"


def test_a_plain_statement_ref_object_is_not_written_as_an_activity():
    statement = read(XAPI / "example.json")
    statement["object"] = {"objectType": "StatementRef", "id": "9e1c7c1e-5d2b-4c1e-8f6a-2b3c4d5e6f70"}

    assert avro_round_trip(xapi_parsed(), statement)["object"][0] == "org.adlnet.xapi.StatementRef"


def test_a_group_forced_into_the_agent_branch_is_refused_rather_than_written_as_an_agent():
    statement = read(XAPI / "example.json")
    statement["actor"] = ("org.adlnet.xapi.Agent", statement["actor"])

    with pytest.raises(ValueError, match=r"Group"):
        avro_round_trip(xapi_parsed(), statement)


@pytest.fixture
def xapi_validator():
    return jsonschema_rs.validator_for(read(XAPI / "schema.json"), validate_formats=True)


def test_a_statement_with_an_unknown_top_level_key_is_refused(xapi_validator):
    statement = {**read(XAPI / "example.json"), "mood": "happy"}

    assert not xapi_validator.is_valid(statement)


@pytest.mark.parametrize("missing", ["id", "actor", "verb", "object"])
def test_a_statement_without_a_required_key_is_refused(xapi_validator, missing):
    statement = read(XAPI / "example.json")
    del statement[missing]

    assert not xapi_validator.is_valid(statement)


def test_an_agent_never_validates_where_only_a_group_is_allowed(xapi_validator):
    statement = read(XAPI / "example.json")
    statement["context"]["team"] = statement["actor"]["member"][1]

    errors = list(xapi_validator.iter_errors(statement))
    assert [list(error.instance_path) for error in errors] == [["context", "team", "objectType"]]


def test_an_invalid_member_of_a_group_actor_is_refused_at_its_path(xapi_validator):
    statement = read(XAPI / "example.json")
    del statement["actor"]["member"][0]["account"]["name"]

    errors = list(xapi_validator.iter_errors(statement))
    assert [list(error.instance_path) for error in errors] == [["actor", "member", 0, "account"]]


def test_a_group_is_an_allowed_statement_object_but_a_sub_statement_not_a_sub_statements(xapi_validator):
    statement = read(XAPI / "example.json")
    statement["object"] = {"objectType": "Group", "name": "Study group 4", "mbox": "mailto:group4@example.edu"}
    assert xapi_validator.is_valid(statement)

    inner = {key: statement[key] for key in ("actor", "verb", "object")}
    statement["object"] = {"objectType": "SubStatement", **inner, "object": {"objectType": "SubStatement", **inner}}
    assert not xapi_validator.is_valid(statement)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("result", "score", "raw"), "8"),
        (("verb", "display", "en-US"), 1),
        (("actor", "objectType"), "Person"),
    ],
)
def test_a_statement_with_a_value_of_the_wrong_type_is_refused(xapi_validator, path, value):
    statement = read(XAPI / "example.json")
    target = statement
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value

    assert not xapi_validator.is_valid(statement)


def test_an_attachment_length_must_be_an_int32_integer(xapi_validator):
    attachment = {
        "usageType": "http://adlnet.gov/expapi/attachments/signature",
        "display": {"en-US": "Signature"},
        "description": {"en-US": "A signature"},
        "contentType": "application/octet-stream",
        "length": 2**31,
        "sha2": "672fa5fa658017f1b72d65036f13379c6ab05d4ab3b6664908d8acf0b6a0c634",
        "fileUrl": "https://openstax.org/signatures/1",
    }
    statement = {**read(XAPI / "example.json"), "attachments": [attachment]}

    assert not xapi_validator.is_valid(statement)
    attachment["length"] = 2**31 - 1
    assert xapi_validator.is_valid(statement)
