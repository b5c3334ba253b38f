"""The Confluent-compatible schema-registry API through Django's test client: bodies, error codes,
content types, who may write."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.test import Client
from rest_framework.authtoken.models import Token

from registry.models import EventMajor, RegistryConfig, SchemaRevision
from tests.factories import registrar_create

pytestmark = pytest.mark.usefixtures("catalogue")
CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
NUDGED = "org.openstax.ec.nudged_v1"
API = "/schema-registry"
PASSWORD = "s3cret-pass"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def staff():
    """A registrar: a staff user with the registry's write permissions (not a superuser)."""
    return registrar_create("registrar", PASSWORD)


@pytest.fixture
def superuser():
    return get_user_model().objects.create_superuser("root", password=PASSWORD)


@pytest.fixture
def analyst():
    return get_user_model().objects.create_user("analyst", password=PASSWORD, is_staff=False)


def basic(username: str, password: str = PASSWORD) -> dict[str, str]:
    credentials = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {credentials}"}


def nudged_revision() -> SchemaRevision:
    """The catalogue's revision of nudged_v1."""
    return SchemaRevision.objects.get(major__full_name=NUDGED, revision=1)


def nudged_schema(*extra_fields: dict[str, Any]) -> str:
    schema = nudged_revision().avro_schema_dict
    schema["fields"] += list(extra_fields)
    return json.dumps(schema, indent=2)


OPTIONAL_NOTE = {"name": "note", "type": ["null", "string"], "default": None}
REQUIRED_NOTE = {"name": "required_note", "type": "string"}


def post(path: str, body: Any, content_type: str = CONTENT_TYPE, headers: dict[str, str] | None = None):
    return Client().post(f"{API}{path}", json.dumps(body), content_type=content_type, headers=headers)


def put(path: str, body: Any, headers: dict[str, str] | None = None):
    return Client().put(f"{API}{path}", json.dumps(body), content_type=CONTENT_TYPE, headers=headers)


def get(path: str):
    return Client().get(f"{API}{path}")


def assert_ok(response, body: Any) -> None:
    assert (response.status_code, response["Content-Type"]) == (200, CONTENT_TYPE), response.content
    assert response.json() == body


def assert_error(response, status: int, error_code: int, message_part: str = "") -> None:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == CONTENT_TYPE
    body = response.json()
    assert set(body) == {"error_code", "message"}
    assert body["error_code"] == error_code
    assert message_part in body["message"]


# --- Reads ---------------------------------------------------------------------------------------


def test_it_lists_every_major_with_a_revision_and_its_topics_value_subject():
    majors = EventMajor.objects.filter(revisions__isnull=False).distinct().select_related("event_type")
    expected = sorted([major.full_name for major in majors] + [f"{major.topic}-value" for major in majors])
    response = get("/subjects")
    assert_ok(response, expected)
    assert NUDGED in response.json()


def test_it_filters_subjects_by_prefix_and_pages_them():
    assert_ok(get(f"/subjects?subjectPrefix={NUDGED}"), [NUDGED])
    assert_ok(get("/subjects?subjectPrefix=com.example."), [])
    assert_ok(get("/subjects?deleted_only=true"), [])
    everything = get("/subjects").json()
    assert_ok(get("/subjects?offset=1&limit=1"), everything[1:2])


def test_it_lists_a_subjects_versions():
    assert_ok(get(f"/subjects/{NUDGED}/versions"), [1])


def test_it_serves_a_version_like_confluent_without_a_schema_type_for_avro():
    revision = nudged_revision()
    expected = {"subject": NUDGED, "version": 1, "id": revision.pk, "schema": revision.avro_schema}
    assert_ok(get(f"/subjects/{NUDGED}/versions/1"), expected)
    assert_ok(get(f"/subjects/{NUDGED}/versions/latest"), expected)
    assert_ok(get(f"/subjects/{NUDGED}/versions/-1"), expected)


def test_it_serves_a_versions_raw_schema():
    assert_ok(get(f"/subjects/{NUDGED}/versions/latest/schema"), json.loads(nudged_revision().avro_schema))


