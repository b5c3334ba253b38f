"""xAPI statements for the record tests: one that uses everything revision 2 of the record added,
one sent with its attachment's data, the multipart/mixed body that sends it, and the way a consumer
rebuilds a statement from a decoded record."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

EXTENSIONS_TEXT = "jsonExtensionKeys"


def rich_statement(statement_id: str) -> dict[str, Any]:
    """A completed xAPI statement (every objectType given, lists where xAPI allows one object) using
    what revision 1 of the record could not hold: a Group object and authority, an identified Group,
    extensions of every JSON type (null included) in every place, interaction components, grouping
    context activities, an attachment without a description."""
    extensions = {
        "https://openstax.org/x/string": "5",
        "https://openstax.org/x/number": 5,
        "https://openstax.org/x/decimal": 0.25,
        "https://openstax.org/x/boolean": False,
        "https://openstax.org/x/null": None,
        "https://openstax.org/x/object": {"nested": [1, "two", None], "ok": True},
        "https://openstax.org/x/array": ["a", 2],
    }
    interaction = {
        "objectType": "Activity",
        "id": "https://openstax.org/exercises/42",
        "definition": {
            "name": {"en-US": "Pick the prime"},
            "type": "http://adlnet.gov/expapi/activities/cmi.interaction",
            "interactionType": "choice",
            "correctResponsesPattern": ["two[,]three"],
            "choices": [
                {"id": "two", "description": {"en-US": "2"}},
                {"id": "three", "description": {"en-US": "3"}},
                {"id": "four"},
            ],
            "extensions": {**extensions},
        },
    }
    team = {
        "objectType": "Group",
        "name": "Study group 4",
        "account": {"homePage": "https://accounts.openstax.org", "name": "group-4"},
        "member": [{"objectType": "Agent", "mbox": "mailto:ada@example.edu"}],
    }
    context = {
        "registration": "ec531277-b57b-4c15-8d91-d292c5b2b8f7",
        "team": team,
        "contextActivities": {
            "parent": [{"objectType": "Activity", "id": "https://openstax.org/books/physics"}],
            "grouping": [{"objectType": "Activity", "id": "https://openstax.org/courses/7", **_definition(extensions)}],
            "category": [{"objectType": "Activity", "id": "https://openstax.org/profiles/tutor"}],
            "other": [{"objectType": "Activity", "id": "https://openstax.org/other"}],
        },
        "revision": "r2",
        "platform": "tutor",
        "language": "en-US",
        "extensions": {**extensions},
    }
    result = {
        "score": {"scaled": 0.5, "raw": 5, "min": 0, "max": 10},
        "success": True,
        "duration": "PT1M",
        "extensions": {**extensions},
    }
    sub_statement = {
        "objectType": "SubStatement",
        "actor": {"objectType": "Agent", "openid": "https://openid.example.org/grace"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/answered"},
        "object": interaction,
        "result": result,
        "context": context,
        "timestamp": "2024-03-12T15:04:05Z",
    }
    return {
        "id": statement_id,
        "actor": {"objectType": "Agent", "mbox_sha1sum": "cd9b00a5611f94eaa7b1661edab976068e364975"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/planned", "display": {"en-US": "planned"}},
        "object": sub_statement,
        "result": result,
        "context": {k: v for k, v in context.items() if k not in ("revision", "platform")},
        "timestamp": "2024-03-12T15:04:05.120Z",
        "stored": "2024-03-12T15:04:06.000Z",
        "authority": {
            "objectType": "Group",
            "member": [
                {"objectType": "Agent", "account": {"homePage": "https://openstax.org/oauth", "name": "tutor-app"}},
                {"objectType": "Agent", "mbox": "mailto:ada@example.edu"},
            ],
        },
        "version": "1.0.3",
        "attachments": [
            {
                "usageType": "http://adlnet.gov/expapi/attachments/signature",
                "display": {"en-US": "Signature"},
                "contentType": "application/octet-stream",
                "length": 27,
                "sha2": "495395e777cd98da653df9615d09c0fd6bb2f8d4788394cd53c56a3bfdcd848a",
                "fileUrl": "https://openstax.org/signatures/1",
            }
        ],
    }


def group_object_statement(statement_id: str) -> dict[str, Any]:
    """A completed statement whose object is an identified Group with members."""
    return {
        "id": statement_id,
        "actor": {"objectType": "Agent", "name": "Ada", "mbox": "mailto:ada@example.edu"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/joined"},
        "object": {
            "objectType": "Group",
            "name": "Study group 4",
            "mbox": "mailto:group4@example.edu",
            "member": [{"objectType": "Agent", "mbox": "mailto:grace@example.edu"}],
        },
        "timestamp": "2024-03-12T15:04:05.120Z",
        "stored": "2024-03-12T15:04:06.000Z",
        "version": "1.0.0",
    }


# Every byte value, line breaks and what looks like a boundary among them: the data must come back
# from each consumer exactly.
ATTACHMENT_DATA = bytes(range(256)) * 3 + b"\r\n--attachment\r\n\x00\xff"


def attached_statement(statement_id: str) -> dict[str, Any]:
    """A completed statement with an attachment sent with its data (``ATTACHMENT_DATA``, no fileUrl),
    and one by fileUrl; as its record rebuilds it: the data, base64, in ``content``."""
    return {
        "id": statement_id,
        "actor": {"objectType": "Agent", "mbox": "mailto:ada@example.edu"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/attached"},
        "object": {"objectType": "Activity", "id": "https://openstax.org/books/physics/pages/1-intro"},
        "timestamp": "2024-03-12T15:04:05.120Z",
        "version": "1.0.0",
        "attachments": [
            {
                "usageType": "https://openstax.org/attachments/essay",
                "display": {"en-US": "Essay"},
                "contentType": "application/octet-stream",
                "length": len(ATTACHMENT_DATA),
                "sha2": hashlib.sha384(ATTACHMENT_DATA).hexdigest(),
                "content": base64.b64encode(ATTACHMENT_DATA).decode(),
            },
            {
                "usageType": "https://openstax.org/attachments/essay",
                "display": {"en-US": "Essay, elsewhere"},
                "contentType": "text/plain",
                "length": 27,
                "sha2": "495395e777cd98da653df9615d09c0fd6bb2f8d4788394cd53c56a3bfdcd848a",
                "fileUrl": "https://openstax.org/attachments/2",
            },
        ],
    }


MULTIPART_BOUNDARY = "xapi-attachments-1f0e"


def multipart_body(statements: list[dict[str, Any]]) -> bytes:
    """The multipart/mixed body (``MULTIPART_BOUNDARY``) that sends ``statements`` (as a client
    writes them: no ``content``) with ``ATTACHMENT_DATA``."""
    sent = [
        {
            **statement,
            "attachments": [
                {key: value for key, value in attachment.items() if key != "content"}
                for attachment in statement.get("attachments", ())
            ],
        }
        for statement in statements
    ]
    delimiter = f"--{MULTIPART_BOUNDARY}\r\n".encode()
    return (
        delimiter
        + b"Content-Type: application/json\r\n\r\n"
        + json.dumps(sent).encode()
        + b"\r\n"
        + delimiter
        + b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n"
        + f"X-Experience-API-Hash: {hashlib.sha384(ATTACHMENT_DATA).hexdigest()}\r\n\r\n".encode()
        + ATTACHMENT_DATA
        + f"\r\n--{MULTIPART_BOUNDARY}--".encode()
    )


def _definition(extensions: dict[str, Any]) -> dict[str, Any]:
    return {"definition": {"name": {"en-US": "Physics, section 7"}, "extensions": {**extensions}}}


def statement_rebuilt(value: Any) -> Any:
    """The statement a decoded record (as fastavro or a consumer example gives it) holds: fields
    that are null dropped (xAPI has no nulls outside extensions), and every ``extensions`` map's
    values listed in its ``jsonExtensionKeys`` read back from their JSON text."""
    if isinstance(value, list):
        return [statement_rebuilt(item) for item in value]
    if not isinstance(value, dict):
        return value
    json_keys = set(value.get(EXTENSIONS_TEXT) or ())
    rebuilt = {}
    for key, item in value.items():
        if item is None or key == EXTENSIONS_TEXT:
            continue
        if key == "extensions":
            rebuilt[key] = {name: json.loads(text) if name in json_keys else text for name, text in item.items()}
        else:
            rebuilt[key] = statement_rebuilt(item)
    return rebuilt
