"""Every path under ``/api/`` and ``/schema-registry/`` that is not an endpoint, and every method an
endpoint lacks, answers in its API's error shape: the ingestion API's (docs/api.md: 404
``not_found``, 405 ``method_not_allowed``), and Confluent's for the schema registry (``error_code``
404 and 405). Walked over every route the URL configuration has: each route itself with a method
it lacks, with a trailing slash, and with a nonsense sub-path. Never a 500, never HTML; the rest of
the site keeps Django's own 404 page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

API_404 = {
    "status_code": 404,
    "messages": ["Not found"],
    "errors": [{"index": None, "path": None, "code": "not_found", "message": "Not found"}],
}
REGISTRY_404 = {"error_code": 404, "message": "HTTP 404 Not Found"}
REGISTRY_405 = {"error_code": 405, "message": "HTTP 405 Method Not Allowed"}
# Values for a route's parameters, by converter (or parameter) name.
SAMPLES = {"int": "1", "str": "org.openstax.ec.nudged_v1", "version": "1"}
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _routes(resolver: URLResolver, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern, route)
        elif isinstance(pattern, URLPattern):
            yield route, pattern.callback


def _concrete(route: str) -> str | None:
    """A path the route matches; None for a regular expression (the catch-alls)."""
    if "^" in route or "(" in route:
        return None

    def sample(match: re.Match[str]) -> str:
        converter, name = match.group(1), match.group(2)
        return SAMPLES.get(name) or SAMPLES[converter or "str"]

    return "/" + re.sub(r"<(?:(\w+):)?(\w+)>", sample, route)


def endpoints(prefix: str) -> list[tuple[str, set[str]]]:
    """Each endpoint under ``prefix``: a concrete path, and the methods its view answers."""
    found = []
    for route, callback in _routes(get_resolver()):
        path = _concrete(route) if route.startswith(prefix.lstrip("/")) else None
        if path is None:
            continue
        view = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
        if view is not None:
            methods = {method for method in METHODS if hasattr(view, method.lower())}
        else:  # a function view: what its decorators let through
            methods = {method for method in METHODS if Client().generic(method, path).status_code != 405}
        found.append((path, methods))
    return found


API = endpoints("/api/")
REGISTRY = endpoints("/schema-registry/")


def test_the_walk_finds_every_endpoint_of_both_apis():
    assert {path for path, _ in API} >= {
        "/api/v0/events",
        "/api/v0/xapi/statements",
        "/api/v0/info",
        "/api/v0/swagger",
        "/api/v0/docs",
    }
    assert len(REGISTRY) >= 15


def _no_html(response: Any) -> None:
    assert response.status_code < 500
    assert response["Content-Type"].startswith("application/"), response["Content-Type"]
    assert b"<html" not in response.content.lower()


def _api_404(response: Any) -> None:
    _no_html(response)
    assert response.status_code == 404
    assert response.json() == API_404


def _registry_404(response: Any) -> None:
    _no_html(response)
    assert response.status_code == 404
    assert response.json() == REGISTRY_404


def _nonsense(path: str) -> list[str]:
    # Three segments: no parameter of a route can take them (``subjects/nonsense`` is a subject).
    return [f"{path}/", f"{path}/no/such/thing", f"{path}/no/such/thing/", f"{path}/%0Ano/such/thing"]


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "methods"), API, ids=[path for path, _ in API])
def test_an_api_route_with_a_trailing_slash_or_a_nonsense_sub_path_is_a_json_404_whatever_the_method(path, methods):
    for unknown in _nonsense(path):
        for method in METHODS:
            _api_404(Client().generic(method, unknown))


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "methods"), API, ids=[path for path, _ in API])
def test_a_method_an_api_route_lacks_is_a_json_405_naming_the_methods_it_has(path, methods):
    lacking = [method for method in METHODS if method not in methods]
    assert lacking, path
    for method in lacking:
        response = Client().generic(method, path)
        _no_html(response)
        assert response.status_code == 405, (method, path)
        body = response.json()
        assert body["status_code"] == 405
        assert [error["code"] for error in body["errors"]] == ["method_not_allowed"]
        assert body["messages"] == [body["errors"][0]["message"]]
        assert method in body["messages"][0]
        assert set(response["Allow"].replace(" ", "").split(",")) >= methods


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "methods"), REGISTRY, ids=[path for path, _ in REGISTRY])
def test_a_registry_route_with_a_trailing_slash_or_a_nonsense_sub_path_is_a_confluent_404(path, methods):
    for unknown in _nonsense(path):
        for method in METHODS:
            _registry_404(Client().generic(method, unknown))


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "methods"), REGISTRY, ids=[path for path, _ in REGISTRY])
def test_a_method_a_registry_route_lacks_is_a_confluent_405(path, methods):
    lacking = [method for method in METHODS if method not in methods]
    assert lacking, path
    for method in lacking:
        response = Client().generic(method, path)
        _no_html(response)
        assert response.status_code == 405, (method, path)
        assert response.json() == REGISTRY_405


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/api", "/api/", "/api/v0", "/api/v0/", "/api/v1/events", "/api/v0/nope", "/api/v0/events/", "/api/%0A"]
)
def test_any_other_path_under_api_is_the_apis_json_404(path):
    for method in METHODS:
        _api_404(Client().generic(method, path))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/schema-registry/", "/schema-registry/nope", "/schema-registry/%0A", "/schema-registry/mode"]
)
def test_any_other_path_under_the_schema_registry_is_a_confluent_404(path):
    for method in METHODS:
        _registry_404(Client().generic(method, path))


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/nope", "/apis", "/api-docs", "/ready/"])
def test_elsewhere_an_unknown_path_keeps_djangos_html_404(path):
    response = Client().get(path)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