def test_it_serves_a_schema_by_its_global_id():
    revision = nudged_revision()
    response = get(f"/schemas/ids/{revision.pk}")
    assert_ok(response, {"schema": revision.avro_schema})
    schema = json.loads(response.json()["schema"])
    assert (schema["namespace"], schema["name"]) == ("org.openstax.ec", "nudged_v1")


def test_it_serves_a_schema_by_id_whatever_query_parameters_clients_add():
    revision = nudged_revision()
    response = get(f"/schemas/ids/{revision.pk}?subject=nudged-value&format=serialized&reference_format=x")
    assert_ok(response, {"schema": revision.avro_schema})


def test_it_serves_a_raw_schema_by_id_and_where_it_is_registered():
    revision = nudged_revision()
    assert_ok(get(f"/schemas/ids/{revision.pk}/schema"), json.loads(revision.avro_schema))
    assert_ok(get(f"/schemas/ids/{revision.pk}/versions"), [{"subject": NUDGED, "version": 1}])
    assert_ok(get(f"/schemas/ids/{revision.pk}/subjects"), [NUDGED])


def test_it_supports_only_avro():
    assert_ok(get("/schemas/types"), ["AVRO"])


def test_it_looks_a_schema_up_by_its_canonical_form():
    revision = nudged_revision()
    response = post(f"/subjects/{NUDGED}?normalize=False&deleted=False", {"schema": nudged_schema()})
    assert_ok(response, {"subject": NUDGED, "version": 1, "id": revision.pk, "schema": revision.avro_schema})


def test_a_lookup_is_open_to_anonymous_clients_and_accepts_plain_json_and_octet_stream():
    for content_type in ("application/json", "application/octet-stream", "application/vnd.schemaregistry+json"):
        response = post(f"/subjects/{NUDGED}", {"schema": nudged_schema()}, content_type=content_type)
        assert response.status_code == 200, (content_type, response.content)


# --- Error codes ---------------------------------------------------------------------------------


def test_an_unknown_subject_is_40401():
    assert_error(get("/subjects/org.example.nothing_v1/versions"), 404, 40401, "org.example.nothing_v1")
    assert_error(get("/subjects/org.example.nothing_v1/versions/1"), 404, 40401)
    assert_error(get("/config/org.example.nothing_v1"), 404, 40401)
    assert_error(post("/subjects/org.example.nothing_v1", {"schema": nudged_schema()}), 404, 40401)


def test_registering_under_an_unknown_subject_is_40401_and_says_where_subjects_come_from(staff):
    response = post("/subjects/nudged-value/versions", {"schema": nudged_schema()}, headers=basic("registrar"))
    assert_error(response, 404, 40401, "RecordNameStrategy")
    assert "admin" in response.json()["message"]
    assert "schemas/" in response.json()["message"]


def test_an_unknown_version_is_40402():
    assert_error(get(f"/subjects/{NUDGED}/versions/99"), 404, 40402)
    assert_error(post(f"/compatibility/subjects/{NUDGED}/versions/99", {"schema": nudged_schema()}), 404, 40402)


def test_an_unknown_schema_is_40403():
    assert_error(get("/schemas/ids/999999"), 404, 40403)
    assert_error(get("/schemas/ids/999999/schema"), 404, 40403)
    assert_error(get("/schemas/ids/999999/versions"), 404, 40403)
    assert_error(get(f"/schemas/ids/{2**40}"), 404, 40403)


def test_looking_up_a_schema_the_subject_does_not_have_is_40403():
    response = post(f"/subjects/{NUDGED}", {"schema": nudged_schema(OPTIONAL_NOTE)})
    assert_error(response, 404, 40403)


