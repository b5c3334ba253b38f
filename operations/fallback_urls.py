"""What answers a path under ``/api/`` that no endpoint has: included last by the project's URLs,
so every endpoint's own patterns come first."""

from __future__ import annotations

from django.urls import re_path

from operations import views

urlpatterns = [
    # Any rest of the path, line breaks (%0A) too.
    re_path(r"^[\s\S]*$", views.UnknownApiEndpointView.as_view(), name="api-unknown"),
]
