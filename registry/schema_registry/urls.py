from __future__ import annotations

from django.urls import path, re_path

from registry.schema_registry import views

urlpatterns = [
    path("subjects", views.SubjectListView.as_view()),
    path("subjects/<str:subject>", views.SubjectView.as_view()),
    path("subjects/<str:subject>/versions", views.SubjectVersionsView.as_view()),
    path("subjects/<str:subject>/versions/<str:version>", views.SubjectVersionView.as_view()),
    path("subjects/<str:subject>/versions/<str:version>/schema", views.SubjectVersionSchemaView.as_view()),
    path("schemas/types", views.SchemaTypesView.as_view()),
    path("schemas/ids/<int:schema_id>", views.SchemaView.as_view()),
    path("schemas/ids/<int:schema_id>/schema", views.SchemaRawView.as_view()),
    path("schemas/ids/<int:schema_id>/versions", views.SchemaVersionsView.as_view()),
    path("schemas/ids/<int:schema_id>/subjects", views.SchemaSubjectsView.as_view()),
    path("compatibility/subjects/<str:subject>/versions", views.CompatibilityView.as_view()),
    path("compatibility/subjects/<str:subject>/versions/<str:version>", views.CompatibilityVersionView.as_view()),
    path("config", views.ConfigView.as_view()),
    path("config/<str:subject>", views.SubjectConfigView.as_view()),
    path("openapi.json", views.RegistryOpenApiView.as_view(), name="schema-registry-openapi"),
    # Last: every other path under the API (line breaks, %0A, too) answers a Confluent-shaped 404,
    # never an HTML page.
    re_path(r"^[\s\S]*$", views.UnknownEndpointView.as_view()),
]