@pytest.mark.parametrize(
    ("body", "message_part"),
    [
        ({"schema": "{not json"}, "not valid JSON"),
        ({"schema": json.dumps({"type": "record", "name": "nudged_v1", "namespace": "org.openstax.ec",
                                "fields": [{"name": "x", "type": "no_such_type"}]})}, "invalid"),
        ({"schema": json.dumps({"type": "record", "name": "other_v1", "namespace": "org.openstax.ec",
                                "fields": []})}, "must be named"),
        ({"schema": "{}", "schemaType": "JSON"}, "Schema type JSON is not supported"),
        ({"schema": "{}", "schemaType": "PROTOBUF"}, "Schema type PROTOBUF is not supported"),
        ({"schema": "{}", "references": [{"name": "x", "subject": "y", "version": 1}]}, "references"),
        ({}, '"schema"'),
        ([], '"schema"'),
    ],
)  # fmt: skip
def test_registering_an_invalid_schema_is_42201(staff, body, message_part):
    response = post(f"/subjects/{NUDGED}/versions", body, headers=basic("registrar"))
    assert_error(response, 422, 42201, message_part)
    assert SchemaRevision.objects.filter(major__full_name=NUDGED).count() == 1


def test_looking_up_or_testing_an_invalid_schema_is_42201():
    assert_error(post(f"/subjects/{NUDGED}", {"schema": "{not json"}), 422, 42201)
    assert_error(post(f"/compatibility/subjects/{NUDGED}/versions/latest", {"schema": '"string"'}), 422, 42201)


# "³" and "٣" are digits to str.isdigit() (int() takes only the second): versions are ASCII.
@pytest.mark.parametrize("version", ["0", "abc", "-2", "2147483648", "³", "٣"])
def test_an_invalid_version_is_42202(version):
    assert_error(get(f"/subjects/{NUDGED}/versions/{version}"), 422, 42202, f"'{version}'")
    response = post(f"/compatibility/subjects/{NUDGED}/versions/{version}", {"schema": nudged_schema()})
    assert_error(response, 422, 42202)


@pytest.mark.parametrize("body", [{"compatibility": "SIDEWAYS"}, {"compatibility": 3}, {}, ["FULL"]])
def test_an_invalid_compatibility_level_is_42203(staff, superuser, body):
    assert_error(put("/config", body, headers=basic("root")), 422, 42203, "full_transitive")
    assert_error(put(f"/config/{NUDGED}", body, headers=basic("registrar")), 422, 42203)
    assert EventMajor.objects.get(full_name=NUDGED).compatibility == "FULL_TRANSITIVE"


def test_registering_an_incompatible_schema_is_409_with_the_reasons(staff):
    response = post(
        f"/subjects/{NUDGED}/versions", {"schema": nudged_schema(REQUIRED_NOTE)}, headers=basic("registrar")
    )
    assert_error(response, 409, 409, "required_note")
    assert "incompatible" in response.json()["message"]
    assert SchemaRevision.objects.filter(major__full_name=NUDGED).count() == 1


def test_a_write_without_credentials_is_401_with_a_basic_challenge():
    response = post(f"/subjects/{NUDGED}/versions", {"schema": nudged_schema(OPTIONAL_NOTE)})
    assert_error(response, 401, 40101)
    assert response["WWW-Authenticate"] == 'Basic realm="schema-registry"'
    assert_error(put("/config", {"compatibility": "NONE"}), 401, 40101)
    assert_error(put(f"/config/{NUDGED}", {"compatibility": "NONE"}), 401, 40101)
    assert SchemaRevision.objects.filter(major__full_name=NUDGED).count() == 1
    assert RegistryConfig.objects.filter(compatibility="NONE").count() == 0


@pytest.mark.parametrize(
    "headers",
    [
        basic("registrar", "wrong"),
        basic("nobody"),
        {"Authorization": "Token not-a-token"},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Basic"},
    ],
)
def test_a_write_with_wrong_credentials_is_401(staff, headers):
    response = post(f"/subjects/{NUDGED}/versions", {"schema": nudged_schema(OPTIONAL_NOTE)}, headers=headers)
    assert_error(response, 401, 40101)


def test_a_write_by_a_user_who_is_not_staff_is_403(analyst):
    token = Token.objects.create(user=analyst)
    for headers in (basic("analyst"), {"Authorization": f"Token {token.key}"}):
        response = post(f"/subjects/{NUDGED}/versions", {"schema": nudged_schema(OPTIONAL_NOTE)}, headers=headers)
        assert_error(response, 403, 40301)
    assert_error(put("/config", {"compatibility": "NONE"}, headers=basic("analyst")), 403, 40301)
    assert SchemaRevision.objects.filter(major__full_name=NUDGED).count() == 1


