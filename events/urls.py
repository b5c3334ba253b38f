from __future__ import annotations

from django.urls import path

from events import views

urlpatterns = [
    path("events", views.EventsView.as_view(), name="events"),
    path("xapi/statements", views.XapiStatementsView.as_view(), name="xapi-statements"),
]
