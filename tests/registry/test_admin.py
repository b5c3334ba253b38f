from __future__ import annotations

import html
import json
import re
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from registry.models import EventMajor, EventType, SchemaRevision
from registry.services import catalogue_entries, major_create, major_status_set

NUDGED = "org.openstax.ec.nudged_v1"


def major(full_name: str = NUDGED) -> EventMajor:
    return EventMajor.objects.get(full_name=full_name)


def major_url(name: str, full_name: str = NUDGED) -> str:
    return reverse(f"admin:registry_eventmajor_{name}", args=[major(full_name).pk])


def content(response: Any) -> str:
    return str(response.content.decode())


def table_rows(page: str, table_id: str) -> list[list[str]]:
    """The cells' text of each body row of the table inside the element with ``table_id``."""
    section = page.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    body = section.split("<tbody>", 1)[1]
    rows = []
    for row in re.findall(r"<tr.*?</tr>", body, flags=re.S):
        cells = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, flags=re.S)
        rows.append([" ".join(html.unescape(re.sub(r"<[^>]+>", " ", cell)).split()) for cell in cells])
    return rows


def pre_text(page: str, element_id: str) -> str:
    match = re.search(rf'<pre[^>]*id="{element_id}"[^>]*>(.*?)</pre>', page, flags=re.S)
    assert match, f"no <pre id={element_id}>"
    return html.unescape(match.group(1))


def changelist_names(response: Any) -> list[str]:
    return [str(row) for row in response.context["cl"].result_list]


def with_note(schemas: SchemaRevision, *, avro_field: dict[str, Any], json_required: bool = False) -> dict[str, str]:
    """The form data of ``schemas`` with a field ``note`` added to both schemas."""
    avro = schemas.avro_schema_dict
    avro["fields"].append(avro_field)
    json_schema = json.loads(json.dumps(schemas.json_schema))
    json_schema["properties"]["note"] = {"type": "string", "description": "A note."}
    if json_required:
        json_schema["required"].append("note")
    return {"avro_schema": json.dumps(avro, indent=2), "json_schema": json.dumps(json_schema, indent=2)}


def latest(full_name: str = NUDGED) -> SchemaRevision:
    return SchemaRevision.objects.filter(major__full_name=full_name).order_by("-revision")[0]


# --- Event types ---------------------------------------------------------------------------------


def test_the_type_list_shows_every_catalogue_type_with_its_majors_status_revision_and_level(editor):
    response = editor.get(reverse("admin:registry_eventtype_changelist"))

    assert response.status_code == 200
    shipped = {f"{entry.namespace}.{entry.name}" for entry in catalogue_entries(root=settings.BASE_DIR / "schemas")}
    assert set(changelist_names(response)) == shipped
    rows = {row[0]: row for row in table_rows(content(response), "result_list")}
    assert rows["org.openstax.ec.nudged"] == [
        "org.openstax.ec.nudged",
        "nudged",
        major().event_type.owner,
        "nudged_v1 active r1 FULL_TRANSITIVE",
        # The live numbers: nothing counted yet (tests/kafka_bridge/test_numbers.py).
        *["0", "0", "0", "0", "—", "0"],
    ]
    assert rows["org.openstax.ec.created_highlight"][3] == (
        "created_highlight_v1 active r1 FULL_TRANSITIVE created_highlight_v2 active r1 FULL_TRANSITIVE"
    )


def test_the_type_list_takes_as_many_queries_for_one_more_type(editor):
    url = reverse("admin:registry_eventtype_changelist")
    with CaptureQueriesContext(connection) as before:
        editor.get(url)
    source = latest()
    event_type = EventType.objects.create(namespace="org.example", name="other", topic="other")
    avro = {**source.avro_schema_dict, "namespace": "org.example", "name": "other_v1"}
    major_create(
        event_type=event_type,
        major=1,
        full_name="org.example.other_v1",
        json_schema=source.json_schema,
        avro_schema=avro,
    )

    with CaptureQueriesContext(connection) as after:
        response = editor.get(url)

    assert "org.example.other" in changelist_names(response)
    assert len(after.captured_queries) == len(before.captured_queries)


def test_searching_types_by_a_major_full_name_finds_that_type(editor):
    response = editor.get(reverse("admin:registry_eventtype_changelist"), {"q": "org.openstax.ec.created_highlight_v2"})

    assert changelist_names(response) == ["org.openstax.ec.created_highlight"]


