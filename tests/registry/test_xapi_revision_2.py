"""Revision 2 of org.adlnet.xapi.Statement on a database that holds revision 1: the migration moves
the major to BACKWARD_TRANSITIVE (unless an analyst chose another level), so `load_schemas`, which
`scripts/run` runs at every start, publishes revision 2 with a schema id of its own; records
revision 1 wrote still decode, by their schema id, through the schema-registry API."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import fastavro
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from kafka_bridge.encoding import Encoder, confluent_frame_split
from registry.models import EventMajor, SchemaRevision
from registry.selectors import registry_cache_clear
from registry.services import catalogue_load

XAPI = "org.adlnet.xapi.Statement"
BEFORE = ("registry", "0005_major_topic")
AFTER = ("registry", "0006_xapi_statement_backward_transitive")
REVISION_1 = Path(settings.BASE_DIR) / "tests/data/xapi_revision_1"
SHIPPED = Path(settings.BASE_DIR) / "schemas"


def migrate(target: tuple[str, str]) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([target])


@pytest.fixture
def database_of_revision_1(transactional_db: None) -> Iterator[None]:
    """The registry before this change: migrated up to 0005, revision 1 loaded (FULL_TRANSITIVE)."""
    migrate(BEFORE)
    registry_cache_clear()
    catalogue_load(root=REVISION_1)
    yield
    migrate(AFTER)
    registry_cache_clear()


def load_schemas() -> str:
    out = StringIO()
    call_command("load_schemas", "--path", str(SHIPPED), stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.mark.usefixtures("database_of_revision_1")
def test_the_migration_moves_xapi_to_backward_transitive_and_load_schemas_publishes_revision_2():
    major = EventMajor.objects.get(full_name=XAPI)
    assert major.compatibility == "FULL_TRANSITIVE"
    [first] = SchemaRevision.objects.filter(major=major)

    migrate(AFTER)
    output = load_schemas()

    major.refresh_from_db()
    assert major.compatibility == "BACKWARD_TRANSITIVE"
    assert f"revised: 1 ({XAPI})" in output
    first_again, second = SchemaRevision.objects.filter(major=major).order_by("revision")
    assert (first_again.pk, first_again.revision, second.revision) == (first.pk, 1, 2)
    assert second.pk != first.pk
    assert json.loads(second.avro_schema) == json.loads(
        (SHIPPED / "org/adlnet/xapi/Statement/v1/avro.avsc").read_text()
    )

    # A record revision 1 wrote before the change decodes by its own schema id, as every consumer
    # decodes, and revision 2 reads it too.
    example = json.loads((REVISION_1 / "org/adlnet/xapi/Statement/v1/example.json").read_text())
    old_schema = json.loads(first.avro_schema)
    value = Encoder(schema=old_schema, schema_id=first.pk).encode(
        {field["name"]: example.get(field["name"]) for field in old_schema["fields"]}
    )
    schema_id, datum = confluent_frame_split(value)
    fetched = Client().get(f"/schema-registry/schemas/ids/{schema_id}")
    assert fetched.status_code == 200
    writer = fastavro.parse_schema(json.loads(fetched.json()["schema"]))
    decoded = fastavro.schemaless_reader(
        io.BytesIO(datum), writer, fastavro.parse_schema(json.loads(second.avro_schema))
    )
    assert isinstance(decoded, dict)
    assert decoded["actor"]["member"][1]["mbox"] == example["actor"]["member"][1]["mbox"]
    assert decoded["verb"] == example["verb"]


@pytest.mark.usefixtures("database_of_revision_1")
def test_a_level_an_analyst_chose_is_kept_and_load_schemas_publishes_revision_2_under_it():
    EventMajor.objects.filter(full_name=XAPI).update(compatibility="BACKWARD")

    migrate(AFTER)
    output = load_schemas()

    major = EventMajor.objects.get(full_name=XAPI)
    assert major.compatibility == "BACKWARD"
    assert f"revised: 1 ({XAPI})" in output
    assert major.revisions.count() == 2


@pytest.mark.usefixtures("database_of_revision_1")
def test_without_the_migration_load_schemas_refuses_revision_2_as_not_forward_compatible():
    # What the migration is for: at FULL_TRANSITIVE the appended union branches are refused.
    with pytest.raises(CommandError, match="FORWARD with version 1"):
        load_schemas()
    assert EventMajor.objects.get(full_name=XAPI).revisions.count() == 1
