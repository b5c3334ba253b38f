"""confluent-kafka's own schema-registry client, serializer and deserializer against this service's
registry API over real HTTP (pytest-django's live server)."""

from __future__ import annotations

import json
import struct
from io import BytesIO
from typing import Any

import fastavro
import pytest
import requests
from confluent_kafka.schema_registry import (
    RegisteredSchema,
    Schema,
    SchemaRegistryClient,
    record_subject_name_strategy,
    topic_subject_name_strategy,
)
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext
from django.contrib.auth import get_user_model
from fastavro.utils import generate_one
from rest_framework.authtoken.models import Token

from registry.models import EventMajor, RegistryConfig, SchemaRevision
from registry.services import major_start_next
from tests.factories import registrar_create

pytestmark = pytest.mark.usefixtures("committed_catalogue")
NUDGED = "org.openstax.ec.nudged_v1"
OPTIONAL_NOTE = {"name": "note", "type": ["null", "string"], "default": None}
REQUIRED_NOTE = {"name": "required_note", "type": "string"}


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def registry_url(live_server) -> str:
    return f"{live_server.url}/schema-registry"


@pytest.fixture
def staff():
    return registrar_create()


@pytest.fixture
def root(registry_url) -> SchemaRegistryClient:
    get_user_model().objects.create_superuser("root", password="s3cret-pass")
    return SchemaRegistryClient({"url": registry_url, "basic.auth.user.info": "root:s3cret-pass", "max.retries": 0})


@pytest.fixture
def anonymous(registry_url) -> SchemaRegistryClient:
    return SchemaRegistryClient({"url": registry_url, "max.retries": 0})


@pytest.fixture
def registrar(registry_url, staff) -> SchemaRegistryClient:
    return SchemaRegistryClient(
        {"url": registry_url, "basic.auth.user.info": "registrar:s3cret-pass", "max.retries": 0}
    )


def nudged_revision() -> SchemaRevision:
    """The catalogue's revision of nudged_v1."""
    return SchemaRevision.objects.get(major__full_name=NUDGED, revision=1)


def nudged_schema(*extra_fields: dict[str, Any]) -> Schema:
    schema = nudged_revision().avro_schema_dict
    schema["fields"] += list(extra_fields)
    return Schema(json.dumps(schema, indent=2), "AVRO")


def test_the_client_lists_every_major_and_its_topics_value_subject(anonymous):
    majors = EventMajor.objects.filter(revisions__isnull=False).distinct().select_related("event_type")
    subjects = anonymous.get_subjects()
    # The shipped catalogue: 7 OpenStax events and the xAPI Statement, each alone on its topic.
    assert len(majors) == 8
    assert sorted(subjects) == sorted([m.full_name for m in majors] + [f"{m.topic}-value" for m in majors])
    assert NUDGED in subjects
    assert anonymous.get_subjects(subject_prefix="org.openstax.ec.nudged_") == [NUDGED]


def test_registering_the_identical_schema_returns_the_same_id(registrar):
    revision = nudged_revision()
    assert registrar.register_schema(NUDGED, nudged_schema()) == revision.pk
    assert SchemaRevision.objects.filter(major__full_name=NUDGED).count() == 1


def test_the_client_reads_versions_schemas_and_types(anonymous):
    revision = nudged_revision()
    expected = RegisteredSchema(
        schema_id=revision.pk, guid=None, subject=NUDGED, version=1, schema=Schema(revision.avro_schema, "AVRO")
    )
    assert anonymous.get_latest_version(NUDGED) == expected
    assert anonymous.get_version(NUDGED, 1) == expected
    assert anonymous.get_versions(NUDGED) == [1]
    assert anonymous.get_schema(revision.pk) == Schema(revision.avro_schema, "AVRO")
    assert [(v.subject, v.version) for v in anonymous.get_schema_versions(revision.pk)] == [(NUDGED, 1)]
    assert anonymous.get_subjects_by_schema_id(revision.pk) == [NUDGED]
    assert anonymous.get_schema_types() == ["AVRO"]


def test_the_client_gets_confluents_error_codes(anonymous):
    with pytest.raises(SchemaRegistryError) as unknown_subject:
        anonymous.get_latest_version("org.example.nothing_v1")
    with pytest.raises(SchemaRegistryError) as unknown_version:
        anonymous.get_version(NUDGED, 42)
    with pytest.raises(SchemaRegistryError) as unknown_schema:
        anonymous.get_schema(987654)
    outcomes = [
        (e.value.http_status_code, e.value.error_code) for e in (unknown_subject, unknown_version, unknown_schema)
    ]
    assert outcomes == [(404, 40401), (404, 40402), (404, 40403)]


def test_lookup_schema_finds_the_registered_version_and_not_an_unknown_schema(anonymous):
    found = anonymous.lookup_schema(NUDGED, nudged_schema())
    assert (found.subject, found.version, found.schema_id) == (NUDGED, 1, nudged_revision().pk)
    with pytest.raises(SchemaRegistryError) as missing:
        anonymous.lookup_schema(NUDGED, nudged_schema(OPTIONAL_NOTE))
    assert (missing.value.http_status_code, missing.value.error_code) == (404, 40403)