def test_types_filter_by_their_majors_status_and_by_topic(editor):
    major_status_set(major=major(), status=EventMajor.Status.DEPRECATED)
    url = reverse("admin:registry_eventtype_changelist")

    assert changelist_names(editor.get(url, {"major_status": "deprecated"})) == ["org.openstax.ec.nudged"]
    assert "org.openstax.ec.nudged" not in changelist_names(editor.get(url, {"major_status": "active"}))
    assert changelist_names(editor.get(url, {"topic": "started_session"})) == ["org.openstax.ec.started_session"]


def test_a_type_page_lists_its_majors_read_only_with_links(editor):
    event_type = EventType.objects.get(namespace="org.openstax.ec", name="created_highlight")

    response = editor.get(reverse("admin:registry_eventtype_change", args=[event_type.pk]))

    page = content(response)
    assert response.status_code == 200
    for full_name in ("org.openstax.ec.created_highlight_v1", "org.openstax.ec.created_highlight_v2"):
        assert f'<a href="{major_url("change", full_name)}">{full_name}</a>' in page
    assert 'name="_save"' not in page


# --- Majors --------------------------------------------------------------------------------------


def test_majors_are_searched_by_full_name_and_filtered_by_status(editor):
    major_status_set(major=major("org.openstax.ec.changed_state_v1"), status=EventMajor.Status.DEPRECATED)
    url = reverse("admin:registry_eventmajor_changelist")

    assert changelist_names(editor.get(url, {"q": "nudged_v1"})) == [NUDGED]
    assert changelist_names(editor.get(url, {"status": "deprecated"})) == ["org.openstax.ec.changed_state_v1"]
    rows = {row[0]: row for row in table_rows(content(editor.get(url)), "result_list")}
    assert rows[NUDGED][1:] == [
        "org.openstax.ec.nudged",
        "active",
        "FULL_TRANSITIVE",
        "r1",
        "1",
        f"{settings.KAFKA_TOPIC_PREFIX}nudged",
        *["0", "0", "0", "0", "—", "0"],
    ]


def test_a_major_page_shows_its_schemas_pretty_its_fields_and_its_example(editor):
    response = editor.get(major_url("change"))

    page = content(response)
    revision = latest()
    assert response.status_code == 200
    assert pre_text(page, "json-schema") == json.dumps(revision.json_schema, indent=2)
    assert pre_text(page, "avro-schema") == json.dumps(revision.avro_schema_dict, indent=2)
    json_fields = {row[0]: row for row in table_rows(page, "json-fields")}
    assert json_fields["session_uuid"] == ["session_uuid", "string (uuid)", "yes", "The client's session."]
    assert json_fields["client_clock_sent_at"][1:3] == ["string (date-time)", "yes"]
    avro_fields = {row[0]: row for row in table_rows(page, "avro-fields")}
    assert avro_fields["session_uuid"][1:3] == ["uuid", ""]
    assert avro_fields["device_uuid"][1:3] == ["?uuid", "null"]
    assert avro_fields["occurred_at"][1] == "timestamp-millis"
    assert major().example is not None
    assert pre_text(page, "example-payload") == json.dumps(major().example, indent=2)
    [history] = table_rows(page, "history")
    assert [history[0], history[1], history[3], history[4]] == [
        "r1",
        str(revision.pk),
        "load_schemas",
        revision.fingerprint[:12],
    ]


def test_a_major_page_shows_nested_fields_with_dotted_names(editor):
    page = content(editor.get(major_url("change", "org.openstax.ec.interacted_element_v1")))

    json_fields = {row[0]: row for row in table_rows(page, "json-fields")}
    assert json_fields["source_metadata.content_id"][1:3] == ["string (uuid)", "yes"]
    assert json_fields["target_attributes"][1] == "map of string"
    avro_fields = {row[0]: row for row in table_rows(page, "avro-fields")}
    assert avro_fields["source_metadata"][1] == "?source_metadata"
    assert avro_fields["source_metadata.scope_id"][1:3] == ["?uuid", "null"]
    assert avro_fields["target_attributes"][1] == "map<string>"


def test_a_major_page_escapes_what_it_shows(editor):
    EventMajor.objects.filter(full_name=NUDGED).update(example={"app": "<script>alert(1)</script>"})

    page = content(editor.get(major_url("change")))

    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_an_editor_sees_the_actions_the_status_allows(editor):
    page = content(editor.get(major_url("change")))

    assert "Add a revision" in page
    assert "Start a new major" in page
    assert ">Deprecate</button>" in page
    assert ">Retire</button>" in page
    assert ">Activate</button>" not in page


