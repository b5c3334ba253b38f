"""The Confluent-compatible schema-registry API (the read endpoints consumers need)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse

from registry.selectors import schema_revision_get, subject_list

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


def _response(body: Any, status: int = 200) -> JsonResponse:
    return JsonResponse(body, status=status, content_type=CONTENT_TYPE, safe=False)


def _error(status: int, error_code: int, message: str) -> JsonResponse:
    return _response({"error_code": error_code, "message": message}, status=status)


def subjects(request: HttpRequest) -> JsonResponse:
    return _response(subject_list())


def schema_by_id(request: HttpRequest, schema_id: int) -> JsonResponse:
    revision = schema_revision_get(schema_id=schema_id)
    if revision is None:
        return _error(404, 40403, f"Schema {schema_id} not found")
    return _response({"schema": revision.avro_schema})