def test_staff_without_the_registry_permissions_may_not_write_nor_may_analysts():
    # A staff user with no permissions, and one in the view-only Analysts group.
    plain = get_user_model().objects.create_user("plain", password=PASSWORD, is_staff=True)
    viewer = get_user_model().objects.create_user("viewer", password=PASSWORD, is_staff=True)
    viewer.groups.add(Group.objects.get(name="Analysts"))
    for user in (plain, viewer):
        headers = basic(user.username)
        register = post(f"/subjects/{NUDGED}/versions", {"schema": nudged_schema(OPTIONAL_NOTE)}, headers=headers)
        assert_error(register, 403, 40301, "permission")
        assert_error(put(f"/config/{NUDGED}", {"compatibility": "NONE"}, headers=headers), 403, 40301)
        assert_error(put("/config", {"compatibility": "NONE"}, headers=headers), 403, 40301)
    assert SchemaRevision.objects.filter(major__full_name=NUDGED).count() == 1
    assert EventMajor.objects.get(full_name=NUDGED).compatibility == "FULL_TRANSITIVE"
    assert RegistryConfig.objects.filter(compatibility="NONE").count() == 0


def test_each_write_needs_its_own_permission_and_the_global_level_a_superuser(staff):
    adder = get_user_model().objects.create_user("adder", password=PASSWORD)
    adder.user_permissions.add(Permission.objects.get(codename="add_schemarevision"))
    assert_error(put(f"/config/{NUDGED}", {"compatibility": "NONE"}, headers=basic("adder")), 403, 40301)
    registered = post(f"/subjects/{NUDGED}/versions", {"schema": nudged_schema(OPTIONAL_NOTE)}, headers=basic("adder"))
    assert registered.status_code == 200, registered.content
    # The registrar may change a subject's level but not the registry-wide one.
    assert_error(put("/config", {"compatibility": "NONE"}, headers=basic("registrar")), 403, 40301)
    assert put(f"/config/{NUDGED}", {"compatibility": "FULL"}, headers=basic("registrar")).status_code == 200


def test_a_write_by_an_inactive_staff_user_is_refused(staff):
    staff.is_active = False
    staff.save()
    response = post(
        f"/subjects/{NUDGED}/versions", {"schema": nudged_schema(OPTIONAL_NOTE)}, headers=basic("registrar")
    )
    assert_error(response, 401, 40101)


def test_reads_ignore_credentials_even_wrong_ones():
    response = Client().get(f"{API}/subjects/{NUDGED}/versions", headers={"Authorization": "Token stale"})
    assert_ok(response, [1])


@pytest.mark.parametrize(
    "path",
    [f"/subjects/{NUDGED}", f"/subjects/{NUDGED}/versions/1", f"/subjects/{NUDGED}/versions/latest"],
)
def test_deleting_a_subject_or_version_is_405_because_revisions_are_immutable(staff, path):
    response = Client().delete(f"{API}{path}", headers=basic("registrar"))
    assert_error(response, 405, 40501, "immutable")
    assert SchemaRevision.objects.filter(major__full_name=NUDGED).count() == 1


def test_deleting_a_compatibility_level_is_405():
    assert_error(Client().delete(f"{API}/config"), 405, 40501)
    assert_error(Client().delete(f"{API}/config/{NUDGED}"), 405, 40501)


def test_a_method_a_resource_lacks_is_a_confluent_shaped_405():
    assert_error(Client().patch(f"{API}/subjects"), 405, 405)


@pytest.mark.parametrize(
    "path", ["/associations/resources/-/nudged?resourceType=topic&associationType=value", "/mode", "/nothing/here"]
)
def test_an_endpoint_this_registry_lacks_is_a_confluent_shaped_404(path):
    assert_error(get(path), 404, 404, "HTTP 404 Not Found")


