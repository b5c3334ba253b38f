"""Fields the server sets stay the server's even under a revision published before the registry
refused JSON schemas that define them: through the HTTP API and the real queue (Redis)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from registry.models import SchemaRevision
from registry.selectors import registry_cache_clear
from tests.queues import queued_events

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("catalogue", "empty_queue")]

STARTED = "org.openstax.ec.started_session_v1"
EXAMPLE = json.loads(
    (Path(settings.BASE_DIR) / "schemas/org/openstax/ec/started_session/v1/example.json").read_text(encoding="utf-8")
)
FORGED_USER = "6b0c5f5e-2d1b-4b53-9a8f-1d2c3b4a5f60"


def legacy_revision_defining_server_fields() -> SchemaRevision:
    """Revision 2 of started_session_v1 whose JSON schema defines server fields, saved without
    the checks (as a database from before them may hold it)."""
    first = SchemaRevision.objects.get(major__full_name=STARTED, revision=1)
    json_schema = json.loads(json.dumps(first.json_schema))
    for name in ("ip_address", "user_agent", "user_uuid", "device_uuid", "host", "occurred_at"):
        json_schema["properties"][name] = {}
    revision = SchemaRevision.objects.create(
        major=first.major,
        revision=2,
        json_schema=json_schema,
        avro_schema=first.avro_schema,
        fingerprint=first.fingerprint,
        created_by="before the checks",
    )
    registry_cache_clear()
    return revision


def test_a_legacy_revision_defining_server_fields_does_not_let_clients_set_them():
    revision = legacy_revision_defining_server_fields()
    forged = {
        **EXAMPLE,
        "ip_address": "6.6.6.6",
        "user_agent": "forged",
        "user_uuid": FORGED_USER,
        "device_uuid": FORGED_USER,
        "host": "forged.example",
        "occurred_at": 1,
    }

    response = APIClient().post(
        "/api/v0/events", {"events": [{"data": forged}]}, format="json", HTTP_USER_AGENT="real agent"
    )

    assert response.status_code == 202, response.content
    [event] = queued_events()
    assert event.schema_id == revision.pk
    record = event.record
    assert (record["ip_address"], record["user_agent"]) == ("127.0.0.1", "real agent")
    assert (record["user_uuid"], record["device_uuid"]) == (None, None)
    assert record["host"] == "openstax.org"
    assert record["occurred_at"] != 1
