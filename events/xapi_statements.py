"""xAPI statements, whichever way they arrive (the LRS mode of events/xapi.py, or the service's own
contract of events/services.py): completing what xAPI 1.0.3 lets clients leave out, the rules of
xAPI that JSON Schema cannot say, and the Kafka record of a statement.

The registry's JSON schema (``schemas/org/adlnet/xapi/Statement/v1/schema.json``) checks everything
a statement's own values decide; ``statement_rule_problems`` checks what depends on several of them
(an Agent's one identifier, ``raw`` within ``min`` and ``max``, ``context.revision`` only with an
Activity object, ...), and runs on statements the schema accepted, so it can rely on their shapes.

The record (``statement_record``) is the completed statement with every ``extensions`` object made
an Avro ``map<string>``: a string value as itself, any other JSON value (number, boolean, null,
object, array) as its compact JSON text, the keys of those listed, sorted, in a sibling
``jsonExtensionKeys`` (null when every value is a string), so ``"5"`` and ``5`` stay apart and the
statement can be rebuilt exactly from the record; and each attachment whose data the request
carried (multipart/mixed) with that data, base64, in its ``content``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from eventcapture.exceptions import ErrorDetail
from events.xapi_attachments import SIGNATURE_CONTENT_TYPE, SIGNATURE_USAGE, attachments_of, is_signature, media_type

# The version a statement without one is stored with (xAPI 1.0.3, Data 2.4.10).
DEFAULT_STATEMENT_VERSION = "1.0.0"
CONTEXT_ACTIVITY_KINDS = ("parent", "grouping", "category", "other")
VOIDED = "http://adlnet.gov/expapi/verbs/voided"
_IFIS = ("mbox", "mbox_sha1sum", "openid", "account")
_IFI_NAMES = "mbox, mbox_sha1sum, openid, account"
_INTERACTION_LISTS = ("choices", "scale", "source", "target", "steps")
_INTERACTION_PROPERTIES = ("correctResponsesPattern", *_INTERACTION_LISTS)
JSON_EXTENSION_KEYS = "jsonExtensionKeys"


def timestamp_text(moment: datetime) -> str:
    """``moment`` as a statement's ``stored`` is written: UTC, milliseconds, ``Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- completion ---------------------------------------------------------------------------------


def _actor(actor: Any, *, default: str | None = "Agent") -> Any:
    """An Agent or Group with its ``objectType`` (``default`` when absent), its members Agents."""
    if not isinstance(actor, dict):
        return actor
    completed = {**actor}
    # An actor with members is a Group, and xAPI has a Group say so itself: it is not made an Agent
    # that would lose them.
    if default is not None and "member" not in completed:
        completed.setdefault("objectType", default)
    members = completed.get("member")
    if completed.get("objectType") == "Group" and isinstance(members, list):
        completed["member"] = [_actor(member) for member in members]
    return completed


def _activity(activity: Any) -> Any:
    if isinstance(activity, dict) and "objectType" not in activity:
        return {**activity, "objectType": "Activity"}
    return activity


def _object(target: Any) -> Any:
    """A statement's or sub-statement's object: an Activity when it names no ``objectType``."""
    if not isinstance(target, dict):
        return target
    completed = _activity(target)
    kind = completed["objectType"]
    if kind in ("Agent", "Group"):
        return _actor(completed)
    if kind == "SubStatement":
        return _statement_body(completed)
    return completed


def _context(context: Any) -> Any:
    if not isinstance(context, dict):
        return context
    completed = {**context}
    if "instructor" in completed:
        completed["instructor"] = _actor(completed["instructor"])
    if "team" in completed:
        # A team is a Group: it must say so itself, its members need not.
        completed["team"] = _actor(completed["team"], default=None)
    activities = completed.get("contextActivities")
    if isinstance(activities, dict):
        listed = {**activities}
        for kind in CONTEXT_ACTIVITY_KINDS:
            value = listed.get(kind)
            if isinstance(value, dict):
                # xAPI 1.0.3 allows one Activity where a list is expected; an LRS stores the list.
                value = [value]
            if isinstance(value, list):
                listed[kind] = [_activity(activity) for activity in value]
        completed["contextActivities"] = listed
    return completed


