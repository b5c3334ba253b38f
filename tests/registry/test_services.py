"""Registry writes: revisions, majors, statuses, and the catalogue folder round trip."""

from __future__ import annotations

import json
import shutil
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from registry.models import EventMajor, SchemaRevision
from registry.selectors import event_version_get
from registry.services import (
    RegistryError,
    SchemaRejected,
    major_start_next,
    major_status_set,
    revision_create,
)

pytestmark = pytest.mark.usefixtures("catalogue")
NUDGED = "org.openstax.ec.nudged_v1"
CATALOGUE = Path(settings.BASE_DIR) / "schemas"


def nudged() -> EventMajor:
    return EventMajor.objects.get(full_name=NUDGED)


def latest_avro(major: EventMajor) -> dict[str, Any]:
    return major.revisions.order_by("-revision")[0].avro_schema_dict


def with_field(avro: dict[str, Any], field: dict[str, Any]) -> dict[str, Any]:
    return {**avro, "fields": [*avro["fields"], field]}


def test_registering_the_same_schema_again_returns_the_same_revision():
    major = nudged()
    first = major.revisions.get()
    result = revision_create(major=major, avro_schema=json.dumps(latest_avro(major), indent=4), created_by="t")
    assert (result.created, result.revision.pk) == (False, first.pk)


def test_a_compatible_change_becomes_revision_2_with_a_new_schema_id_and_the_json_schema_kept():
    major = nudged()
    first = major.revisions.get()
    optional = {"name": "note", "type": ["null", "string"], "default": None}
    result = revision_create(major=major, avro_schema=with_field(latest_avro(major), optional), created_by="ana")
    assert result.created
    assert result.revision.revision == 2
    assert result.revision.pk != first.pk
    assert result.revision.json_schema == first.json_schema
    assert result.revision.created_by == "ana"


def test_an_incompatible_change_is_refused_with_the_field_named_and_nothing_saved():
    major = nudged()
    with pytest.raises(SchemaRejected) as refused:
        revision_create(major=major, avro_schema=with_field(latest_avro(major), {"name": "mood", "type": "string"}))
    assert refused.value.incompatible
    assert any("'mood'" in reason and "FULL_TRANSITIVE" in reason for reason in refused.value.reasons)
    assert major.revisions.count() == 1


@pytest.mark.parametrize(
    ("avro", "reason"),
    [
        ("{not json", "not JSON"),
        ({"type": "record", "name": "nudged_v1", "namespace": "org.openstax.ec", "fields": [{"name": "x"}]}, "invalid"),
        ({"type": "record", "name": "other_v1", "namespace": "org.openstax.ec", "fields": []}, "must be named"),
        ({"type": "enum", "name": "nudged_v1", "symbols": ["A"]}, "must be a record"),
    ],
)
def test_an_invalid_schema_is_refused_as_invalid_not_incompatible(avro, reason):
    with pytest.raises(SchemaRejected) as refused:
        revision_create(major=nudged(), avro_schema=avro)
    assert not refused.value.incompatible
    assert reason in " ".join(refused.value.reasons)


def test_an_invalid_json_schema_is_refused():
    major = nudged()
    with pytest.raises(SchemaRejected, match="not a valid JSON Schema"):
        revision_create(major=major, avro_schema=latest_avro(major), json_schema={"type": 5})


def test_saved_revisions_are_immutable():
    revision = nudged().revisions.get()
    with pytest.raises(Exception, match="immutable"):
        revision.full_clean()


def test_a_new_major_starts_as_a_draft_copy_with_the_record_renamed():
    draft = major_start_next(major=nudged(), created_by="ana")
    assert (draft.full_name, draft.major, draft.status) == ("org.openstax.ec.nudged_v2", 2, "draft")
    revision = draft.revisions.get()
    assert (revision.avro_schema_dict["name"], revision.avro_schema_dict["namespace"]) == (
        "nudged_v2",
        "org.openstax.ec",
    )
    assert revision.json_schema["properties"]["type"] == {"const": "org.openstax.ec.nudged_v2"}
    assert event_version_get(full_name="org.openstax.ec.nudged_v2") is None  # drafts accept nothing
    major_status_set(major=draft, status="active")
    assert event_version_get(full_name="org.openstax.ec.nudged_v2") is not None


