"""Schema ids from an external Confluent-compatible registry: this service's own API, served by a
live server, stands in for it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from kafka_bridge.registry_client import RegistryRefused, RegistryUnavailable, record_schema_id, registry_client_reset
from registry.models import SchemaRevision
from tests.factories import registrar_create

NUDGED = "org.openstax.ec.nudged_v1"
pytestmark = pytest.mark.usefixtures("committed_catalogue")


@pytest.fixture(autouse=True)
def _fresh_client() -> Iterator[None]:
    registry_client_reset()
    yield
    registry_client_reset()


@pytest.fixture
def staff_auth() -> str:
    registrar_create()
    return "registrar:s3cret-pass"


def nudged_revision() -> SchemaRevision:
    return SchemaRevision.objects.get(major__full_name=NUDGED, revision=1)


def test_without_an_external_registry_the_id_is_the_registry_tables_own(settings):
    settings.SCHEMA_REGISTRY_URL = ""
    revision = nudged_revision()
    assert record_schema_id(local_id=revision.pk, subject=NUDGED, schema=revision.avro_schema) == revision.pk


def test_with_an_external_registry_the_schema_is_registered_there_and_its_id_used(settings, live_server, staff_auth):
    settings.SCHEMA_REGISTRY_URL = f"{live_server.url}/schema-registry"
    settings.SCHEMA_REGISTRY_BASIC_AUTH = staff_auth
    schema = nudged_revision().avro_schema_dict
    schema["fields"].append({"name": "note", "type": ["null", "string"], "default": None})

    external_id = record_schema_id(local_id=999_999, subject=NUDGED, schema=json.dumps(schema))

    registered = SchemaRevision.objects.get(major__full_name=NUDGED, revision=2)
    assert external_id == registered.pk != 999_999
    assert registered.avro_schema_dict["fields"][-1]["name"] == "note"


def test_an_identical_schema_gets_the_id_the_external_registry_already_has(settings, live_server, staff_auth):
    settings.SCHEMA_REGISTRY_URL = f"{live_server.url}/schema-registry"
    settings.SCHEMA_REGISTRY_BASIC_AUTH = staff_auth
    revision = nudged_revision()
    assert record_schema_id(local_id=-1, subject=NUDGED, schema=revision.avro_schema) == revision.pk


def test_a_refusal_by_the_external_registry_is_permanent(settings, live_server):
    settings.SCHEMA_REGISTRY_URL = f"{live_server.url}/schema-registry"
    settings.SCHEMA_REGISTRY_BASIC_AUTH = "nobody:wrong"
    revision = nudged_revision()
    with pytest.raises(RegistryRefused, match=r"refused org\.openstax\.ec\.nudged_v1"):
        record_schema_id(local_id=revision.pk, subject=NUDGED, schema=revision.avro_schema)


def test_an_unreachable_external_registry_is_transient(settings):
    settings.SCHEMA_REGISTRY_URL = "http://127.0.0.1:9/schema-registry"
    revision = nudged_revision()
    with pytest.raises(RegistryUnavailable):
        record_schema_id(local_id=revision.pk, subject=NUDGED, schema=revision.avro_schema)
