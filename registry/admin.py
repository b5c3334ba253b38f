"""The registry admin, for analysts who mostly browse and the few who change schemas.

Every write goes through ``registry.services`` (the same checks as the catalogue and the
schema-registry API); formatting is in ``registry.presentation``. Types, topics and owners come from
the catalogue folder (``load_schemas`` rewrites them), so they are read-only here; majors change
only by the actions on their page, and revisions never change.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Max, Model, Prefetch, QuerySet
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from registry.admin_forms import RevisionCompareForm, RevisionForm
from registry.models import EventMajor, EventType, SchemaRevision
from registry.numbers import NO_NUMBERS, MajorNumbers, numbers_source
from registry.presentation import avro_fields, json_schema_fields, pretty_json, schema_diff
from registry.services import (
    STATUS_TRANSITIONS,
    RegistryError,
    SchemaRejected,
    major_compatibility_set,
    major_start_next,
    major_status_set,
    revision_create,
)
from registry.templatetags.registry_numbers import last_arrival, pending_dead_letters

REGISTRY_CSS = {"all": ("registry/admin.css",)}

# The buttons for each target status, in the order they are shown.
STATUS_ACTIONS: dict[str, str] = {
    EventMajor.Status.ACTIVE: "Activate",
    EventMajor.Status.DEPRECATED: "Deprecate",
    EventMajor.Status.RETIRED: "Retire",
}

# What a major's compatibility level asks of a new revision, in the words of the add-revision page.
LEVEL_HELP: dict[str, str] = {
    EventMajor.Compatibility.NONE: "any valid schema is accepted, compatible or not.",
    EventMajor.Compatibility.BACKWARD: "the new schema must read data written with the latest revision.",
    EventMajor.Compatibility.BACKWARD_TRANSITIVE: "the new schema must read data written with every earlier revision.",
    EventMajor.Compatibility.FORWARD: "the latest revision must read data written with the new schema.",
    EventMajor.Compatibility.FORWARD_TRANSITIVE: "every earlier revision must read data written with the new schema.",
    EventMajor.Compatibility.FULL: "the new schema and the latest revision must read each other's data.",
    EventMajor.Compatibility.FULL_TRANSITIVE: "the new schema and every earlier revision must read each other's data.",
}

MAJOR_FIELDS = ("full_name", "event_type", "major", "status_display", "compatibility", "topic_display")


def status_badge(status: str) -> SafeString:
    return format_html('<span class="registry-badge registry-status-{}">{}</span>', status, status)


def _majors_annotated() -> QuerySet[EventMajor]:
    return EventMajor.objects.annotate(latest_revision=Max("revisions__revision"), revision_count=Count("revisions"))


def _major_url(major: EventMajor) -> str:
    return reverse("admin:registry_eventmajor_change", args=[major.pk])


def _revision_label(number: int | None) -> str:
    return "—" if number is None else f"r{number}"


def revision_schemas_context(revision: SchemaRevision) -> dict[str, Any]:
    """What ``includes/revision_schemas.html`` shows of one revision."""
    avro = revision.avro_schema_dict
    return {
        "shown_revision": revision,
        "json_schema_pretty": pretty_json(revision.json_schema),
        "avro_schema_pretty": pretty_json(avro),
        "json_fields": json_schema_fields(revision.json_schema),
        "avro_fields": avro_fields(avro),
    }


# --- Live numbers --------------------------------------------------------------------------------

# Where a list page's objects carry their numbers, set once per page by ``LiveNumbersMixin``.
NUMBERS_ATTRIBUTE = "_live_numbers"
DEAD_LETTERS_URL_ATTRIBUTE = "_dead_letters_url"
NUMBERS_COLUMNS = [
    "accepted_hour_display",
    "accepted_day_display",
    "delivered_hour_display",
    "delivered_day_display",
    "last_arrival_display",
    "pending_dead_letters_display",
]


def numbers_rows(
    request: HttpRequest, groups: Sequence[tuple[str, Sequence[EventMajor]]]
) -> list[tuple[str, MajorNumbers, str | None]]:
    """(label, numbers, pending dead letters' link) for each labelled group of majors, summed over
    its majors: one look-up for all of them."""
    source = numbers_source()
    every_major = [major for _label, majors in groups for major in majors]
    numbers = source.majors_numbers(majors=every_major, now=timezone.now())
    rows = []
    for label, majors in groups:
        total = sum((numbers.get(major.pk, NO_NUMBERS) for major in majors), NO_NUMBERS)
        url = (
            source.dead_letters_url(full_names=[major.full_name for major in majors], user=request.user)
            if total.pending_dead_letters
            else None
        )
        rows.append((label, total, url))
    return rows


class LiveNumbersMixin:
    """The live numbers as columns of a list page: looked up once for the whole page (one aggregate
    query over the hourly counts, one over the dead letters), never once per row."""

    def numbers_majors(self, obj: Any) -> Sequence[EventMajor]:
        raise NotImplementedError

    def get_changelist_instance(self, request: HttpRequest) -> ChangeList:
        changelist: ChangeList = super().get_changelist_instance(request)  # type: ignore[misc]
        # The page's objects, fetched now (the page's queryset keeps them for the template).
        objects = list(changelist.result_list)
        rows = numbers_rows(request, [(str(obj.pk), self.numbers_majors(obj)) for obj in objects])
        for obj, (_label, numbers, url) in zip(objects, rows, strict=True):
            setattr(obj, NUMBERS_ATTRIBUTE, numbers)
            setattr(obj, DEAD_LETTERS_URL_ATTRIBUTE, url)
        return changelist

    @staticmethod
    def _numbers(obj: Any) -> MajorNumbers:
        numbers: MajorNumbers = getattr(obj, NUMBERS_ATTRIBUTE, NO_NUMBERS)
        return numbers

    @admin.display(description="accepted, 1 h")
    def accepted_hour_display(self, obj: Any) -> int:
        return self._numbers(obj).accepted_hour

    @admin.display(description="accepted, 24 h")
    def accepted_day_display(self, obj: Any) -> int:
        return self._numbers(obj).accepted_day

    @admin.display(description="delivered, 1 h")
    def delivered_hour_display(self, obj: Any) -> int:
        return self._numbers(obj).delivered_hour

    @admin.display(description="delivered, 24 h")
    def delivered_day_display(self, obj: Any) -> int:
        return self._numbers(obj).delivered_day

    @admin.display(description="last arrival")
    def last_arrival_display(self, obj: Any) -> SafeString | str:
        return last_arrival(self._numbers(obj).last_accepted_at)

    @admin.display(description="pending dead letters")
    def pending_dead_letters_display(self, obj: Any) -> SafeString | str:
        return pending_dead_letters(
            self._numbers(obj).pending_dead_letters, getattr(obj, DEAD_LETTERS_URL_ATTRIBUTE, None)
        )


# --- Event types ---------------------------------------------------------------------------------


class MajorStatusFilter(admin.SimpleListFilter):
    title = "major status"
    parameter_name = "major_status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(value), str(label)) for value, label in EventMajor.Status.choices]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(majors__status=value).distinct() if value else queryset


class EventMajorInline(admin.TabularInline[EventMajor, EventType]):
    model = EventMajor
    verbose_name_plural = "majors"
    fields = readonly_fields = (
        "major_link",
        "status_display",
        "compatibility_display",
        "latest_revision_display",
        "revision_count_display",
    )
    extra = 0
    can_delete = False
    show_change_link = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[EventMajor]:
        return _majors_annotated().order_by("major")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="major")
    def major_link(self, major: EventMajor) -> SafeString:
        return format_html('<a href="{}">{}</a>', _major_url(major), major.full_name)

    @admin.display(description="status")
    def status_display(self, major: EventMajor) -> SafeString:
        return status_badge(major.status)

    @admin.display(description="compatibility")
    def compatibility_display(self, major: EventMajor) -> str:
        return major.compatibility

    @admin.display(description="latest revision")
    def latest_revision_display(self, major: EventMajor) -> str:
        return _revision_label(getattr(major, "latest_revision", None))

    @admin.display(description="revisions")
    def revision_count_display(self, major: EventMajor) -> int:
        return int(getattr(major, "revision_count", 0))


_Model = TypeVar("_Model", bound=Model)


class ReadOnlyAdmin(admin.ModelAdmin[_Model]):
    """Pages to browse; nothing is added, changed or deleted through them."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: _Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: _Model | None = None) -> bool:
        return False


@admin.register(EventType)
class EventTypeAdmin(LiveNumbersMixin, ReadOnlyAdmin[EventType]):
    """Read-only: the catalogue folder is the source of types, and `load_schemas` would overwrite
    edits made here."""

    list_display = ["full_name", "topic", "owner", "majors_display", *NUMBERS_COLUMNS]
    list_filter = [MajorStatusFilter, "topic", "namespace"]
    search_fields = ["namespace", "name", "description", "majors__full_name"]
    fields = ["namespace", "name", "description", "owner", "topic"]
    inlines = [EventMajorInline]

    class Media:
        css = REGISTRY_CSS

    def get_queryset(self, request: HttpRequest) -> QuerySet[EventType]:
        majors = _majors_annotated().order_by("major")
        return super().get_queryset(request).prefetch_related(Prefetch("majors", queryset=majors))

    @admin.display(description="event type", ordering="name")
    def full_name(self, event_type: EventType) -> str:
        return str(event_type)

    def numbers_majors(self, obj: Any) -> Sequence[EventMajor]:
        return list(obj.majors.all())

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: EventType | None = None,
    ) -> HttpResponse:
        if obj is not None:
            majors = list(obj.majors.all())
            groups = [(major.full_name, [major]) for major in majors]
            if len(majors) > 1:
                groups.append((f"{obj} (all majors)", majors))
            context["numbers_rows"] = numbers_rows(request, groups)
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    @admin.display(description="majors (status, latest revision, compatibility)")
    def majors_display(self, event_type: EventType) -> SafeString:
        rows = (
            (
                _major_url(major),
                major.full_name.rsplit(".", 1)[-1],
                status_badge(major.status),
                _revision_label(getattr(major, "latest_revision", None)),
                major.compatibility,
            )
            for major in event_type.majors.all()
        )
        items = format_html_join("", '<li><a href="{}">{}</a> {} {} <span class="registry-quiet">{}</span></li>', rows)
        return format_html('<ul class="registry-majors">{}</ul>', items)


