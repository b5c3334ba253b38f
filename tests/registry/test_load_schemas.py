from __future__ import annotations

import json
import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from registry.models import EventMajor, SchemaRevision
from tests.factories import SHIPPED_TOPICS

pytestmark = pytest.mark.django_db
CATALOGUE = Path(settings.BASE_DIR) / "schemas"


def load(path: Path) -> str:
    out = StringIO()
    call_command("load_schemas", "--path", str(path), stdout=out, stderr=StringIO())
    return out.getvalue()


def test_it_loads_the_whole_catalogue_and_a_second_run_changes_nothing():
    first = load(CATALOGUE)
    assert f"created: {len(SHIPPED_TOPICS)} (" in first
    majors = EventMajor.objects.select_related("event_type")
    assert {major.full_name: major.topic for major in majors} == {
        name: f"{settings.KAFKA_TOPIC_PREFIX}{topic}" for name, topic in SHIPPED_TOPICS.items()
    }
    assert {major.full_name: (major.status, major.compatibility) for major in majors} == {
        name: ("active", "BACKWARD_TRANSITIVE" if name == "org.adlnet.xapi.Statement" else "FULL_TRANSITIVE")
        for name in SHIPPED_TOPICS
    }
    assert all(major.example is not None for major in majors)
    assert "created: 0" in load(CATALOGUE)
    assert f"unchanged: {len(SHIPPED_TOPICS)}" in load(CATALOGUE)
    assert SchemaRevision.objects.count() == len(SHIPPED_TOPICS)


def test_it_turns_a_changed_schema_into_a_new_revision(tmp_path):
    shutil.copytree(CATALOGUE, tmp_path / "schemas")
    load(tmp_path / "schemas")
    avsc = tmp_path / "schemas/org/openstax/ec/nudged/v1/avro.avsc"
    schema = json.loads(avsc.read_text())
    schema["fields"].append({"name": "note", "type": ["null", "string"], "default": None})
    avsc.write_text(json.dumps(schema))
    assert "revised: 1" in load(tmp_path / "schemas")
    revisions = SchemaRevision.objects.filter(major__full_name="org.openstax.ec.nudged_v1").order_by("revision")
    assert [r.revision for r in revisions] == [1, 2]
    assert revisions[0].fingerprint != revisions[1].fingerprint


def test_it_refuses_folders_whose_schemas_would_poison_delivery_naming_each_and_loads_the_rest(tmp_path):
    root = tmp_path / "schemas"
    shutil.copytree(CATALOGUE, root)
    started = root / "org/openstax/ec/started_session/v1/schema.json"
    json_schema = json.loads(started.read_text())
    json_schema["properties"]["ip_address"] = {"type": "string"}
    started.write_text(json.dumps(json_schema))
    nudged = root / "org/openstax/ec/nudged/v1/avro.avsc"
    avro = json.loads(nudged.read_text())
    avro["fields"].append({"name": "next", "type": ["null", "org.openstax.ec.nudged_v1"], "default": None})
    nudged.write_text(json.dumps(avro))

    with pytest.raises(CommandError) as refused:
        load(root)

    assert str(refused.value).splitlines() == [
        "refused:",
        f"{root / 'org/openstax/ec/nudged/v1'}:",
        "  recursive types are not supported: org.openstax.ec.nudged_v1 → org.openstax.ec.nudged_v1",
        f"{root / 'org/openstax/ec/started_session/v1'}:",
        "  ip_address: the server sets this field, so the JSON schema must not define it (clients could set it "
        "themselves)",
    ]
    loaded = set(EventMajor.objects.values_list("full_name", flat=True))
    assert loaded == set(SHIPPED_TOPICS) - {"org.openstax.ec.nudged_v1", "org.openstax.ec.started_session_v1"}
