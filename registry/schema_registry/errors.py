"""Errors of the schema-registry API, in Confluent's shape: ``{"error_code": N, "message": "..."}``.

Confluent clients read ``error_code`` (``SchemaRegistryError.error_code``) and the HTTP status, so
the codes are Confluent's own. ``exception_handler`` renders these and DRF's errors alike; it is
this API's DRF exception handler (the ingestion API keeps the project's one).
"""

from __future__ import annotations

import logging
import math
from typing import Any

from django.db import DatabaseError
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response

from eventcapture.exceptions import ApiError, clipped
from eventcapture.logins import lockout_notice

logger = logging.getLogger(__name__)

VALID_LEVELS_MESSAGE = (
    "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, "
    "forward_transitive, and full_transitive"
)


class RegistryApiError(Exception):
    status_code = 500
    error_code = 50001
    default_message = "Error in the backend data store"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class SubjectNotFound(RegistryApiError):
    status_code = 404
    error_code = 40401
    default_message = "Subject not found."


class VersionNotFound(RegistryApiError):
    status_code = 404
    error_code = 40402
    default_message = "Version not found."


class SchemaNotFound(RegistryApiError):
    status_code = 404
    error_code = 40403
    default_message = "Schema not found"


class IncompatibleSchema(RegistryApiError):
    status_code = 409
    error_code = 409
    default_message = "Schema being registered is incompatible with an earlier schema"


class InvalidSchema(RegistryApiError):
    status_code = 422
    error_code = 42201
    default_message = "Invalid schema"


class InvalidVersion(RegistryApiError):
    status_code = 422
    error_code = 42202
    default_message = (
        "The specified version is not a valid version id. "
        'Allowed values are between [1, 2^31-1] and the string "latest"'
    )


class ReadOnlySubject(RegistryApiError):
    """Confluent's "operation not permitted", as for a subject in READONLY mode."""

    status_code = 422
    error_code = 42205
    default_message = "Operation not permitted"


class InvalidCompatibilityLevel(RegistryApiError):
    status_code = 422
    error_code = 42203
    default_message = VALID_LEVELS_MESSAGE


class UnknownEndpoint(RegistryApiError):
    status_code = 404
    error_code = 404
    default_message = "HTTP 404 Not Found"


class DeleteNotSupported(RegistryApiError):
    status_code = 405
    error_code = 40501
    default_message = "Published revisions are immutable; retire a major in the admin instead"


def _body(status: int, error_code: int, message: str, headers: dict[str, str] | None = None) -> Response:
    # A message may quote what the client sent (a subject, a schema): never a large answer.
    return Response({"error_code": error_code, "message": clipped(message, 1000)}, status=status, headers=headers)


def _drf_error(exc: drf_exceptions.APIException) -> Response:
    message = str(exc.detail) if isinstance(exc.detail, str) else str(exc.default_detail)
    if isinstance(exc, drf_exceptions.NotAuthenticated | drf_exceptions.AuthenticationFailed):
        auth_header = getattr(exc, "auth_header", None)
        headers = {"WWW-Authenticate": auth_header} if auth_header else None
        return _body(exc.status_code, 40101 if exc.status_code == 401 else 40301, message, headers)
    if isinstance(exc, drf_exceptions.PermissionDenied):
        return _body(403, 40301, message)
    if isinstance(exc, drf_exceptions.NotFound):
        return _body(404, 404, "HTTP 404 Not Found")
    if isinstance(exc, drf_exceptions.MethodNotAllowed):
        # Confluent's own answer to a method a resource lacks (with the Allow header DRF adds).
        return _body(405, 405, "HTTP 405 Method Not Allowed")
    if isinstance(exc, drf_exceptions.Throttled):
        wait = str(math.ceil(getattr(exc, "wait", None) or 1))
        return _body(
            429, 42901, f"Too many requests from this address; try again in {wait} seconds.", {"Retry-After": wait}
        )
    # Malformed JSON (400), a content type other than JSON (415), a method the resource lacks
    # (405): Confluent answers these with the HTTP status as the error code.
    return _body(exc.status_code, exc.status_code, message)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    if getattr(context.get("request"), "axes_locked_out", False):
        # django-axes refused a Basic login: too many failures from this address or for this user.
        wait, message = lockout_notice()
        return _body(429, 42901, message, {"Retry-After": wait})
    if isinstance(exc, RegistryApiError):
        return _body(exc.status_code, exc.error_code, exc.message)
    if isinstance(exc, ApiError):
        # The body parsers' refusals (malformed or too deep 400, too large 413, an encoding other
        # than gzip 415): the HTTP status as the error code, as Confluent answers such requests.
        return _body(exc.status_code, exc.status_code, exc.message)
    if isinstance(exc, Http404):
        return _body(404, 404, "HTTP 404 Not Found")
    if isinstance(exc, drf_exceptions.APIException):
        return _drf_error(exc)
    if isinstance(exc, DatabaseError):
        logger.exception("schema registry: database error")
        return _body(500, 50001, RegistryApiError.default_message)
    logger.exception("schema registry: unexpected error")
    return _body(500, 500, "Internal Server Error")
