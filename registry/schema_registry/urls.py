from __future__ import annotations

from django.urls import path

from registry.schema_registry import views

urlpatterns = [
    path("subjects", views.subjects),
    path("schemas/ids/<int:schema_id>", views.schema_by_id),
]