@pytest.mark.parametrize("content_type", ["text/plain", "multipart/form-data; boundary=x", ""])
def test_a_write_whose_body_a_cross_site_form_could_send_is_415_and_changes_nothing(staff, content_type):
    response = Client().generic(
        "POST", f"{API}/subjects/{NUDGED}/versions", json.dumps({"schema": nudged_schema(OPTIONAL_NOTE)}),
        content_type=content_type, headers=basic("registrar"),
    )  # fmt: skip
    assert_error(response, 415, 415)
    assert SchemaRevision.objects.filter(major__full_name=NUDGED).count() == 1


def test_a_body_that_is_not_json_is_400_and_an_unsupported_content_type_is_415(staff):
    response = Client().post(f"{API}/subjects/{NUDGED}", "{", content_type=CONTENT_TYPE)
    assert_error(response, 400, 400)
    response = Client().post(
        f"{API}/subjects/{NUDGED}/versions", "schema=x", content_type="application/x-www-form-urlencoded",
        headers=basic("registrar"),
    )  # fmt: skip
    assert_error(response, 415, 415)


# --- Writes --------------------------------------------------------------------------------------


def test_registering_the_identical_schema_returns_its_id_without_a_new_version(staff):
    revision = nudged_revision()
    response = post(
        f"/subjects/{NUDGED}/versions?normalize=False", {"schema": nudged_schema()}, headers=basic("registrar")
    )
    assert_ok(response, {"id": revision.pk})
    assert SchemaRevision.objects.filter(major__full_name=NUDGED).count() == 1


def test_registering_a_compatible_schema_publishes_the_next_revision(staff):
    response = post(
        f"/subjects/{NUDGED}/versions", {"schema": nudged_schema(OPTIONAL_NOTE)}, headers=basic("registrar")
    )
    new = SchemaRevision.objects.get(major__full_name=NUDGED, revision=2)
    assert_ok(response, {"id": new.pk})
    assert new.created_by == "registrar"
    assert new.json_schema == SchemaRevision.objects.get(major__full_name=NUDGED, revision=1).json_schema
    assert_ok(get(f"/subjects/{NUDGED}/versions"), [1, 2])


@pytest.mark.parametrize("keyword", ["Token", "Bearer"])
def test_a_staff_users_api_token_may_register(staff, keyword):
    token = Token.objects.create(user=staff)
    response = post(
        f"/subjects/{NUDGED}/versions", {"schema": nudged_schema(OPTIONAL_NOTE)},
        headers={"Authorization": f"{keyword} {token.key}"},
    )  # fmt: skip
    assert response.status_code == 200, response.content
    assert SchemaRevision.objects.get(pk=response.json()["id"]).created_by == "registrar (API token)"


def test_a_staff_session_writes_only_with_a_csrf_token(staff):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(staff)
    body = json.dumps({"schema": nudged_schema(OPTIONAL_NOTE)})

    refused = browser.post(f"{API}/subjects/{NUDGED}/versions", body, content_type=CONTENT_TYPE)
    assert_error(refused, 403, 40301, "CSRF")
    assert SchemaRevision.objects.filter(major__full_name=NUDGED).count() == 1

    secret = "a" * 32
    browser.cookies["csrftoken"] = secret
    accepted = browser.post(
        f"{API}/subjects/{NUDGED}/versions", body, content_type=CONTENT_TYPE, headers={"X-CSRFToken": secret}
    )
    assert accepted.status_code == 200, accepted.content
    assert SchemaRevision.objects.filter(major__full_name=NUDGED).count() == 2


def test_it_tests_compatibility_against_latest_as_registering_would_and_explains_with_verbose():
    assert_ok(post(f"/compatibility/subjects/{NUDGED}/versions/latest", {"schema": nudged_schema()}), {
        "is_compatible": True
    })  # fmt: skip
    compatible = post(
        f"/compatibility/subjects/{NUDGED}/versions/latest?verbose=true", {"schema": nudged_schema(OPTIONAL_NOTE)}
    )
    assert_ok(compatible, {"is_compatible": True, "messages": []})

    incompatible = post(f"/compatibility/subjects/{NUDGED}/versions/latest", {"schema": nudged_schema(REQUIRED_NOTE)})
    assert_ok(incompatible, {"is_compatible": False})
    verbose = post(
        f"/compatibility/subjects/{NUDGED}/versions/1?verbose=True", {"schema": nudged_schema(REQUIRED_NOTE)}
    )
    assert verbose.json()["is_compatible"] is False
    assert any("required_note" in message for message in verbose.json()["messages"])
    assert verbose.json()["messages"][0].startswith("Incompatible under FULL:")
    latest = post(
        f"/compatibility/subjects/{NUDGED}/versions/latest?verbose=1", {"schema": nudged_schema(REQUIRED_NOTE)}
    )
    assert "messages" not in latest.json()
    every = post(f"/compatibility/subjects/{NUDGED}/versions?verbose=true", {"schema": nudged_schema(REQUIRED_NOTE)})
    assert every.json()["is_compatible"] is False
    assert every.json()["messages"][0].startswith("Incompatible under FULL_TRANSITIVE:")


