from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.parsers import BaseParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from eventcapture.exceptions import ErrorDetail, MethodNotAllowed, UnsupportedMediaType, XapiMediaTypeUnsupported
from eventcapture.parsers import LimitedJSONParser, LimitedMultipartParser, LimitedTextJSONParser
from events import openapi
from events.identity import identity_from_request
from events.renderers import JsonAnswers, OrjsonRenderer
from events.services import AcceptedBatch, batch_parse, events_accept, statements_accept, statements_parse
from events.xapi import (
    VERSION_HEADER,
    XAPI_VERSION,
    lrs_statement_put,
    lrs_statements_post,
    statements_sent,
    xapi_version_check,
)


def _accepted(batch: AcceptedBatch) -> HttpResponse:
    # The body written at once, as OrjsonRenderer would write it: the busiest answer skips DRF's
    # rendering (a template response rendered after the view), some 2 % of a request's CPU.
    body = {"accepted": len(batch.ids), "ids": batch.ids, "warnings": batch.warnings}
    return HttpResponse(orjson.dumps(body), status=status.HTTP_202_ACCEPTED, content_type="application/json")


def _body_bytes(request: Request) -> int | None:
    """The size of the request's body once read (decompressed), set by the parser; None: unknown."""
    size = getattr(request, "body_bytes", None)
    return size if isinstance(size, int) else None


class _FreedWhenAnswered(APIView):
    """Breaks, once the view has answered, the cycle DRF makes between a view and its request
    (``request.parser_context["view"]``, the view's ``request`` and ``response``). Left in place, it
    keeps the request's parsed body (every event) alive until a garbage collector pass finds it,
    and every pass in between walks it: about 100 objects a 50-event request, and some 6 % of its
    CPU. Freed at once, by reference counting. The response keeps what it renders with."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            return super().dispatch(request, *args, **kwargs)
        finally:
            drf_request = getattr(self, "request", None)
            if isinstance(drf_request, Request):
                drf_request.parser_context = {}
            self.request = self.response = None  # type: ignore[assignment]


class EventsView(_FreedWhenAnswered):
    """``POST /api/v0/events``: a batch of events, accepted whole (202) or not at all."""

    parser_classes = [LimitedJSONParser, LimitedTextJSONParser]
    renderer_classes = [OrjsonRenderer]
    content_negotiation_class = JsonAnswers

    @extend_schema(**openapi.EVENTS_OPERATION)
    def post(self, request: Request) -> HttpResponse:
        # One receive time per request, taken before the body is read: every event shares it.
        received_at = datetime.now(UTC)
        events = batch_parse(request.data)
        batch = events_accept(
            events=events,
            identity=identity_from_request(request._request),
            received_at=received_at,
            body_bytes=_body_bytes(request),
        )
        return _accepted(batch)


class XapiStatementsView(_FreedWhenAnswered):
    """``/api/v0/xapi/statements``. Without ``X-Experience-API-Version``: the service's own
    contract (POST one statement or an array, 202, 422 for an invalid one). With it, as an xAPI
    1.0.3 LRS: POST answers 200 with the statements' ids, PUT stores one statement under
    ``statementId`` (204), an invalid statement is 400, and every answer carries the version header.
    Statements are completed and validated alike either way; all or nothing, and only once durably
    queued."""

    schema = openapi.RequiredBodySchema()

    parser_classes = [LimitedJSONParser, LimitedTextJSONParser]
    renderer_classes = [OrjsonRenderer]
    content_negotiation_class = JsonAnswers

    def get_parsers(self) -> list[BaseParser]:
        # multipart/mixed (attachments' data, signed statements) is xAPI's: read only for a request
        # with the version header; without it, DRF answers 415 as for any other type. (DRF asks
        # before it wraps the request: ``self.request`` is Django's, or absent for the schema.)
        parsers = super().get_parsers()
        request = getattr(self, "request", None)
        if request is not None and VERSION_HEADER in request.headers:
            parsers.append(LimitedMultipartParser())
        return parsers

    def _lrs_mode(self, request: Request) -> bool:
        header = request.headers.get(VERSION_HEADER)
        if header is None:
            return False
        xapi_version_check(header=header)
        return True

    @extend_schema(**openapi.XAPI_OPERATION)
    def post(self, request: Request) -> HttpResponse:
        received_at = datetime.now(UTC)
        sent = statements_sent(
            request.data,
            content_type=request.content_type,
            lrs=VERSION_HEADER in request.headers,
            max_depth=settings.MAX_JSON_DEPTH,
        )
        statements = statements_parse(sent.statements)
        if not self._lrs_mode(request):
            return _accepted(
                statements_accept(statements=statements, received_at=received_at, body_bytes=_body_bytes(request))
            )
        ids = lrs_statements_post(
            statements=statements,
            parameters=request.query_params,
            received_at=received_at,
            body_bytes=_body_bytes(request),
            attachments=sent.attachments,
        )
        return Response(ids, status=status.HTTP_200_OK)

    # The xAPI specification's, not the service's own contract: not in the OpenAPI document.
    @extend_schema(exclude=True)
    def put(self, request: Request) -> Response:
        received_at = datetime.now(UTC)
        if not self._lrs_mode(request):
            raise MethodNotAllowed(f"PUT is xAPI's: send the {VERSION_HEADER} header ({XAPI_VERSION})")
        sent = statements_sent(
            request.data,
            content_type=request.content_type,
            lrs=VERSION_HEADER in request.headers,
            max_depth=settings.MAX_JSON_DEPTH,
        )
        lrs_statement_put(
            statement=sent.statements,
            statement_id=request.query_params.get("statementId"),
            parameters=request.query_params,
            received_at=received_at,
            body_bytes=_body_bytes(request),
            attachments=sent.attachments,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    def handle_exception(self, exc: Exception) -> Response:
        # xAPI names no 415 (an LRS rejects only with the statuses it names): with the header, a
        # body in a form this service does not read is a 400.
        unreadable = isinstance(exc, (drf_exceptions.UnsupportedMediaType, UnsupportedMediaType))
        if unreadable and VERSION_HEADER in self.request.headers:
            exc = XapiMediaTypeUnsupported(
                details=[ErrorDetail("unsupported_media_type", f"{exc} {XapiMediaTypeUnsupported.default_message}")]
            )
        return super().handle_exception(exc)

    def finalize_response(self, request: Request, response: Response, *args: object, **kwargs: object) -> Response:
        # xAPI: an LRS names its version on every answer, errors included, to any xAPI client.
        if VERSION_HEADER in request.headers:
            response[VERSION_HEADER] = XAPI_VERSION
        return super().finalize_response(request, response, *args, **kwargs)
