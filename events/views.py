from __future__ import annotations

from datetime import UTC, datetime

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from eventcapture.parsers import LimitedJSONParser, LimitedTextJSONParser
from events.identity import identity_from_request
from events.renderers import JsonAnswers, OrjsonRenderer
from events.services import AcceptedBatch, batch_parse, events_accept, statements_accept, statements_parse
from operations import openapi


def _accepted(batch: AcceptedBatch) -> Response:
    body = {"accepted": len(batch.ids), "ids": batch.ids, "warnings": batch.warnings}
    return Response(body, status=status.HTTP_202_ACCEPTED)


class EventsView(APIView):
    """``POST /api/v0/events``: a batch of events, accepted whole (202) or not at all."""

    parser_classes = [LimitedJSONParser, LimitedTextJSONParser]
    renderer_classes = [OrjsonRenderer]
    content_negotiation_class = JsonAnswers

    @extend_schema(**openapi.EVENTS_OPERATION)
    def post(self, request: Request) -> Response:
        # One receive time per request, taken before the body is read: every event shares it.
        received_at = datetime.now(UTC)
        batch = events_accept(
            events=batch_parse(request.data),
            identity=identity_from_request(request._request),
            received_at=received_at,
        )
        return _accepted(batch)


class XapiStatementsView(APIView):
    """``POST /api/v0/xapi/statements``: one xAPI Statement or an array, all or nothing."""

    schema = openapi.RequiredBodySchema()

    parser_classes = [LimitedJSONParser, LimitedTextJSONParser]
    renderer_classes = [OrjsonRenderer]
    content_negotiation_class = JsonAnswers

    @extend_schema(**openapi.XAPI_OPERATION)
    def post(self, request: Request) -> Response:
        return _accepted(statements_accept(statements=statements_parse(request.data)))
