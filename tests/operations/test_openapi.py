"""The OpenAPI document at /api/v0/swagger, the committed openapi.json, and the docs page."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from events.openapi import dispatches_as_discriminators, json_schema_components
from registry.selectors import major_get
from registry.services import major_status_set
from tests.factories import SHIPPED_TOPICS

SWAGGER = "/api/v0/swagger"
XAPI = "org.adlnet.xapi.Statement"
EVENTS = sorted(name for name in SHIPPED_TOPICS if name != XAPI)
ERROR_STATUSES = {"400", "413", "415", "422", "429", "503"}


def component(full_name: str) -> str:
    return full_name.replace(".", "_")


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def document() -> dict[str, Any]:
    response = APIClient().get(SWAGGER)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    parsed: dict[str, Any] = json.loads(response.content)
    return parsed


@pytest.mark.usefixtures("catalogue")
class TestTheDocument:
    def test_it_is_valid_openapi_3_1(self):
        doc = document()
        assert doc["openapi"] == "3.1.0"
        validate_schema(doc)

    def test_it_documents_the_api_and_nothing_else(self):
        assert set(document()["paths"]) == {"/api/v0/events", "/api/v0/xapi/statements", "/api/v0/info"}

    def test_every_active_version_is_a_component_and_events_choose_theirs_by_type(self):
        schemas = document()["components"]["schemas"]
        assert {component(name) for name in SHIPPED_TOPICS} <= set(schemas)
        assert schemas["EventData"]["oneOf"] == [ref(component(name)) for name in EVENTS]
        assert schemas["EventData"]["discriminator"] == {
            "propertyName": "type",
            "mapping": {name: f"#/components/schemas/{component(name)}" for name in EVENTS},
        }
        # Generators take a discriminator only on a string property: every mapped event says so.
        for name in EVENTS:
            type_property = schemas[component(name)]["properties"]["type"]
            assert (type_property["type"], type_property["const"]) == ("string", name)
            assert "type" in schemas[component(name)]["required"]
        nudged = schemas["org_openstax_ec_nudged_v1"]
        assert nudged["properties"]["session_uuid"]["format"] == "uuid"
        assert "$schema" not in nudged
        assert "$id" not in nudged

    def test_the_events_body_is_a_list_of_data_objects(self):
        doc = document()
        operation = doc["paths"]["/api/v0/events"]["post"]
        assert operation["requestBody"] == {
            "content": {"application/json": {"schema": ref("EventBatch")}},
            "required": True,
        }
        schemas = doc["components"]["schemas"]
        assert schemas["EventBatch"]["properties"]["events"] == {"type": "array", "items": ref("Event")}
        assert schemas["EventBatch"]["required"] == ["events"]
        assert schemas["Event"]["properties"]["data"] == ref("EventData")
        assert schemas["Event"]["required"] == ["data"]

    def test_the_xapi_body_is_a_statement_or_an_array_of_them_with_its_defs_as_components(self):
        doc = document()
        operation = doc["paths"]["/api/v0/xapi/statements"]["post"]
        assert operation["requestBody"] == {
            "content": {"application/json": {"schema": ref("StatementBody")}},
            "required": True,
        }
        schemas = doc["components"]["schemas"]
        statement = ref("org_adlnet_xapi_Statement")
        # Two named choices, each naming its own model (see tests/test_generated_clients.py).
        assert schemas["StatementBody"]["oneOf"] == [ref("Statement"), ref("StatementList")]
        assert schemas["Statement"]["allOf"] == [statement]
        assert schemas["StatementList"]["type"] == "array"
        assert schemas["StatementList"]["items"] == statement
        assert schemas["org_adlnet_xapi_Statement"]["properties"]["actor"]["$ref"] == (
            "#/components/schemas/org_adlnet_xapi_Statement_Actor"
        )
        assert "$defs" not in schemas["org_adlnet_xapi_Statement"]
        # The registry's if/then choices by objectType, as generators read them.
        actor = schemas["org_adlnet_xapi_Statement_Actor"]
        assert actor["oneOf"] == [ref("org_adlnet_xapi_Statement_Agent"), ref("org_adlnet_xapi_Statement_Group")]
        assert actor["discriminator"]["propertyName"] == "objectType"
        assert "allOf" not in actor
        assert schemas["org_adlnet_xapi_Statement"]["properties"]["object"]["$ref"] == (
            "#/components/schemas/org_adlnet_xapi_Statement_StatementObject"
        )
        assert schemas["org_adlnet_xapi_Statement_StatementObject"]["discriminator"]["mapping"] == {
            kind: f"#/components/schemas/org_adlnet_xapi_Statement_{kind}"
            for kind in ("Activity", "Agent", "Group", "StatementRef", "SubStatement")
        }
        assert schemas["org_adlnet_xapi_Statement_Authority"]["discriminator"]["mapping"] == {
            "Agent": "#/components/schemas/org_adlnet_xapi_Statement_Agent",
            "Group": "#/components/schemas/org_adlnet_xapi_Statement_AuthorityGroup",
        }
        assert schemas["org_adlnet_xapi_Statement_Group"]["properties"]["objectType"] == {
            "type": "string",
            "const": "Group",
        }
        # Every reference in the document leads to a component.
        targets = re.findall(r'"\$ref": "#/components/schemas/([^"/]+)"', json.dumps(doc))
        assert set(targets) <= set(schemas)

    @pytest.mark.parametrize("path", ["/api/v0/events", "/api/v0/xapi/statements"])
    def test_the_ingestion_endpoints_answer_202_or_an_error_in_the_error_shape(self, path):
        doc = document()
        responses = doc["paths"][path]["post"]["responses"]
        assert set(responses) == {"202"} | ERROR_STATUSES
        assert responses["202"]["content"]["application/json"]["schema"] == ref("AcceptedBatch")
        for status in ERROR_STATUSES:
            assert responses[status]["content"]["application/json"]["schema"] == ref("Error"), status
        for status in ("429", "503"):
            assert responses[status]["headers"]["Retry-After"] == {
                "schema": {"type": "integer", "minimum": 0},
                "description": "Seconds to wait before retrying.",
                "required": True,
            }
        assert "Retry-After" not in responses["422"].get("headers", {})
        schemas = doc["components"]["schemas"]
        assert sorted(schemas["AcceptedBatch"]["required"]) == ["accepted", "ids", "warnings"]
        assert schemas["AcceptedBatch"]["properties"]["ids"] == {
            "type": "array",
            "items": {"type": "string", "format": "uuid"},
            "description": "The server-assigned event ids, in request order (each Kafka record's `event_id`).",
        }
        assert sorted(schemas["Error"]["required"]) == ["errors", "messages", "status_code"]
        assert schemas["Error"]["properties"]["errors"] == {"type": "array", "items": ref("ErrorDetail")}
        assert sorted(schemas["ErrorDetail"]["required"]) == ["code", "index", "message", "path"]
        assert schemas["ErrorDetail"]["properties"]["index"]["type"] == ["integer", "null"]
        assert schemas["ErrorDetail"]["properties"]["path"]["type"] == ["string", "null"]

    def test_the_xapi_lrs_mode_is_described_but_not_part_of_the_contract(self):
        """With `X-Experience-API-Version` the endpoint answers as xAPI specifies (200 with ids, PUT):
        xAPI clients' contract. Documented as a second answer, typescript-fetch would type every
        answer of the operation as the list of ids, so the document keeps the service's own."""
        item = document()["paths"]["/api/v0/xapi/statements"]
        assert set(item) == {"post"}
        assert all(p["name"] != "X-Experience-API-Version" for p in item["post"].get("parameters", []))
        assert "X-Experience-API-Version" in item["post"]["description"]
        assert set(item["post"]["responses"]) == {"202", "400", "413", "415", "422", "429", "503"}

    def test_info_is_documented_with_its_admin_data(self):
        doc = document()
        responses = doc["paths"]["/api/v0/info"]["get"]["responses"]
        assert responses["200"]["content"]["application/json"]["schema"] == ref("Info")
        assert responses["429"]["content"]["application/json"]["schema"] == ref("Error")
        assert responses["429"]["headers"]["Retry-After"]["required"] is True
        schemas = doc["components"]["schemas"]
        info = schemas["Info"]
        assert sorted(info["required"]) == ["accounts_env_name", "env_name", "git_sha", "overall_took_ms", "version"]
        assert info["properties"]["data"]["allOf"] == [ref("InfoData")]
        assert schemas["InfoData"]["oneOf"] == [ref("InfoAdminData"), ref("InfoErrors")]

    def test_it_follows_the_registry_at_request_time(self):
        assert "org_openstax_ec_nudged_v1" in document()["components"]["schemas"]
        nudged = major_get(full_name="org.openstax.ec.nudged_v1")
        assert nudged is not None
        major_status_set(major=nudged, status="deprecated")
        schemas = document()["components"]["schemas"]
        assert "org_openstax_ec_nudged_v1" not in schemas
        assert ref("org_openstax_ec_nudged_v1") not in schemas["EventData"]["oneOf"]
        assert len(schemas["EventData"]["oneOf"]) == len(EVENTS) - 1

    def test_the_committed_openapi_json_is_current(self):
        committed = json.loads((Path(django_settings.BASE_DIR) / "openapi.json").read_text())
        assert committed == document(), "openapi.json is stale: run `make openapi` and commit it"