def test_status_changes_follow_the_allowed_transitions():
    major = nudged()
    major_status_set(major=major, status="deprecated")
    major_status_set(major=major, status="retired")
    assert EventMajor.objects.get(pk=major.pk).status == "retired"
    with pytest.raises(RegistryError, match="cannot go from retired to active"):
        major_status_set(major=major, status="active")
    assert event_version_get(full_name=NUDGED) is None


def test_a_stale_status_change_is_refused():
    major = nudged()
    stale = nudged()
    major_status_set(major=major, status="deprecated")
    with pytest.raises(RegistryError, match="changed by someone else"):
        major_status_set(major=stale, status="retired")


def load(path: Path) -> str:
    out = StringIO()
    call_command("load_schemas", "--path", str(path), stdout=out, stderr=StringIO())
    return out.getvalue()


def test_load_schemas_refuses_a_breaking_change_with_the_reason(tmp_path):
    shutil.copytree(CATALOGUE, tmp_path / "schemas")
    avsc = tmp_path / "schemas/org/openstax/ec/nudged/v1/avro.avsc"
    schema = json.loads(avsc.read_text())
    schema["fields"] = [field for field in schema["fields"] if field["name"] != "medium"]
    avsc.write_text(json.dumps(schema))
    with pytest.raises(CommandError, match=r"(?s)nudged/v1.*'medium'.*removed"):
        load(tmp_path / "schemas")
    assert SchemaRevision.objects.filter(major__full_name=NUDGED).count() == 1


def test_export_then_load_changes_nothing(tmp_path):
    call_command("export_schemas", "--path", str(tmp_path), stdout=StringIO())
    exported = json.loads((tmp_path / "org/openstax/ec/nudged/v1/avro.avsc").read_text())
    assert exported == nudged().revisions.get().avro_schema_dict
    output = load(tmp_path)
    assert "created: 0" in output
    assert "revised: 0" in output


# --- Revisions that would poison delivery ---------------------------------------------------------


def nudged_json() -> dict[str, Any]:
    copied: dict[str, Any] = json.loads(json.dumps(nudged().revisions.get().json_schema))
    return copied


def test_revision_create_refuses_a_record_that_refers_to_itself_as_invalid():
    major = nudged()
    recursive = with_field(latest_avro(major), {"name": "next", "type": ["null", NUDGED], "default": None})

    with pytest.raises(SchemaRejected) as refused:
        revision_create(major=major, avro_schema=recursive)

    assert not refused.value.incompatible
    assert refused.value.reasons == [f"recursive types are not supported: {NUDGED} → {NUDGED}"]
    assert major.revisions.count() == 1


def test_revision_create_refuses_a_json_schema_that_lets_clients_set_server_fields():
    major = nudged()
    json_schema = nudged_json()
    json_schema["properties"]["ip_address"] = {"type": "string"}

    with pytest.raises(SchemaRejected) as refused:
        revision_create(major=major, avro_schema=latest_avro(major), json_schema=json_schema)

    assert not refused.value.incompatible
    assert refused.value.reasons == [
        "ip_address: the server sets this field, so the JSON schema must not define it (clients could set it "
        "themselves)"
    ]
    assert major.revisions.count() == 1


def test_revision_create_refuses_values_the_avro_record_cannot_hold():
    major = nudged()
    json_schema = nudged_json()
    json_schema["properties"]["session_order"] = {"type": "integer"}

    with pytest.raises(SchemaRejected) as refused:
        revision_create(major=major, avro_schema=latest_avro(major), json_schema=json_schema)

    assert refused.value.reasons == [
        "session_order: the JSON schema allows integers beyond int32 but the Avro field is int"
    ]
    assert major.revisions.count() == 1


def test_a_breaking_change_is_reported_before_what_else_is_wrong():
    major = nudged()
    # Incompatible (a field without a default) and undeliverable (no value fills it): one answer.
    with pytest.raises(SchemaRejected) as refused:
        revision_create(major=major, avro_schema=with_field(latest_avro(major), {"name": "mood", "type": "string"}))

    assert refused.value.incompatible
    assert all(reason.startswith("Incompatible under FULL_TRANSITIVE") for reason in refused.value.reasons)
