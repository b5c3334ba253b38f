"""django-axes' hooks (settings: ``AXES_USERNAME_CALLABLE``, ``AXES_LOCKOUT_CALLABLE``): the
username a failed login is counted under, and the answer to a login refused for too many."""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse

# Characters of a username axes keeps (its column holds 255; PostgreSQL refuses longer values).
USERNAME_CHARS = 255


def login_username(request: HttpRequest, credentials: dict[str, Any] | None = None) -> str | None:
    """The username a login tried, as axes counts it: from the credentials, else the posted form,
    cut to what its table holds (a longer one is no username anyone has)."""
    # The admin's form and DRF's Basic auth both name it "username" (axes' default field).
    username = credentials.get("username") if credentials else getattr(request, "POST", {}).get("username")
    return None if username is None else str(username)[:USERNAME_CHARS]


def lockout_notice() -> tuple[str, str]:
    """``(Retry-After seconds, message)`` of a login refused for too many failures."""
    wait = str(math.ceil(settings.AXES_COOLOFF_TIME.total_seconds()))
    return wait, f"Too many failed logins from this address or for this user; try again in {wait} seconds."


def login_locked_out(request: HttpRequest, response: HttpResponse | None, credentials: Any = None) -> HttpResponse:
    """django-axes' answer to an admin login refused for too many failures
    (``AXES_LOCKOUT_CALLABLE``): 429 with ``Retry-After`` (the cool-off). The schema-registry API
    answers its own refusals, in Confluent's shape (registry/schema_registry/errors.py)."""
    wait, message = lockout_notice()
    answer = HttpResponse(message, status=429, content_type="text/plain; charset=utf-8")
    answer["Retry-After"] = wait
    return answer