def test_test_compatibility_answers_as_registering_would(anonymous, registry_url):
    assert anonymous.test_compatibility(NUDGED, nudged_schema(OPTIONAL_NOTE)) is True
    assert anonymous.test_compatibility(NUDGED, nudged_schema(REQUIRED_NOTE), version=1) is False
    # The client returns only the boolean even with verbose=True: the reasons need a plain request.
    assert anonymous.test_compatibility(NUDGED, nudged_schema(REQUIRED_NOTE), verbose=True) is False
    response = requests.post(
        f"{registry_url}/compatibility/subjects/{NUDGED}/versions/latest?verbose=true",
        json=nudged_schema(REQUIRED_NOTE).to_dict(),
        headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
        timeout=10,
    )
    body = response.json()
    assert response.headers["Content-Type"] == "application/vnd.schemaregistry.v1+json"
    assert body["is_compatible"] is False
    assert any("'required_note'" in message and "without a default" in message for message in body["messages"])


def test_compatibility_levels_are_read_by_anyone_and_set_by_registrars_and_superusers(anonymous, registrar, root):
    assert anonymous.get_compatibility() == "FULL_TRANSITIVE"
    assert anonymous.get_compatibility(NUDGED) == "FULL_TRANSITIVE"

    assert registrar.set_compatibility(NUDGED, "backward") == {"compatibility": "BACKWARD"}
    with pytest.raises(SchemaRegistryError) as not_superuser:
        registrar.set_compatibility(level="FORWARD")
    assert (not_superuser.value.http_status_code, not_superuser.value.error_code) == (403, 40301)
    assert root.set_compatibility(level="FORWARD") == {"compatibility": "FORWARD"}

    assert anonymous.get_compatibility(NUDGED) == "BACKWARD"
    assert anonymous.get_compatibility() == "FORWARD"
    assert EventMajor.objects.get(full_name=NUDGED).compatibility == "BACKWARD"
    assert RegistryConfig.objects.get().compatibility == "FORWARD"
    with pytest.raises(SchemaRegistryError) as refused:
        anonymous.set_compatibility(NUDGED, "NONE")
    assert (refused.value.http_status_code, refused.value.error_code) == (401, 40101)
    with pytest.raises(SchemaRegistryError) as invalid:
        registrar.set_compatibility(NUDGED, "SIDEWAYS")
    assert (invalid.value.http_status_code, invalid.value.error_code) == (422, 42203)


def test_a_compatible_change_gets_a_new_id_and_version_2(registrar, anonymous):
    new_id = registrar.register_schema(NUDGED, nudged_schema(OPTIONAL_NOTE))

    assert new_id != nudged_revision().pk
    latest = anonymous.get_latest_version(NUDGED)
    assert (latest.schema_id, latest.version) == (new_id, 2)
    assert json.loads(latest.schema.schema_str)["fields"][-1] == OPTIONAL_NOTE
    assert anonymous.get_versions(NUDGED) == [1, 2]
    # Registering it again changes nothing.
    assert registrar.register_schema(NUDGED, nudged_schema(OPTIONAL_NOTE)) == new_id
    assert SchemaRevision.objects.filter(major__full_name=NUDGED).count() == 2


def test_an_incompatible_change_is_refused_with_409(registrar):
    with pytest.raises(SchemaRegistryError) as refused:
        registrar.register_schema(NUDGED, nudged_schema(REQUIRED_NOTE))
    assert (refused.value.http_status_code, refused.value.error_code) == (409, 409)
    assert "required_note" in refused.value.error_message
    assert SchemaRevision.objects.filter(major__full_name=NUDGED).count() == 1


def test_registering_needs_a_staff_user(anonymous):
    with pytest.raises(SchemaRegistryError) as refused:
        anonymous.register_schema(NUDGED, nudged_schema(OPTIONAL_NOTE))
    assert (refused.value.http_status_code, refused.value.error_code) == (401, 40101)


def test_a_client_with_a_staff_token_as_bearer_registers(registry_url, staff):
    token = Token.objects.create(user=staff)
    client = SchemaRegistryClient(
        {
            "url": registry_url,
            "bearer.auth.credentials.source": "STATIC_TOKEN",
            "bearer.auth.token": token.key,
            "bearer.auth.logical.cluster": "eventcapture",
            "max.retries": 0,
        }
    )
    new_id = client.register_schema(NUDGED, nudged_schema(OPTIONAL_NOTE))
    assert SchemaRevision.objects.get(pk=new_id).created_by == "registrar (API token)"