def test_the_compatibility_level_is_edited_on_the_major_page(editor):
    response = editor.post(major_url("change"), {"compatibility": "BACKWARD", "_save": "Save"})

    assert response.status_code == 302
    assert major().compatibility == "BACKWARD"
    assert major().status == "active"


# --- Revisions -----------------------------------------------------------------------------------


def test_the_add_revision_form_starts_from_the_latest_schemas(editor):
    response = editor.get(major_url("revision_add"))

    assert response.status_code == 200
    form = response.context["form"]
    assert json.loads(form["avro_schema"].value()) == latest().avro_schema_dict
    assert json.loads(form["json_schema"].value()) == latest().json_schema


def test_a_compatible_revision_is_added_and_its_diff_shows_the_new_field(editor):
    data = with_note(latest(), avro_field={"name": "note", "type": ["null", "string"], "default": None})

    response = editor.post(major_url("revision_add"), data, follow=True)

    added = latest()
    assert added.revision == 2
    assert response.redirect_chain == [(major_url("change"), 302)]
    assert f"Added revision r2 of {NUDGED} (schema id {added.pk})." in content(response)
    assert added.created_by == "editor"

    diff = editor.get(major_url("compare"), {"from": 1, "to": 2})

    assert diff.status_code == 200
    added_lines = [html.unescape(line) for line in re.findall(r'<div class="diff-added">(.*?)</div>', content(diff))]
    removed_lines = re.findall(r'<div class="diff-removed">(.*?)</div>', content(diff))
    assert '+      "name": "note",' in added_lines
    assert '+    "note": {' in added_lines
    assert removed_lines == []


def test_an_incompatible_revision_is_refused_with_the_reason_and_nothing_is_saved(editor):
    assert major().compatibility == "FULL_TRANSITIVE"
    data = with_note(latest(), avro_field={"name": "note", "type": "string"}, json_required=True)

    response = editor.post(major_url("revision_add"), data)

    page = content(response)
    assert response.status_code == 200
    assert "not compatible with the earlier revisions under FULL_TRANSITIVE" in page
    assert "field &#x27;note&#x27; was added without a default" in page
    assert SchemaRevision.objects.filter(major__full_name=NUDGED).count() == 1
    assert json.loads(response.context["form"]["avro_schema"].value())["fields"][-1] == {
        "name": "note",
        "type": "string",
    }


def test_a_revision_that_is_not_json_is_refused_on_its_field(editor):
    response = editor.post(major_url("revision_add"), {"avro_schema": "{", "json_schema": "{}"})

    assert response.status_code == 200
    assert response.context["form"].errors["avro_schema"][0].startswith("The Avro schema is not valid JSON")
    assert SchemaRevision.objects.filter(major__full_name=NUDGED).count() == 1


def test_the_same_schemas_again_change_nothing(editor):
    revision = latest()
    data = {"avro_schema": json.dumps(revision.avro_schema_dict), "json_schema": json.dumps(revision.json_schema)}

    response = editor.post(major_url("revision_add"), data, follow=True)

    assert f"Nothing changed: these are the schemas of revision r1 (schema id {revision.pk})." in content(response)
    assert SchemaRevision.objects.filter(major__full_name=NUDGED).count() == 1


def test_a_revision_page_is_read_only(editor):
    revision = latest()
    url = reverse("admin:registry_schemarevision_change", args=[revision.pk])

    page = content(editor.get(url))
    response = editor.post(url, {"revision": 7, "created_by": "someone", "avro_schema": "{}"})

    assert 'name="_save"' not in page
    assert pre_text(page, "avro-schema") == json.dumps(revision.avro_schema_dict, indent=2)
    assert response.status_code == 403
    unchanged = SchemaRevision.objects.get(pk=revision.pk)
    assert (unchanged.revision, unchanged.created_by, unchanged.avro_schema) == (
        1,
        "load_schemas",
        revision.avro_schema,
    )
    assert editor.get(reverse("admin:registry_schemarevision_add")).status_code == 403


# --- Majors' lifecycle ---------------------------------------------------------------------------


def test_starting_a_new_major_creates_a_draft_and_opens_it(editor):
    response = editor.post(major_url("start_next"))

    created = major("org.openstax.ec.nudged_v2")
    assert response.status_code == 302
    assert response["Location"] == major_url("change", created.full_name)
    assert (created.status, created.major) == ("draft", 2)
    assert latest(created.full_name).avro_schema_dict["name"] == "nudged_v2"
    assert major().status == "active"


