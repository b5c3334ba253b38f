"""Small builders for test payloads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings

# EVENTS.md's catalogue: every shipped major and its Kafka topic.
SHIPPED_TOPICS: dict[str, str] = {
    "org.openstax.ec.nudged_v1": "nudged",
    "org.openstax.ec.accessed_studyguide_v1": "accessed_studyguide",
    "org.openstax.ec.created_highlight_v1": "created_highlight",
    "org.openstax.ec.created_highlight_v2": "created_highlight_2",
    "org.openstax.ec.started_session_v1": "started_session",
    "org.openstax.ec.changed_state_v1": "changed_state",
    "org.openstax.ec.interacted_element_v1": "interacted_element",
    "org.adlnet.xapi.Statement": "xapi_statement",
}

NUDGED_EXAMPLE: dict[str, Any] = {
    "type": "org.openstax.ec.nudged_v1",
    "app": "tutor",
    "target": "study_guides",
    "context": "3c7a7a8c-1b4e-4d3a-9f7e-2f1c1d5e6a7b",
    "flavor": "full-screen-v2",
    "medium": "in-app",
    "client_clock_occurred_at": "2020-10-06T18:14:22Z",
    "client_clock_sent_at": "2020-10-06T18:14:22Z",
    "source_uri": "https://openstax.org/books/physics/pages/1-intro?book_id=34343",
    "session_uuid": "ed3cdd93-6688-4fcb-b5b3-da3e71052454",
    "session_order": 42,
}


def nudged(**overrides: Any) -> dict[str, Any]:
    data = {**NUDGED_EXAMPLE, **overrides}
    return {key: value for key, value in data.items() if value is not ...}


def batch(*datas: dict[str, Any]) -> dict[str, Any]:
    return {"events": [{"data": data} for data in datas]}


def nudged_record(**overrides: Any) -> dict[str, Any]:
    """A queued nudged_v1 record as the API builds it for the example (JSON-safe: UUIDs as text)."""
    return {
        "device_uuid": None,
        "user_uuid": None,
        "session_uuid": NUDGED_EXAMPLE["session_uuid"],
        "session_order": 42,
        "scheme": "https",
        "host": "openstax.org",
        "path": "/books/physics/pages/1-intro",
        "query": {"book_id": ["34343"]},
        "app": "tutor",
        "target": "study_guides",
        "context": NUDGED_EXAMPLE["context"],
        "flavor": "full-screen-v2",
        "medium": "in-app",
        "occurred_at": 1602008062000,
        **overrides,
    }


def registrar_create(username: str = "registrar", password: str = "s3cret-pass") -> Any:  # noqa: S107 (test users)
    """A staff user who may write to the schema-registry API: the permissions to add revisions
    and to change majors (a subject's level), and no more (not a superuser)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    user = get_user_model().objects.create_user(username, password=password, is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="registry", codename__in=["add_schemarevision", "change_eventmajor"]
        )
    )
    return user


COUNTED = "org.example.counted_v1"


def counted_type() -> None:
    """An active event type as a registrar may publish one, with an integer field of no bounds
    (``count``, an Avro ``long``): nudged_v1's schemas plus that field."""
    from registry.generator import avro_schema_generate
    from registry.models import EventType
    from registry.services import major_create

    folder = Path(settings.BASE_DIR) / "schemas/org/openstax/ec/nudged/v1"
    json_schema = json.loads((folder / "schema.json").read_text())
    json_schema["properties"]["type"] = {"const": COUNTED}
    json_schema["properties"]["count"] = {"type": "integer"}
    json_schema["required"] = [*json_schema["required"], "count"]
    section = json.loads((folder / "event.json").read_text())["avro"]
    section["fields"] = [*section["fields"], "count"]
    avro = avro_schema_generate(json_schema=json_schema, full_name=COUNTED, avro=section)
    event_type = EventType.objects.create(namespace="org.example", name="counted", topic="counted")
    major_create(
        event_type=event_type, major=1, full_name=COUNTED, json_schema=json_schema, avro_schema=avro, status="active"
    )
