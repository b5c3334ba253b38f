"""The OpenAPI 3.1 document of the public API, served at ``/api/v0/swagger`` (drf-spectacular):
the settings' hooks, and the ``extend_schema`` arguments of ``/api/v0/info``. The ingestion
endpoints' own (their bodies, answers and the registry's payload schemas) are in
``events/openapi.py``, beside their views.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer
from rest_framework import serializers

from events.openapi import RATE_LIMITED, retry_after
from operations.health import app_version


class InfoAdminDataSerializer(serializers.Serializer[Any]):
    kafka_topics = serializers.ListField(child=serializers.CharField())
    schema_registry_subjects = serializers.ListField(child=serializers.CharField())


class InfoErrorsSerializer(serializers.Serializer[Any]):
    """Kafka (or the database) did not answer."""

    errors = serializers.ListField(child=serializers.CharField())  # type: ignore[assignment]


class InfoSerializer(serializers.Serializer[Any]):
    env_name = serializers.CharField()
    accounts_env_name = serializers.CharField()
    git_sha = serializers.CharField(help_text="The deployed commit, or `unknown`.")
    version = serializers.CharField()
    overall_took_ms = serializers.IntegerField(min_value=0)
    data = PolymorphicProxySerializer(  # type: ignore[assignment]  # a field named like Serializer.data
        component_name="InfoData",
        serializers=[InfoAdminDataSerializer, InfoErrorsSerializer],
        resource_type_field_name=None,
        required=False,
        help_text="Admins only (a staff session, or an SSO user in `ADMIN_UUIDS`).",
    )


INFO_OPERATION: dict[str, Any] = {
    "operation_id": "info_retrieve",
    "summary": "What is deployed",
    "description": "The environment, version and commit; admins (a staff session, or an SSO user in "
    "`ADMIN_UUIDS`) also get `data`: the Kafka topics and the schema-registry subjects, or `errors` "
    "when Kafka does not answer.",
    "tags": ["service"],
    "parameters": [retry_after(429)],
    "responses": {200: OpenApiResponse(response=InfoSerializer, description="The deployment."), 429: RATE_LIMITED},
}

# --- drf-spectacular hooks ----------------------------------------------------------------------


def endpoints_public_api(endpoints: list[tuple[Any, ...]], **kwargs: Any) -> list[tuple[Any, ...]]:
    """PREPROCESSING_HOOK: the API under /api/ only (not the schema registry, which has its own)."""
    return [endpoint for endpoint in endpoints if str(endpoint[0]).startswith("/api/")]


def version_set(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """POSTPROCESSING_HOOK: the document's version is the deployed project's (pyproject.toml),
    which settings cannot read (``VERSION`` is fixed when they load)."""
    result["info"]["version"] = app_version()
    return result