def test_it_tests_a_numbered_version_alone_and_latest_against_every_revision(staff):
    # r2 drops no field but adds an optional one; a schema requiring that field reads r2's data
    # but not r1's: incompatible with version 1 and with latest (FULL_TRANSITIVE), not version 2.
    post(f"/subjects/{NUDGED}/versions", {"schema": nudged_schema(OPTIONAL_NOTE)}, headers=basic("registrar"))
    required = nudged_schema({"name": "note", "type": ["null", "string"]})
    results = {
        version: post(f"/compatibility/subjects/{NUDGED}/versions/{version}", {"schema": required}).json()
        for version in ("1", "2", "latest")
    }
    assert results == {
        "1": {"is_compatible": False},
        "2": {"is_compatible": True},
        "latest": {"is_compatible": False},
    }


def test_it_reads_and_sets_the_global_and_subject_compatibility_levels(staff, superuser):
    assert_ok(get("/config"), {"compatibilityLevel": "FULL_TRANSITIVE"})
    assert_ok(put("/config", {"compatibility": "backward"}, headers=basic("root")), {"compatibility": "BACKWARD"})
    assert_ok(get("/config"), {"compatibilityLevel": "BACKWARD"})
    assert_ok(get(f"/config/{NUDGED}"), {"compatibilityLevel": "FULL_TRANSITIVE"})

    assert_ok(
        put(f"/config/{NUDGED}", {"compatibility": "NONE"}, headers=basic("registrar")), {"compatibility": "NONE"}
    )
    assert_ok(get(f"/config/{NUDGED}"), {"compatibilityLevel": "NONE"})
    without_medium = nudged_revision().avro_schema_dict
    without_medium["fields"] = [field for field in without_medium["fields"] if field["name"] != "medium"]
    response = post(f"/subjects/{NUDGED}/versions", {"schema": json.dumps(without_medium)}, headers=basic("registrar"))
    assert response.status_code == 200, response.content


# --- Hostile bodies: read as the events API reads them, never a 5xx -------------------------------


def post_raw(path: str, raw: bytes, headers: dict[str, str] | None = None):
    return Client().post(f"{API}{path}", raw, content_type=CONTENT_TYPE, headers=headers)


LOOKUP = f"/subjects/{NUDGED}"


def test_a_body_nested_too_deep_is_400_not_500():
    assert_error(post_raw(LOOKUP, b"[" * 5000 + b"]" * 5000), 400, 400, "nested more than 32 levels")


def test_a_body_over_the_size_limit_is_413_after_decompression_too(settings):
    settings.MAX_REQUEST_BYTES = 1000
    body = json.dumps({"schema": nudged_schema(), "padding": "x" * 5000}).encode()
    assert_error(post_raw(LOOKUP, body), 413, 413, "larger than 1000 bytes")
    assert_error(post_raw(LOOKUP, gzip.compress(body), headers={"Content-Encoding": "gzip"}), 413, 413)


def test_a_body_with_text_utf8_cannot_hold_is_400():
    raw = json.dumps({"schema": nudged_schema(), "note": "LONE"}).replace("LONE", "\\ud800").encode()
    assert b"\\ud800" in raw
    assert_error(post_raw(LOOKUP, raw), 400, 400, "not valid JSON")


