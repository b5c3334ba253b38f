from __future__ import annotations

from django.urls import path

from operations import views

urlpatterns = [
    path("api/v0/info", views.InfoView.as_view(), name="info"),
    path("api/v0/swagger", views.OpenApiView.as_view(), name="openapi"),
    path("api/v0/docs", views.OpenApiDocsView.as_view(url_name="openapi"), name="openapi-docs"),
    path("ping", views.ping),
    path("ready", views.ready, name="ready"),
]
