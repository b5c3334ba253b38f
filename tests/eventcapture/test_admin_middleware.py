"""The admin's middleware (eventcapture/admin_middleware.py): the ingestion endpoints skip sessions,
the Django user and messages; every other path, the admin's first, runs them as Django's own."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from tests.factories import batch, nudged

# What SessionMiddleware, AuthenticationMiddleware (its async `auser`: DRF sets `user` itself) and
# MessageMiddleware put on a request.
ADMIN_ONLY = ("session", "auser", "_messages")


def admin_state(response: Any) -> set[str]:
    """What the admin's middleware left on the request that was served."""
    return {name for name in ADMIN_ONLY if hasattr(response.wsgi_request, name)}


@pytest.mark.integration
@pytest.mark.usefixtures("catalogue", "empty_queue")
def test_an_accepted_batch_runs_no_session_user_or_messages_and_sets_no_cookie():
    response = APIClient().post("/api/v0/events", batch(nudged()), format="json")

    assert response.status_code == 202, response.content
    assert admin_state(response) == set()
    assert not response.cookies


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "body"),
    [("/api/v0/events", b"[]"), ("/api/v0/xapi/statements", b"42")],
    ids=["events", "xapi"],
)
def test_a_refused_ingestion_request_skips_them_too(path, body):
    response = Client().post(path, body, content_type="application/json")

    assert 400 <= response.status_code < 500, response.content
    assert admin_state(response) == set()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/admin/login/", "/api/v0/events/", "/api/v0/nope", "/schema-registry/subjects"], ids=str
)
def test_every_other_path_runs_them(path):
    response = Client().get(path)

    assert admin_state(response) == set(ADMIN_ONLY), path


@pytest.mark.django_db
def test_the_admin_signs_in_and_shows_a_saved_change_s_message_kept_in_the_session():
    User.objects.create_superuser("analyst-admin", "a@example.org", "a long enough password 1")
    client = Client()
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": "analyst-admin", "password": "a long enough password 1", "next": "/admin/"},
    )
    assert response.status_code == 302, response.content
    assert "_auth_user_id" in client.session

    response = client.post("/admin/auth/group/add/", {"name": "Analysts of the test"}, follow=True)

    assert response.status_code == 200
    assert "was added successfully" in response.content.decode()
    # Shown once, from the session: the next page has it no more.
    assert "was added successfully" not in client.get("/admin/").content.decode()