def test_a_json_schema_becomes_components_with_its_defs_and_local_refs_rewritten():
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "org.example.thing_v1",
        "type": "object",
        "properties": {
            "type": {"const": {"$id": "kept: a value, not a schema"}},
            "$id": {"type": "string"},
            "owner": {"$ref": "#/$defs/Person", "description": "who"},
            "parent": {"$ref": "#"},
            "tags": {"type": "array", "items": {"$ref": "#/$defs/Tag"}},
        },
        "$defs": {
            "Person": {"type": "object", "properties": {"friend": {"$ref": "#/$defs/Person"}}},
            "Tag": {"enum": ["a", "b"]},
        },
    }
    assert json_schema_components(schema, name="org_example_thing_v1") == {
        "org_example_thing_v1": {
            "type": "object",
            "properties": {
                "type": {"const": {"$id": "kept: a value, not a schema"}},
                "$id": {"type": "string"},
                "owner": {"$ref": "#/components/schemas/org_example_thing_v1_Person", "description": "who"},
                "parent": {"$ref": "#/components/schemas/org_example_thing_v1"},
                "tags": {"type": "array", "items": {"$ref": "#/components/schemas/org_example_thing_v1_Tag"}},
            },
        },
        "org_example_thing_v1_Person": {
            "type": "object",
            "properties": {"friend": {"$ref": "#/components/schemas/org_example_thing_v1_Person"}},
        },
        "org_example_thing_v1_Tag": {"enum": ["a", "b"]},
    }