def test_a_gzip_body_is_read_like_a_plain_one():
    body = json.dumps({"schema": nudged_schema()}).encode()
    response = post_raw(LOOKUP, gzip.compress(body), headers={"Content-Encoding": "gzip"})
    assert response.status_code == 200, response.content
    assert response.json()["id"] == nudged_revision().pk


def nested_record(depth: int) -> dict[str, Any]:
    record: dict[str, Any] = {"type": "record", "name": "leaf", "fields": [{"name": "x", "type": "int"}]}
    for level in range(depth):
        record = {"type": "record", "name": f"r{level}", "fields": [{"name": "child", "type": record}]}
    return record


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        (json.dumps(nested_record(40)), "nested more than 32 levels"),
        ("[" * 100_000 + "]" * 100_000, "characters long; at most 131072"),
        (
            json.dumps(
                {"type": "record", "name": "wide", "fields": [{"name": f"f{n}", "type": "int"} for n in range(1001)]}
            ),
            "1001 fields; at most 1000",
        ),
    ],
    ids=["too deep", "too long", "too many fields"],
)
def test_schemas_past_the_limits_are_42201_for_every_endpoint_that_reads_one(staff, schema, message):
    body = {"schema": schema}
    for path in (LOOKUP, f"/subjects/{NUDGED}/versions", f"/compatibility/subjects/{NUDGED}/versions/latest"):
        assert_error(post(path, body, headers=basic("registrar")), 422, 42201, message)


# --- Schemas that would poison delivery: 422, 42201, with the reason ------------------------------


def chain_of_records(length: int) -> list[dict[str, Any]]:
    """Optional fields t0, t1, ... of records T0, T1, ... each using the one before twice."""
    fields = [
        {
            "name": "t0",
            "type": ["null", {"type": "record", "name": "T0", "fields": [{"name": "leaf", "type": "string"}]}],
            "default": None,
        }
    ]
    for index in range(1, length):
        twice = [{"name": "a", "type": f"T{index - 1}"}, {"name": "b", "type": f"T{index - 1}"}]
        links = {"type": "record", "name": f"T{index}", "fields": twice}
        fields.append({"name": f"t{index}", "type": ["null", links], "default": None})
    return fields


@pytest.mark.parametrize(
    ("extra_fields", "reason"),
    [
        (
            [{"name": "next", "type": ["null", NUDGED], "default": None}],
            f"recursive types are not supported: {NUDGED} → {NUDGED}",
        ),
        (
            chain_of_records(30),
            "the Avro schema is too large once each named type is written out where it is used: more than 100,000 "
            "types and fields, at most 10,000 are allowed",
        ),
        (
            [{"name": "user_agent", "type": ["null", "int"], "default": None}],
            "user_agent: the server writes text there, which the Avro field ?int cannot hold",
        ),
    ],
    ids=["recursive", "exponential", "server-field"],
)
def test_registering_a_compatible_schema_that_would_poison_delivery_is_42201_with_the_reason(
    staff, extra_fields, reason
):
    schema = nudged_schema(*extra_fields)

    response = post(f"/subjects/{NUDGED}/versions", {"schema": schema}, headers=basic("registrar"))

    assert_error(response, 422, 42201, f"Invalid schema: {reason}")
    assert SchemaRevision.objects.filter(major__full_name=NUDGED).count() == 1


def test_testing_compatibility_of_a_recursive_schema_is_42201():
    schema = nudged_schema({"name": "next", "type": ["null", NUDGED], "default": None})

    response = post(f"/compatibility/subjects/{NUDGED}/versions/latest", {"schema": schema})

    assert_error(response, 422, 42201, "recursive types are not supported")


def test_a_field_no_value_fills_is_42201_even_where_the_level_allows_any_change(staff):
    assert put(f"/config/{NUDGED}", {"compatibility": "NONE"}, headers=basic("registrar")).status_code == 200

    response = post(
        f"/subjects/{NUDGED}/versions", {"schema": nudged_schema(REQUIRED_NOTE)}, headers=basic("registrar")
    )

    assert_error(
        response,
        422,
        42201,
        "Invalid schema: required_note: no value clients send fills it, so the record holds null there, but the "
        "Avro field is string",
    )
    assert SchemaRevision.objects.filter(major__full_name=NUDGED).count() == 1
