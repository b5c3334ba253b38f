"""The Kafka record of an xAPI statement (revision 2 of org.adlnet.xapi.Statement): built by
``statement_record``, encoded by the worker's encoder, decoded as a consumer decodes it, and
rebuilt into the statement. Pure: no services."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import fastavro
import jsonschema_rs
import pytest
from django.conf import settings

from events.xapi_statements import statement_record, statement_rule_problems
from kafka_bridge.encoding import Encoder, confluent_frame_split
from tests.xapi_records import (
    ATTACHMENT_DATA,
    attached_statement,
    group_object_statement,
    rich_statement,
    statement_rebuilt,
)

XAPI = Path(settings.BASE_DIR) / "schemas/org/adlnet/xapi/Statement/v1"
REVISION_1 = Path(settings.BASE_DIR) / "tests/data/xapi_revision_1/org/adlnet/xapi/Statement/v1"
STATEMENT_ID = "6fd6c2a2-5bb5-4c4d-8f3b-0f4c8f1e2a37"


def read(path: Path) -> Any:
    return json.loads(path.read_text())


def encoded(record: dict[str, Any], *, schema: dict[str, Any]) -> bytes:
    """The value the worker produces for ``record``: its encoder, Confluent framing."""
    return Encoder(schema=schema, schema_id=7).encode(record)


def decoded(value: bytes, *, writer: dict[str, Any], reader: dict[str, Any] | None = None) -> Any:
    schema_id, datum = confluent_frame_split(value)
    assert schema_id == 7
    parsed_reader = None if reader is None else fastavro.parse_schema(reader)
    return fastavro.schemaless_reader(io.BytesIO(datum), fastavro.parse_schema(writer), parsed_reader)


def top_level(record: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The queued record: every top-level field of the revision (events/services.py)."""
    return {field["name"]: record.get(field["name"]) for field in schema["fields"]}


@pytest.mark.parametrize("statement", [rich_statement(STATEMENT_ID), group_object_statement(STATEMENT_ID)])
def test_a_statement_rebuilt_from_its_decoded_record_is_the_statement(statement):
    schema = read(XAPI / "avro.avsc")
    assert jsonschema_rs.validator_for(read(XAPI / "schema.json"), validate_formats=True).is_valid(statement)
    assert statement_rule_problems(index=0, statement=statement, event_type="x") == []

    value = encoded(top_level(statement_record(statement), schema), schema=schema)

    assert statement_rebuilt(decoded(value, writer=schema)) == statement


def test_extension_values_that_are_not_strings_are_their_compact_json_text_and_their_keys_are_listed_sorted():
    statement = group_object_statement(STATEMENT_ID)
    statement["result"] = {"extensions": {"https://x.org/b": 5, "https://x.org/a": "5", "https://x.org/c": {"k": [1]}}}

    record = statement_record(statement)

    assert record["result"] == {
        "extensions": {"https://x.org/b": "5", "https://x.org/a": "5", "https://x.org/c": '{"k":[1]}'},
        "jsonExtensionKeys": ["https://x.org/b", "https://x.org/c"],
    }
    assert statement["result"]["extensions"]["https://x.org/b"] == 5  # the statement itself is not changed


def test_extensions_of_strings_only_are_kept_as_they_are_without_a_key_list():
    statement = group_object_statement(STATEMENT_ID)
    statement["context"] = {"extensions": {"https://x.org/a": "5"}}

    record = statement_record(statement)

    assert record["context"] == {"extensions": {"https://x.org/a": "5"}}
    schema = read(XAPI / "avro.avsc")
    context = decoded(encoded(top_level(record, schema), schema=schema), writer=schema)["context"]
    assert (context["extensions"], context["jsonExtensionKeys"]) == ({"https://x.org/a": "5"}, None)


def test_extensions_are_made_text_in_every_place_a_statement_holds_them():
    record = statement_record(rich_statement(STATEMENT_ID))
    sub = record["object"]

    places = [
        sub["object"]["definition"],
        sub["result"],
        sub["context"],
        sub["context"]["contextActivities"]["grouping"][0]["definition"],
        record["result"],
        record["context"],
        record["context"]["contextActivities"]["grouping"][0]["definition"],
    ]
    for place in places:
        assert all(isinstance(value, str) for value in place["extensions"].values())
        assert place["jsonExtensionKeys"] == [
            "https://openstax.org/x/array",
            "https://openstax.org/x/boolean",
            "https://openstax.org/x/decimal",
            "https://openstax.org/x/null",
            "https://openstax.org/x/number",
            "https://openstax.org/x/object",
        ]


def test_a_revision_1_reader_reads_a_record_of_a_revision_1_shape_written_with_revision_2():
    # The catalogue's example is a statement revision 1 accepted: a consumer that still reads with
    # revision 1 as its reader schema gets the same values.
    example = read(REVISION_1 / "example.json")
    writer, reader = read(XAPI / "avro.avsc"), read(REVISION_1 / "avro.avsc")

    value = encoded(top_level(statement_record(example), writer), schema=writer)

    old = decoded(value, writer=writer, reader=reader)
    assert statement_rebuilt(old) == example
    assert old == decoded(encoded(top_level(example, reader), schema=reader), writer=reader)


def test_revision_2_reads_the_records_revision_1_wrote():
    example = read(REVISION_1 / "example.json")
    writer, reader = read(REVISION_1 / "avro.avsc"), read(XAPI / "avro.avsc")

    value = encoded(top_level(example, writer), schema=writer)

    assert statement_rebuilt(decoded(value, writer=writer, reader=reader)) == example


def test_an_attachments_data_reaches_its_record_base64_and_comes_back_exactly():
    schema = read(XAPI / "avro.avsc")
    expected = attached_statement(STATEMENT_ID)
    data, by_url = expected["attachments"]
    sent = {**expected, "attachments": [{k: v for k, v in data.items() if k != "content"}, by_url]}
    assert statement_rule_problems(index=0, statement=sent, event_type="x", data_hashes={data["sha2"]}) == []

    record = statement_record(sent, contents={data["sha2"]: data["content"]})
    rebuilt = statement_rebuilt(decoded(encoded(top_level(record, schema), schema=schema), writer=schema))

    assert rebuilt == expected
    assert base64.b64decode(rebuilt["attachments"][0]["content"]) == ATTACHMENT_DATA


def test_clients_cannot_send_an_attachments_content_the_json_schema_stays_closed():
    validator = jsonschema_rs.validator_for(read(XAPI / "schema.json"), validate_formats=True)
    statement = attached_statement(STATEMENT_ID)

    assert not validator.is_valid(statement)
    statement["attachments"][0].pop("content")
    assert validator.is_valid(statement)
