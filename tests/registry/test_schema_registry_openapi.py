"""The schema-registry API's OpenAPI document (/schema-registry/openapi.json): valid, generated
without warnings, every operation of the API in it, and links that lead somewhere."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.validation import validate_schema

from registry.schema_registry.media import CONTENT_TYPE

DOCUMENT = "/schema-registry/openapi.json"
METHODS = ("get", "put", "post", "delete", "patch")


@pytest.fixture
def document(db) -> dict[str, Any]:
    GENERATOR_STATS.reset()
    response = Client().get(DOCUMENT)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    document: dict[str, Any] = response.json()
    return document


def _registry_routes() -> dict[str, type]:
    """Each route of the registry API as the document writes its path, with its view class."""
    (resolver,) = [
        p for p in get_resolver().url_patterns if isinstance(p, URLResolver) and str(p.pattern) == "schema-registry/"
    ]
    routes = {}
    for pattern in resolver.url_patterns:
        assert isinstance(pattern, URLPattern)
        path = "/schema-registry/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(pattern.pattern))
        routes[path] = pattern.callback.view_class  # type: ignore[attr-defined]
    return routes


def test_it_is_valid_openapi_generated_without_a_warning(document):
    validate_schema(document)
    assert not GENERATOR_STATS, "drf-spectacular warned while generating the registry's document"
    assert document["info"]["title"] == "Event capture schema registry"


def test_every_method_of_every_registry_view_is_documented_and_nothing_else(document):
    expected = set()
    for path, view in _registry_routes().items():
        if not getattr(view, "documented", False):
            continue  # the catch-all, and the document itself
        expected |= {(method, path) for method in METHODS if hasattr(view, method)}
    documented = {(method, path) for path, item in document["paths"].items() for method in item}
    assert documented == expected
    assert len(documented) == 21


def test_only_writes_need_credentials_and_each_write_says_which(document):
    secured = {
        (method, path)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if operation.get("security")
    }
    assert secured == {
        ("post", "/schema-registry/subjects/{subject}/versions"),
        ("put", "/schema-registry/config"),
        ("put", "/schema-registry/config/{subject}"),
    }
    schemes = set(document["components"]["securitySchemes"])
    assert schemes == {"basicAuth", "tokenAuth", "bearerAuth", "cookieAuth"}
    for path, method in (("/schema-registry/config", "put"), ("/schema-registry/subjects/{subject}/versions", "post")):
        operation = document["paths"][path][method]
        assert {name for requirement in operation["security"] for name in requirement} == schemes
        assert {"401", "403", "429"} <= set(operation["responses"])


def test_every_answer_is_in_the_registrys_content_type_and_errors_in_confluents_shape(document):
    for item in document["paths"].values():
        for operation in item.values():
            for status, response in operation["responses"].items():
                assert list(response["content"]) == [CONTENT_TYPE]
                if status.startswith(("4", "5")):
                    assert response["content"][CONTENT_TYPE]["schema"] == {"$ref": "#/components/schemas/RegistryError"}
    assert document["components"]["schemas"]["RegistryError"]["required"] == ["error_code", "message"]


def test_every_link_names_an_operation_and_its_parameters(document):
    operations = {
        operation["operationId"]: operation for item in document["paths"].values() for operation in item.values()
    }
    links = [
        link
        for operation in operations.values()
        for response in operation["responses"].values()
        for link in response.get("links", {}).values()
    ]
    assert len(links) >= 15
    for link in links:
        target = operations[link["operationId"]]
        parameters = {parameter["name"] for parameter in target.get("parameters", [])}
        assert set(link.get("parameters", {})) <= parameters, link
        assert ("requestBody" in link) == ("requestBody" in target), link