def test_the_docs_page_uses_only_local_assets():
    response = APIClient().get("/api/v0/docs")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert re.search(r"https?://", html) is None
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sorted(assets) == [
        "/static/drf_spectacular_sidecar/swagger-ui-dist/favicon-32x32.png",
        "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js",
        "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-standalone-preset.js",
        "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css",
    ]
    assert '"/api/v0/swagger"' in html
    for asset in assets:
        assert APIClient().get(asset).status_code == 200, asset


def _by_kind(*kinds: str) -> dict[str, Any]:
    """A registry-style choice by ``kind``: JSON Schema's if/then, which generators do not read."""
    return {
        "type": "object",
        "required": ["kind"],
        "properties": {"kind": {"enum": list(kinds)}},
        "description": "A cat or a dog, by kind.",
        "allOf": [
            {
                "if": {"required": ["kind"], "properties": {"kind": {"const": kind}}},
                "then": {"$ref": f"#/components/schemas/x_{kind}"},
            }
            for kind in kinds
        ],
    }


def _pet(kind: str, **extra: Any) -> dict[str, Any]:
    return {"type": "object", "required": ["kind"], "properties": {"kind": {"const": kind}, **extra}}


def test_a_choice_by_a_property_value_becomes_a_one_of_with_a_discriminator():
    components = {
        "x": {"type": "object", "properties": {"pet": _by_kind("cat", "dog")}},
        "x_cat": _pet("cat"),
        "x_dog": _pet("dog"),
    }
    rewritten = dispatches_as_discriminators(components)
    assert rewritten["x"]["properties"]["pet"] == {
        "description": "A cat or a dog, by kind.",
        "oneOf": [ref("x_cat"), ref("x_dog")],
        "discriminator": {
            "propertyName": "kind",
            "mapping": {"cat": "#/components/schemas/x_cat", "dog": "#/components/schemas/x_dog"},
        },
    }
    assert rewritten["x_cat"]["properties"]["kind"] == {"type": "string", "const": "cat"}
    assert rewritten["x_dog"]["properties"]["kind"] == {"type": "string", "const": "dog"}
    assert components["x_cat"]["properties"]["kind"] == {"const": "cat"}, "the input is left as it was"


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda c: c["x_dog"].update(required=[]), id="a chosen schema does not require the property"),
        pytest.param(
            lambda c: c["x_dog"]["properties"].update(kind={"const": "cat"}), id="a chosen schema pins another value"
        ),
        pytest.param(
            lambda c: c["x"]["properties"]["pet"]["properties"].update(kind={"enum": ["cat", "dog", "cow"]}),
            id="the enum allows a value no choice has",
        ),
        pytest.param(lambda c: c["x"]["properties"]["pet"]["allOf"][0].update(**{"else": False}), id="an else"),
    ],
)
def test_a_choice_that_is_not_exactly_a_discriminator_is_left_alone(change):
    components = {
        "x": {"type": "object", "properties": {"pet": _by_kind("cat", "dog")}},
        "x_cat": _pet("cat"),
        "x_dog": _pet("dog"),
    }
    change(components)
    assert dispatches_as_discriminators(components) == components
