"""The one exception hierarchy of the HTTP API and the DRF handler that renders every error.

Each error class has an HTTP status and a stable ``code``. Every error body has the shape of
API.md: ``{"status_code", "messages", "errors": [{"index", "path", "code", "message"}]}``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response

from eventcapture import metrics

# Characters of a message or path an answer carries at most: they may quote what the client sent,
# and a refusal must stay small whatever that was.
MAX_MESSAGE_CHARS = 300


def clipped(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text``, cut to ``limit`` characters (the cut marked with an ellipsis and the length)."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


@dataclass(frozen=True)
class ErrorDetail:
    code: str
    message: str
    index: int | None = None
    path: str | None = None
    # The registry type of the event the error is about, when known: a metrics label, not in bodies.
    event_type: str | None = None

    def as_message(self) -> str:
        message = clipped(self.message)
        return message if self.index is None else f"Event [{self.index}]: {message}"

    def as_dict(self) -> dict[str, Any]:
        path = None if self.path is None else clipped(self.path)
        return {"index": self.index, "path": path, "code": self.code, "message": clipped(self.message)}


class ApiError(Exception):
    status_code = 500
    code = "internal_error"
    default_message = "Internal error"

    def __init__(
        self,
        message: str | None = None,
        *,
        details: Sequence[ErrorDetail] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.details = list(details) if details else [ErrorDetail(self.code, self.message)]
        self.headers = headers or {}
        super().__init__(self.message)


class MalformedJson(ApiError):
    status_code = 400
    code = "malformed_json"
    default_message = "The request body is not valid JSON"


class MalformedRequest(ApiError):
    status_code = 400
    code = "malformed_request"
    default_message = "The request body does not have the expected shape"


class XapiVersionUnsupported(ApiError):
    """An ``X-Experience-API-Version`` header naming a version other than 1.0.x."""

    status_code = 400
    code = "unsupported_xapi_version"
    default_message = "This LRS speaks xAPI 1.0.x only (X-Experience-API-Version: 1.0.3)"


class NotFound(ApiError):
    status_code = 404
    code = "not_found"
    default_message = "Not found"


class MethodNotAllowed(ApiError):
    status_code = 405
    code = "method_not_allowed"
    default_message = "Method not allowed"


class StatementIdConflict(ApiError):
    """An xAPI PUT whose statement carries an ``id`` other than its ``statementId`` parameter."""

    status_code = 409
    code = "statement_id_conflict"
    default_message = "The statement's id differs from the statementId parameter"


class PayloadTooLarge(ApiError):
    status_code = 413
    code = "payload_too_large"
    default_message = "The request body is too large"


class UnsupportedMediaType(ApiError):
    status_code = 415
    code = "unsupported_media_type"
    default_message = "Unsupported media type"


class XapiMediaTypeUnsupported(ApiError):
    """A body an xAPI request sends in a form this LRS does not read (a content type other than
    application/json and multipart/mixed, an encoding other than gzip): xAPI names no 415, an LRS
    refuses with 400."""

    status_code = 400
    code = "unsupported_media_type"
    default_message = (
        "This LRS reads statements as application/json, or as multipart/mixed with their attachments' data "
        "(xAPI 1.0.3, Communication 1.5): other content types or encodings are not supported"
    )


class EventsInvalid(ApiError):
    """One or more events of a batch failed validation; ``details`` lists every problem."""

    status_code = 422
    code = "invalid_events"
    default_message = "One or more events are invalid"


class StatementsInvalid(EventsInvalid):
    """xAPI statements of a request carrying ``X-Experience-API-Version`` that break xAPI 1.0.3: an
    LRS answers them 400 Bad Request (``details`` as for ``EventsInvalid``)."""

    status_code = 400


class RateLimited(ApiError):
    status_code = 429
    code = "rate_limited"
    default_message = "Too many requests"


class QueueUnavailable(ApiError):
    status_code = 503
    code = "queue_unavailable"
    default_message = "Events could not be queued for delivery; nothing was accepted, retry later"


# Errors one answer lists at most; the rest are counted in one more entry (code "more_errors").
MAX_ERRORS_LISTED = 100
MORE_ERRORS = "more_errors"


def rejection_codes() -> list[str]:
    """The codes the API's errors are known to carry: every ``ApiError`` class's (loaded so far),
    and ``more_errors``. Each event's own problems add codes of their own (``invalid_format``,
    ``event_too_large``, ...); these are the ones exported at zero from a web process's start."""
    codes = {ApiError.code, MORE_ERRORS}
    pending: list[type[ApiError]] = [ApiError]
    while pending:
        for subclass in pending.pop().__subclasses__():
            codes.add(subclass.code)
            pending.append(subclass)
    return sorted(codes)


def error_response(error: ApiError) -> Response:
    listed = error.details[:MAX_ERRORS_LISTED]
    if len(error.details) > MAX_ERRORS_LISTED:
        rest = len(error.details) - MAX_ERRORS_LISTED
        listed.append(ErrorDetail(MORE_ERRORS, f"{rest} more errors are not listed"))
    body = {
        "status_code": error.status_code,
        "messages": [detail.as_message() for detail in listed],
        "errors": [detail.as_dict() for detail in listed],
    }
    return Response(body, status=error.status_code, headers=error.headers)


def _from_drf(exc: drf_exceptions.APIException) -> ApiError:
    text = str(exc.detail) if isinstance(exc.detail, str) else None
    mapping: dict[type[drf_exceptions.APIException], type[ApiError]] = {
        drf_exceptions.ParseError: MalformedJson,
        drf_exceptions.UnsupportedMediaType: UnsupportedMediaType,
        drf_exceptions.NotFound: NotFound,
        drf_exceptions.MethodNotAllowed: MethodNotAllowed,
        drf_exceptions.Throttled: RateLimited,
    }
    for drf_class, api_class in mapping.items():
        if isinstance(exc, drf_class):
            error = api_class(text)
            break
    else:
        error = ApiError(text or "Request failed")
        error.status_code = exc.status_code
        error.code = str(exc.default_code)
        error.details = [ErrorDetail(error.code, error.message)]
    wait = getattr(exc, "wait", None)
    if wait is not None:
        # Throttled.wait is already rounded up to whole seconds, as its message says them.
        error.headers["Retry-After"] = str(math.ceil(wait))
    return error


def _api_error(exc: Exception) -> ApiError | None:
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, Http404):
        return NotFound()
    if isinstance(exc, drf_exceptions.APIException):
        return _from_drf(exc)
    return None


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's ``EXCEPTION_HANDLER``: every error, ours and DRF's, in the shape of API.md; each entry
    of it, listed in the body or not, is counted in ``eventcapture_events_rejected_total``."""
    error = _api_error(exc)
    if error is None:
        return None
    for (code, event_type), count in Counter((d.code, d.event_type) for d in error.details).items():
        metrics.events_rejected(code=code, event_type=event_type, count=count)
    return error_response(error)
