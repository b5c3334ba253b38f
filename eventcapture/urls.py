"""The project's URLs: each app's own, included by name (the project package imports none of the
apps), and the metrics endpoint, which is the project's."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path, re_path

from eventcapture.metrics_web import metrics_view

# The admin is the event registry (types, majors, revisions, dead letters and their live numbers),
# not a generic "Django administration".
admin.site.site_header = "Event capture"
admin.site.site_title = "Event capture admin"
admin.site.index_title = "Event registry"

urlpatterns = [
    path("api/v0/", include("events.urls")),
    path("", include("operations.urls")),
    path("schema-registry/", include("registry.schema_registry.urls")),
    path("admin/", admin.site.urls),
    path("metrics", metrics_view, name="metrics"),
    # Last: any other path under /api/ (an unknown URL, a trailing slash) answers the API's JSON 404,
    # never Django's HTML page. The admin and the rest keep Django's own.
    re_path(r"^api(?=/|$)", include("operations.fallback_urls")),
]