# --- Majors --------------------------------------------------------------------------------------


@admin.register(EventMajor)
class EventMajorAdmin(LiveNumbersMixin, admin.ModelAdmin[EventMajor]):
    list_display = [
        "full_name",
        "event_type",
        "status_display",
        "compatibility_display",
        "latest_revision_display",
        "revision_count_display",
        "topic_display",
        *NUMBERS_COLUMNS,
    ]
    list_filter = ["status", "compatibility"]
    search_fields = ["full_name"]
    list_select_related = ["event_type"]
    fields = MAJOR_FIELDS
    readonly_fields = ["full_name", "event_type", "major", "status_display", "compatibility_display", "topic_display"]

    class Media:
        css = REGISTRY_CSS

    def get_fields(self, request: HttpRequest, obj: EventMajor | None = None) -> tuple[str, ...]:
        # Who may not edit the level reads it as the registry API spells it, not as a choice label.
        if self.has_change_permission(request, obj):
            return MAJOR_FIELDS
        return tuple("compatibility_display" if name == "compatibility" else name for name in MAJOR_FIELDS)

    def formfield_for_choice_field(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "compatibility":
            kwargs["choices"] = [(level, level) for level in EventMajor.Compatibility.values]
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    def get_queryset(self, request: HttpRequest) -> QuerySet[EventMajor]:
        return (
            super()
            .get_queryset(request)
            .annotate(latest_revision=Max("revisions__revision"), revision_count=Count("revisions"))
        )

    # New majors start from an existing one ("Start a new major") or come from the catalogue.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    # Kafka records refer to a major's schema ids for ever.
    def has_delete_permission(self, request: HttpRequest, obj: EventMajor | None = None) -> bool:
        return False

    @admin.display(description="status", ordering="status")
    def status_display(self, major: EventMajor) -> SafeString:
        return status_badge(major.status)

    def numbers_majors(self, obj: Any) -> Sequence[EventMajor]:
        return [obj]

    # The level's own name (FULL_TRANSITIVE), as the schema-registry API and its clients spell it.
    @admin.display(description="compatibility", ordering="compatibility")
    def compatibility_display(self, major: EventMajor) -> str:
        return major.compatibility

    @admin.display(description="latest revision", ordering="latest_revision")
    def latest_revision_display(self, major: EventMajor) -> str:
        return _revision_label(getattr(major, "latest_revision", None))

    @admin.display(description="revisions", ordering="revision_count")
    def revision_count_display(self, major: EventMajor) -> int:
        return int(getattr(major, "revision_count", 0))

    @admin.display(description="Kafka topic", ordering="event_type__topic")
    def topic_display(self, major: EventMajor) -> str:
        return major.topic

    def save_model(self, request: HttpRequest, obj: EventMajor, form: Form, change: bool) -> None:
        # The compatibility level is the only field this form edits.
        if "compatibility" in form.changed_data:
            major_compatibility_set(major=obj, level=form.cleaned_data["compatibility"])

    def get_urls(self) -> list[URLPattern]:
        def view(function: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
            return self.admin_site.admin_view(function)

        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("<path:object_id>/add-revision/", view(self.revision_add_view), name=f"{prefix}_revision_add"),
            path("<path:object_id>/compare/", view(self.revision_compare_view), name=f"{prefix}_compare"),
            path("<path:object_id>/status/", view(self.status_view), name=f"{prefix}_status"),
            path("<path:object_id>/start-next/", view(self.start_next_view), name=f"{prefix}_start_next"),
            *super().get_urls(),
        ]

    # --- the detail page

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: EventMajor | None = None,
    ) -> HttpResponse:
        if obj is not None:
            context.update(self._detail_context(request, obj))
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def _detail_context(self, request: HttpRequest, major: EventMajor) -> dict[str, Any]:
        revisions = list(major.revisions.order_by("-revision"))
        numbers = sorted(revision.revision for revision in revisions)
        context: dict[str, Any] = {
            "numbers_rows": numbers_rows(request, [(major.full_name, [major])]),
            "revisions": revisions,
            "example_pretty": None if major.example is None else pretty_json(major.example),
            "can_edit_major": self.has_change_permission(request, major),
            "status_actions": [
                (status, label)
                for status, label in STATUS_ACTIONS.items()
                if status in STATUS_TRANSITIONS[major.status]
            ],
            "compare_form": RevisionCompareForm(
                revisions=numbers,
                initial={"from": numbers[-2] if len(numbers) > 1 else numbers[0], "to": numbers[-1]} if numbers else {},
            ),
        }
        if revisions:
            context.update(revision_schemas_context(revisions[0]))
        return context

    # --- the pages and actions of one major

    def _major(self, request: HttpRequest, object_id: str) -> EventMajor:
        major = self.get_object(request, unquote(object_id))
        if major is None:
            raise Http404(f"No major with id {object_id!r}.")
        return major

    def _page_context(self, request: HttpRequest, major: EventMajor, title: str) -> dict[str, Any]:
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": major,
            "title": title,
            "subtitle": major.full_name,
            "media": self.media,
            "has_view_permission": self.has_view_permission(request, major),
        }

    def revision_add_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        major = self._major(request, object_id)
        if not self.has_change_permission(request, major):
            raise PermissionDenied
        latest = major.revisions.order_by("-revision").first()
        refusal: SchemaRejected | None = None
        if request.method == "POST":
            form = RevisionForm(request.POST)
            if form.is_valid():
                try:
                    result = revision_create(
                        major=major,
                        avro_schema=form.cleaned_data["avro_schema"],
                        json_schema=form.cleaned_data["json_schema"],
                        created_by=request.user.get_username(),
                    )
                except SchemaRejected as exc:
                    refusal = exc
                else:
                    revision = result.revision
                    if result.created:
                        self.log_change(
                            request, major, f"Added revision r{revision.revision} (schema id {revision.pk})."
                        )
                        self.message_user(
                            request,
                            f"Added revision r{revision.revision} of {major.full_name} (schema id {revision.pk}).",
                            messages.SUCCESS,
                        )
                    else:
                        self.message_user(
                            request,
                            f"Nothing changed: these are the schemas of revision r{revision.revision} "
                            f"(schema id {revision.pk}).",
                            messages.WARNING,
                        )
                    return HttpResponseRedirect(_major_url(major))
        else:
            initial = (
                {"avro_schema": pretty_json(latest.avro_schema), "json_schema": pretty_json(latest.json_schema)}
                if latest
                else {}
            )
            form = RevisionForm(initial=initial)
        context = {
            **self._page_context(request, major, "Add a revision"),
            "form": form,
            "latest": latest,
            "refusal": refusal,
            "level_help": LEVEL_HELP.get(major.compatibility, ""),
        }
        return TemplateResponse(request, "admin/registry/eventmajor/revision_add.html", context)

    def revision_compare_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        major = self._major(request, object_id)
        if not self.has_view_or_change_permission(request, major):
            raise PermissionDenied
        revisions = {revision.revision: revision for revision in major.revisions.all()}
        form = RevisionCompareForm(request.GET or None, revisions=sorted(revisions))
        context = {**self._page_context(request, major, "Compare revisions"), "compare_form": form}
        if form.is_valid():
            old, new = revisions[form.cleaned_data["from"]], revisions[form.cleaned_data["to"]]
            old_label, new_label = f"r{old.revision} (schema id {old.pk})", f"r{new.revision} (schema id {new.pk})"
            context.update(
                old=old,
                new=new,
                diffs=[
                    (
                        "Avro schema",
                        schema_diff(old.avro_schema, new.avro_schema, old_label=old_label, new_label=new_label),
                    ),
                    (
                        "JSON schema",
                        schema_diff(old.json_schema, new.json_schema, old_label=old_label, new_label=new_label),
                    ),
                ],
            )
        return TemplateResponse(request, "admin/registry/eventmajor/revision_compare.html", context)

    def status_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        major = self._major(request, object_id)
        if not self.has_change_permission(request, major):
            raise PermissionDenied
        old_status = major.status
        try:
            major_status_set(major=major, status=request.POST.get("status", ""))
        except RegistryError as exc:
            self.message_user(request, f"Status not changed: {exc}", messages.ERROR)
        else:
            self.log_change(request, major, f"Changed status from {old_status} to {major.status}.")
            self.message_user(request, f"The status of {major.full_name} is now {major.status}.", messages.SUCCESS)
        return HttpResponseRedirect(_major_url(major))

    def start_next_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        major = self._major(request, object_id)
        if not self.has_change_permission(request, major):
            raise PermissionDenied
        try:
            created = major_start_next(major=major, created_by=request.user.get_username())
        except RegistryError as exc:
            self.message_user(request, f"No new major started: {exc}", messages.ERROR)
            return HttpResponseRedirect(_major_url(major))
        self.log_addition(request, created, f"Started from the latest revision of {major.full_name}.")
        self.message_user(
            request,
            f"Started {created.full_name} as a draft from the latest revision of {major.full_name}. "
            "Make the breaking change as a revision of it, then activate it.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(_major_url(created))


# --- Revisions -----------------------------------------------------------------------------------


@admin.register(SchemaRevision)
class SchemaRevisionAdmin(ReadOnlyAdmin[SchemaRevision]):
    """Read-only: published revisions are immutable; a change is a new revision, added on its
    major's page."""

    list_display = ["__str__", "major", "revision", "schema_id", "created_at", "created_by", "fingerprint_short"]
    list_filter = ["major"]
    search_fields = ["major__full_name"]
    list_select_related = ["major"]
    fields = readonly_fields = ("major", "revision", "schema_id", "fingerprint", "created_at", "created_by")

    class Media:
        css = REGISTRY_CSS

    @admin.display(description="schema id", ordering="id")
    def schema_id(self, revision: SchemaRevision) -> int:
        return revision.pk

    @admin.display(description="fingerprint")
    def fingerprint_short(self, revision: SchemaRevision) -> str:
        return revision.fingerprint[:12]

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: SchemaRevision | None = None,
    ) -> HttpResponse:
        if obj is not None:
            context.update(revision_schemas_context(obj))
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)