def _statement_body(statement: dict[str, Any]) -> dict[str, Any]:
    """What a statement and a sub-statement share: actor, object, context."""
    completed = {**statement}
    if "actor" in completed:
        completed["actor"] = _actor(completed["actor"])
    if "object" in completed:
        completed["object"] = _object(completed["object"])
    if "context" in completed:
        completed["context"] = _context(completed["context"])
    return completed


def statement_complete(statement: Any, *, statement_id: str, stored: str) -> Any:
    """``statement`` as an LRS stores it: ``statement_id`` when it has no ``id``, the objectType
    defaults, a lone context activity made a list, ``stored`` set (what a client sent there is
    replaced: xAPI has the LRS set it), ``timestamp`` (``stored``) and ``version`` (1.0.0) when
    absent. What is not an object is left for validation to refuse."""
    if not isinstance(statement, dict):
        return statement
    completed = _statement_body(statement)
    completed.setdefault("id", statement_id)
    if "authority" in completed:
        completed["authority"] = _actor(completed["authority"])
    completed["stored"] = stored
    completed.setdefault("timestamp", stored)
    completed.setdefault("version", DEFAULT_STATEMENT_VERSION)
    return completed


# --- the rules JSON Schema cannot say -----------------------------------------------------------

# (path below the statement, code, message). The checks run on every valid statement, so they
# append to one list and build a path or message only for a problem. They rely on the shapes the
# schema's revision 2 guarantees, and skip what is of another shape (what revision 1 still active
# lets through) rather than fail on it.
_Problems = list[tuple[str, str, str]]
_INTERACTION_SET = frozenset(_INTERACTION_PROPERTIES)


def _agent_check(agent: Any, path: str, out: _Problems) -> None:
    if not isinstance(agent, dict):
        return
    ifis = ("mbox" in agent) + ("mbox_sha1sum" in agent) + ("openid" in agent) + ("account" in agent)
    if ifis == 1:
        return
    if not ifis:
        out.append((path, "required", f"{path}: an Agent needs one of {_IFI_NAMES}"))
    else:
        used = ", ".join(name for name in _IFIS if name in agent)
        out.append((path, "invalid_value", f"{path}: an Agent uses exactly one of {_IFI_NAMES}; it has {used}"))


def _group_check(group: Any, path: str, out: _Problems) -> None:
    if not isinstance(group, dict):
        return
    ifis = ("mbox" in group) + ("mbox_sha1sum" in group) + ("openid" in group) + ("account" in group)
    if ifis > 1:
        used = ", ".join(name for name in _IFIS if name in group)
        out.append((path, "invalid_value", f"{path}: a Group uses at most one of {_IFI_NAMES}; it has {used}"))
    members = group.get("member", [])
    if not isinstance(members, list):
        return
    if not ifis and not members:
        out.append((f"{path}.member", "required", f"{path}: an anonymous Group (none of {_IFI_NAMES}) needs a member"))
    for index, member in enumerate(members):
        _agent_check(member, f"{path}.member.{index}", out)


def _actor_check(actor: Any, path: str, out: _Problems) -> None:
    if not isinstance(actor, dict):
        return
    if actor.get("objectType") == "Agent":
        _agent_check(actor, path, out)
    else:
        _group_check(actor, path, out)


def _activity_check(activity: Any, path: str, out: _Problems) -> None:
    definition = activity.get("definition") if isinstance(activity, dict) else None
    if not isinstance(definition, dict) or _INTERACTION_SET.isdisjoint(definition):
        return
    if "interactionType" not in definition:
        used = ", ".join(name for name in _INTERACTION_PROPERTIES if name in definition)
        where = f"{path}.definition"
        out.append((f"{where}.interactionType", "required", f"{where}: interactionType is required with {used}"))
    for name in _INTERACTION_LISTS:
        components = definition.get(name)
        if not isinstance(components, list) or not all(
            isinstance(component, dict) and isinstance(component.get("id"), str) for component in components
        ):
            continue
        if len({component["id"] for component in components}) == len(components):
            continue
        seen: set[str] = set()
        for index, component in enumerate(components):
            if component["id"] in seen:
                where = f"{path}.definition.{name}.{index}.id"
                out.append((where, "invalid_value", f"{where}: {component['id']!r} is used twice in {name}"))
            seen.add(component["id"])