def test_a_major_is_deprecated_then_retired_and_cannot_come_back(editor):
    assert editor.post(major_url("status"), {"status": "deprecated"}).status_code == 302
    assert major().status == "deprecated"
    assert ">Activate</button>" in content(editor.get(major_url("change")))

    editor.post(major_url("status"), {"status": "retired"})
    assert major().status == "retired"

    response = editor.post(major_url("status"), {"status": "active"}, follow=True)
    assert major().status == "retired"
    assert f"Status not changed: {NUDGED} cannot go from retired to active." in content(response)
    for action in (">Activate</button>", ">Deprecate</button>", ">Retire</button>"):
        assert action not in content(response)


def test_status_changes_are_posts(editor):
    assert editor.get(major_url("status"), {"status": "deprecated"}).status_code == 405
    assert major().status == "active"


# --- Who sees what -------------------------------------------------------------------------------


def test_the_analysts_group_may_view_the_registry_and_nothing_more(db):
    group = Group.objects.get(name="Analysts")

    # view_deadletter: kafka_bridge's dead letters (kafka_bridge/migrations/0002), never their replay.
    assert sorted(group.permissions.values_list("codename", flat=True)) == [
        "view_deadletter",
        "view_eventmajor",
        "view_eventtype",
        "view_registryconfig",
        "view_schemarevision",
    ]


def test_an_analyst_sees_every_page_without_actions(analyst):
    for url in (
        reverse("admin:registry_eventtype_changelist"),
        reverse("admin:registry_eventmajor_changelist"),
        reverse("admin:registry_schemarevision_changelist"),
        reverse("admin:registry_schemarevision_change", args=[latest().pk]),
        major_url("compare") + "?from=1&to=1",
    ):
        assert analyst.get(url).status_code == 200, url

    page = content(analyst.get(major_url("change")))

    assert pre_text(page, "json-schema") == json.dumps(latest().json_schema, indent=2)
    for action in ("Add a revision", "Start a new major", ">Deprecate<", ">Retire<", 'name="_save"'):
        assert action not in page
    assert '<div class="readonly">FULL_TRANSITIVE</div>' in page


def test_an_analyst_may_not_add_revisions_or_change_majors(analyst):
    data = with_note(latest(), avro_field={"name": "note", "type": ["null", "string"], "default": None})

    assert analyst.get(major_url("revision_add")).status_code == 403
    assert analyst.post(major_url("revision_add"), data).status_code == 403
    assert analyst.post(major_url("status"), {"status": "deprecated"}).status_code == 403
    assert analyst.post(major_url("start_next")).status_code == 403
    assert analyst.post(major_url("change"), {"compatibility": "NONE"}).status_code == 403

    assert (major().status, major().compatibility) == ("active", "FULL_TRANSITIVE")
    assert SchemaRevision.objects.filter(major__full_name=NUDGED).count() == 1
    assert not EventMajor.objects.filter(full_name="org.openstax.ec.nudged_v2").exists()


def test_an_anonymous_visitor_is_sent_to_the_login_page(catalogue, client):
    url = reverse("admin:registry_eventtype_changelist")

    response = client.get(url)
    posted = client.post(major_url("status"), {"status": "retired"})

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('admin:login')}?next={url}"
    assert posted.status_code == 302
    assert posted["Location"].startswith(reverse("admin:login"))
    assert major().status == "active"


def test_a_revision_that_would_poison_delivery_is_refused_on_the_form_with_the_reason(editor):
    revision = latest()
    avro = revision.avro_schema_dict
    avro["fields"].append({"name": "next", "type": ["null", NUDGED], "default": None})
    recursive = {"avro_schema": json.dumps(avro), "json_schema": json.dumps(revision.json_schema)}
    json_schema = json.loads(json.dumps(revision.json_schema))
    json_schema["properties"]["user_uuid"] = {"type": "string", "format": "uuid"}
    server_field = {"avro_schema": json.dumps(revision.avro_schema_dict), "json_schema": json.dumps(json_schema)}

    for data, reason in [
        (recursive, f"recursive types are not supported: {NUDGED} → {NUDGED}"),
        (
            server_field,
            "user_uuid: the server sets this field, so the JSON schema must not define it (clients could set it "
            "themselves)",
        ),
    ]:
        response = editor.post(major_url("revision_add"), data)

        assert response.status_code == 200
        refusal = content(response).split('id="refusal"', 1)[1].split("</div>", 1)[0]
        assert "events they accept could not reach Kafka. Nothing was saved." in refusal
        assert re.findall(r"<li>(.*?)</li>", refusal) == [html.escape(reason)]
    assert SchemaRevision.objects.filter(major__full_name=NUDGED).count() == 1