def test_an_avro_serializer_and_deserializer_round_trip_through_the_registry(anonymous):
    revision = nudged_revision()
    serializer = AvroSerializer(
        anonymous,
        revision.avro_schema,
        conf={
            "auto.register.schemas": False,
            "use.latest.version": True,
            "subject.name.strategy": record_subject_name_strategy,
        },
    )
    # The deserializer keeps its default subject strategy: it asks for /associations/..., gets
    # the registry's 404 and falls back, then fetches the writer's schema by id.
    deserializer = AvroDeserializer(anonymous)
    context = SerializationContext("nudged", MessageField.VALUE)
    parsed = fastavro.parse_schema(revision.avro_schema_dict)
    record = generate_one(parsed)

    data = serializer(record, context)
    decoded = deserializer(data, context)

    assert data[:5] == b"\x00" + struct.pack(">I", revision.pk)
    buffer = BytesIO()
    fastavro.schemaless_writer(buffer, parsed, record)
    assert data[5:] == buffer.getvalue()
    assert decoded == fastavro.schemaless_reader(BytesIO(data[5:]), parsed, None)


# --- TopicNameStrategy: `<topic>-value` subjects, read-only ---------------------------------------


def nudged_topic_subject() -> str:
    return f"{EventMajor.objects.get(full_name=NUDGED).topic}-value"


def test_a_topics_value_subject_reads_as_its_one_majors_subject(anonymous):
    revision = nudged_revision()
    subject = nudged_topic_subject()
    expected = RegisteredSchema(
        schema_id=revision.pk, guid=None, subject=subject, version=1, schema=Schema(revision.avro_schema, "AVRO")
    )
    assert anonymous.get_latest_version(subject) == expected
    assert anonymous.get_version(subject, 1) == expected
    assert anonymous.get_versions(subject) == [1]
    assert anonymous.get_compatibility(subject) == "FULL_TRANSITIVE"
    found = anonymous.lookup_schema(subject, nudged_schema())
    assert (found.subject, found.version, found.schema_id) == (subject, 1, revision.pk)
    assert anonymous.test_compatibility(subject, nudged_schema(OPTIONAL_NOTE)) is True
    assert anonymous.test_compatibility(subject, nudged_schema(REQUIRED_NOTE), version=1) is False


@pytest.mark.parametrize("use_latest_version", [True, False], ids=["use.latest.version", "schema look-up"])
def test_a_serializer_configured_for_topic_name_strategy_finds_the_schema_id(anonymous, use_latest_version):
    """What ksqlDB, Flink, Spark and Kafka Connect do by default: the subject is `<topic>-value`."""
    revision = nudged_revision()
    topic = EventMajor.objects.get(full_name=NUDGED).topic
    serializer = AvroSerializer(
        anonymous,
        revision.avro_schema,
        conf={
            "auto.register.schemas": False,
            "use.latest.version": use_latest_version,
            "subject.name.strategy": topic_subject_name_strategy,
        },
    )
    parsed = fastavro.parse_schema(revision.avro_schema_dict)
    record = generate_one(parsed)
    context = SerializationContext(topic, MessageField.VALUE)

    value = serializer(record, context)

    assert value is not None
    assert value[:5] == b"\x00" + struct.pack(">I", revision.pk)
    decoded = AvroDeserializer(anonymous)(value, context)
    assert decoded == fastavro.schemaless_reader(BytesIO(value[5:]), parsed, None)


def test_a_topics_value_subject_is_read_only(registrar):
    subject = nudged_topic_subject()
    with pytest.raises(SchemaRegistryError) as register:
        registrar.register_schema(subject, nudged_schema(OPTIONAL_NOTE))
    with pytest.raises(SchemaRegistryError) as level:
        registrar.set_compatibility(subject, "BACKWARD")
    for refused in (register, level):
        assert (refused.value.http_status_code, refused.value.error_code) == (422, 42205)
        assert "read-only" in refused.value.error_message
    assert SchemaRevision.objects.filter(major__full_name=NUDGED).count() == 1
    assert EventMajor.objects.get(full_name=NUDGED).compatibility == "FULL_TRANSITIVE"


def test_a_topic_holding_two_majors_has_no_value_subject_and_says_why(anonymous):
    major = EventMajor.objects.get(full_name=NUDGED)
    major_start_next(major=major)  # nudged_v2, a draft with its first revision, on the same topic
    subject = nudged_topic_subject()

    with pytest.raises(SchemaRegistryError) as refused:
        anonymous.get_latest_version(subject)

    assert (refused.value.http_status_code, refused.value.error_code) == (404, 40401)
    assert "org.openstax.ec.nudged_v1, org.openstax.ec.nudged_v2" in refused.value.error_message
    assert subject not in anonymous.get_subjects()
    assert "org.openstax.ec.nudged_v2" in anonymous.get_subjects()


def test_a_value_subject_of_a_topic_no_major_uses_is_not_found(anonymous):
    with pytest.raises(SchemaRegistryError) as refused:
        anonymous.get_latest_version("no-such-topic-value")
    assert (refused.value.http_status_code, refused.value.error_code) == (404, 40401)
    assert "no event major's records go to topic 'no-such-topic'" in refused.value.error_message