def _score_check(score: Any, path: str, out: _Problems) -> None:
    if not isinstance(score, dict):
        return
    low, high, raw = (value if type(value) in (int, float) else None for value in map(score.get, ("min", "max", "raw")))
    if low is not None and high is not None and not low < high:
        out.append((f"{path}.min", "invalid_value", f"{path}: min ({low}) must be less than max ({high})"))
    if raw is not None and low is not None and raw < low:
        out.append((f"{path}.raw", "invalid_value", f"{path}: raw ({raw}) is less than min ({low})"))
    if raw is not None and high is not None and raw > high:
        out.append((f"{path}.raw", "invalid_value", f"{path}: raw ({raw}) is greater than max ({high})"))


def _context_check(context: Any, kind: str, path: str, out: _Problems) -> None:
    if not isinstance(context, dict):
        return
    for name in ("revision", "platform"):
        if name in context and kind != "Activity":
            message = f"{path}: {name} is only allowed when the object is an Activity (it is a {kind})"
            out.append((f"{path}.{name}", "invalid_value", message))
    if "instructor" in context:
        _actor_check(context["instructor"], f"{path}.instructor", out)
    if "team" in context:
        _group_check(context["team"], f"{path}.team", out)
    listed = context.get("contextActivities")
    for kind_name, activities in listed.items() if isinstance(listed, dict) else ():
        for index, activity in enumerate(activities if isinstance(activities, list) else ()):
            _activity_check(activity, f"{path}.contextActivities.{kind_name}.{index}", out)


def _body_check(statement: Mapping[str, Any], path: str, out: _Problems) -> None:
    """What a statement and a sub-statement share: actor, object, result, context."""
    _actor_check(statement["actor"], f"{path}.actor", out)
    target = statement["object"]
    kind = target.get("objectType")
    if kind == "Activity":
        _activity_check(target, f"{path}.object", out)
    elif kind == "SubStatement":
        _body_check(target, f"{path}.object", out)
    elif kind != "StatementRef":
        _actor_check(target, f"{path}.object", out)
    result = statement.get("result")
    if isinstance(result, dict) and "score" in result:
        _score_check(result["score"], f"{path}.result.score", out)
    context = statement.get("context")
    if context is not None:
        _context_check(context, kind, f"{path}.context", out)


def _attachments_check(statement: Mapping[str, Any], data_hashes: Collection[str], out: _Problems) -> None:
    for where, attachment, sha2 in attachments_of(statement):
        path = f"statement.{where}"
        # xAPI has the data of an attachment without fileUrl in the request (Communication 1.5.2.s3.b5):
        # a JSON request cannot carry it.
        if "fileUrl" not in attachment and sha2 not in data_hashes:
            out.append(
                (
                    f"{path}.fileUrl",
                    "required",
                    f"{path}: an attachment without fileUrl must come with its data (a part of a multipart/mixed "
                    "request, xAPI's LRS mode, whose X-Experience-API-Hash is its sha2)",
                )
            )
        # A statement's signature (Data 2.6.s4.b1): its sub-statement's attachments sign nothing.
        is_own = where.startswith("attachments.")
        content_type = attachment.get("contentType")
        if is_own and is_signature(attachment) and media_type(str(content_type)) != SIGNATURE_CONTENT_TYPE:
            out.append(
                (
                    f"{path}.contentType",
                    "invalid_value",
                    f"{path}: a signature (usageType {SIGNATURE_USAGE}) has the contentType {SIGNATURE_CONTENT_TYPE}",
                )
            )


