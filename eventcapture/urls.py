from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularSwaggerView

from eventcapture import views as service_views
from eventcapture.metrics_web import metrics_view
from events.views import ping

urlpatterns = [
    path("api/v0/", include("events.urls")),
    path("api/v0/info", service_views.InfoView.as_view(), name="info"),
    path("api/v0/swagger", service_views.OpenApiView.as_view(), name="openapi"),
    path("api/v0/docs", SpectacularSwaggerView.as_view(url_name="openapi"), name="openapi-docs"),
    path("schema-registry/", include("registry.schema_registry.urls")),
    path("admin/", admin.site.urls),
    path("ping", ping),
    path("ready", service_views.ready, name="ready"),
    path("metrics", metrics_view, name="metrics"),
]
