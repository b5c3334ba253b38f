"""The reads the Kafka UI of docker/compose.yml (kafbat) makes of the schema-registry API, as it
makes them: to the web by its service name (`web:8000`), with the query parameters its registry
client adds. Its endpoints are those of its `kafka-sr-api` client (subjects, versions, levels) and
Confluent's `CachedSchemaRegistryClient` (schemas by id, to decode records)."""

from __future__ import annotations

import pytest
from django.test import Client

from registry.models import EventMajor, RegistryConfig, SchemaRevision

pytestmark = pytest.mark.usefixtures("catalogue")
CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
NUDGED = "org.openstax.ec.nudged_v1"
API = "/schema-registry"
# The Host the UI sends: the schema-registry URL docker/compose.yml gives it.
UI_HOST = "web:8000"


@pytest.fixture
def ui(settings) -> Client:
    """A client sending the UI's Host, to a web whose ALLOWED_HOSTS has `web`, as compose sets it."""
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "web"]
    return Client(headers={"Host": UI_HOST})


def _json(client: Client, path: str):
    response = client.get(f"{API}{path}")
    assert (response.status_code, response["Content-Type"]) == (200, CONTENT_TYPE), response.content
    return response.json()


def test_it_answers_the_reads_of_the_kafka_uis_schema_registry_pages(ui):
    revision = SchemaRevision.objects.get(major__full_name=NUDGED, revision=1)
    major = EventMajor.objects.get(full_name=NUDGED)
    topic_subject = f"{major.topic}-value"
    version = {"subject": NUDGED, "version": 1, "id": revision.pk, "schema": revision.avro_schema}

    assert {NUDGED, topic_subject} <= set(_json(ui, "/subjects?deleted=false"))
    assert _json(ui, f"/subjects/{NUDGED}/versions") == [1]
    assert _json(ui, f"/subjects/{NUDGED}/versions/latest?deleted=false") == version
    assert _json(ui, f"/subjects/{NUDGED}/versions/1?deleted=false") == version
    assert _json(ui, f"/subjects/{topic_subject}/versions/latest?deleted=false") == {
        **version,
        "subject": topic_subject,
    }
    assert _json(ui, "/config") == {"compatibilityLevel": RegistryConfig.objects.get().compatibility}
    assert _json(ui, f"/config/{NUDGED}?defaultToGlobal=true") == {"compatibilityLevel": major.compatibility}


def test_it_answers_the_schema_by_id_the_kafka_ui_decodes_a_record_with(ui):
    revision = SchemaRevision.objects.get(major__full_name=NUDGED, revision=1)

    assert _json(ui, f"/schemas/ids/{revision.pk}?fetchMaxId=false&subject=") == {"schema": revision.avro_schema}


def test_without_web_in_allowed_hosts_the_kafka_ui_is_refused():
    response = Client(headers={"Host": UI_HOST}).get(f"{API}/subjects")

    assert response.status_code == 400