def statement_rule_problems(
    *, index: int, statement: Mapping[str, Any], event_type: str, data_hashes: Collection[str] = frozenset()
) -> list[ErrorDetail]:
    """What xAPI 1.0.3 asks of a schema-valid (completed) statement that JSON Schema cannot say.
    ``data_hashes``: the SHA-2 (lower case) of the attachments' data the request carries."""
    problems: _Problems = []
    _body_check(statement, "statement", problems)
    _attachments_check(statement, data_hashes, problems)
    if statement["verb"]["id"] == VOIDED and statement["object"]["objectType"] != "StatementRef":
        problems.append(
            ("statement.object.objectType", "invalid_value", "object: a voiding statement's object is a StatementRef")
        )
    authority = statement.get("authority")
    if isinstance(authority, dict):
        if authority.get("objectType") == "Agent":
            _agent_check(authority, "statement.authority", problems)
        else:
            for position, member in enumerate(authority.get("member") or ()):
                _agent_check(member, f"statement.authority.member.{position}", problems)
    return [
        ErrorDetail(code, message.removeprefix("statement."), index, path, event_type)
        for path, code, message in problems
    ]


# --- the Kafka record ---------------------------------------------------------------------------


def _extensions_text(node: Any) -> Any:
    """``node`` with its ``extensions`` as Avro's ``map<string>`` and their ``jsonExtensionKeys``."""
    values = node.get("extensions") if isinstance(node, dict) else None
    if not isinstance(values, dict) or all(type(value) is str for value in values.values()):
        return node
    return {
        **node,
        "extensions": {
            key: value if type(value) is str else orjson.dumps(value).decode() for key, value in values.items()
        },
        JSON_EXTENSION_KEYS: sorted(key for key, value in values.items() if type(value) is not str),
    }


# Like the rules, the record leaves what is of another shape than revision 2 allows as it is.
def _activity_record(activity: Any) -> Any:
    if not isinstance(activity, dict) or "definition" not in activity:
        return activity
    return {**activity, "definition": _extensions_text(activity["definition"])}


def _context_record(context: Any) -> Any:
    record = _extensions_text(context)
    activities = context.get("contextActivities") if isinstance(context, dict) else None
    if isinstance(activities, dict):
        record = {
            **record,
            "contextActivities": {
                kind: [_activity_record(activity) for activity in listed] if isinstance(listed, list) else listed
                for kind, listed in activities.items()
            },
        }
    return record


def _with_content(attachment: Any, contents: Mapping[str, str]) -> Any:
    sha2 = attachment.get("sha2") if isinstance(attachment, dict) else None
    content = contents.get(sha2.lower()) if isinstance(sha2, str) else None
    return attachment if content is None else {**attachment, "content": content}


def _attachments_record(attachments: Any, contents: Mapping[str, str]) -> Any:
    if not contents or not isinstance(attachments, list):
        return attachments
    return [_with_content(attachment, contents) for attachment in attachments]


def _body_record(statement: Mapping[str, Any], contents: Mapping[str, str]) -> dict[str, Any]:
    record = dict(statement)
    target: Any = statement.get("object")
    kind = target.get("objectType") if isinstance(target, dict) else None
    if kind == "Activity":
        record["object"] = _activity_record(target)
    elif kind == "SubStatement":
        record["object"] = _body_record(target, contents)
    if "attachments" in statement:
        record["attachments"] = _attachments_record(statement["attachments"], contents)
    if "result" in statement:
        record["result"] = _extensions_text(statement["result"])
    if "context" in statement:
        record["context"] = _context_record(statement["context"])
    return record


def statement_record(statement: Mapping[str, Any], *, contents: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The Kafka record (``org.adlnet.xapi.Statement``, JSON-safe) of a valid, completed
    statement: the statement itself, its extensions as text and key lists wherever they occur (the
    object's definition, the context activities', a sub-statement's, the result's, the context's),
    and the data the request carried of each attachment (``contents``: base64 text by SHA-2, lower
    case) in the attachment's ``content`` (absent, so null, for an attachment sent by fileUrl only)."""
    return _body_record(statement, contents or {})
