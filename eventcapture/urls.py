from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from events.views import ping

urlpatterns = [
    path("api/v0/", include("events.urls")),
    path("schema-registry/", include("registry.schema_registry.urls")),
    path("admin/", admin.site.urls),
    path("ping", ping),
]
