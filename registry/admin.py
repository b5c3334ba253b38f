from __future__ import annotations

from django.contrib import admin

from registry.models import EventMajor, EventType, SchemaRevision


@admin.register(EventType)
class EventTypeAdmin(admin.ModelAdmin[EventType]):
    list_display = ["__str__", "topic", "owner"]
    search_fields = ["namespace", "name", "description"]


@admin.register(EventMajor)
class EventMajorAdmin(admin.ModelAdmin[EventMajor]):
    list_display = ["full_name", "status", "compatibility"]
    list_filter = ["status", "compatibility"]
    search_fields = ["full_name"]


@admin.register(SchemaRevision)
class SchemaRevisionAdmin(admin.ModelAdmin[SchemaRevision]):
    list_display = ["__str__", "id", "created_at", "created_by"]
    readonly_fields = ["major", "revision", "json_schema", "avro_schema", "fingerprint", "created_at", "created_by"]

    def has_change_permission(self, request: object, obj: SchemaRevision | None = None) -> bool:
        # Published revisions are immutable: a change is a new revision (issue #3 adds that flow).
        return False
