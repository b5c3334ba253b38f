"""System checks of the ingestion settings: run by `manage.py check`, `migrate` and `runserver`,
so a deployment with an unusable SSO key or proxy list stops before it serves a request. The
production guards (eventcapture/guards.py) run where the web and the worker start; their check here
reports the same problems."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from eventcapture.client_address import trusted_proxies_parse
from eventcapture.guards import settings_problems
from events.sso import ENCRYPTION_KEY_BYTES, SsoKeyError, encryption_key_load, signature_key_load


def sso_keys_check(**kwargs: Any) -> list[checks.CheckMessage]:
    encryption_key: str = settings.SSO_ENCRYPTION_KEY
    public_key: str = settings.SSO_SIGNATURE_PUBLIC_KEY
    if not encryption_key:
        if public_key.strip():
            return [
                checks.Warning(
                    "SSO_SIGNATURE_PUBLIC_KEY is set but SSO_ENCRYPTION_KEY is empty: SSO is off and "
                    "every request is anonymous.",
                    hint="Set SSO_ENCRYPTION_KEY to the SSO cookie's encryption key, or unset both.",
                    id="events.W001",
                )
            ]
        return []
    errors: list[checks.CheckMessage] = []
    try:
        encryption_key_load(encryption_key)
    except SsoKeyError as error:
        errors.append(
            checks.Error(
                str(error),
                hint=f"Use the SSO service's {ENCRYPTION_KEY_BYTES}-byte key, as text; "
                "or leave SSO_ENCRYPTION_KEY empty to turn SSO off.",
                id="events.E001",
            )
        )
    try:
        signature_key_load(public_key)
    except SsoKeyError as error:
        errors.append(
            checks.Error(
                str(error),
                hint="Use the SSO service's RSA public key, from -----BEGIN PUBLIC KEY----- to "
                "-----END PUBLIC KEY-----; on one line, write its line breaks as \\n.",
                id="events.E002",
            )
        )
    return errors


def trusted_proxies_check(**kwargs: Any) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    for entry in settings.TRUSTED_PROXIES:
        try:
            trusted_proxies_parse((entry,))
        except ValueError:
            errors.append(
                checks.Error(
                    f"TRUSTED_PROXIES entry {entry!r} is not an IP address or network.",
                    hint="List addresses or CIDRs separated by commas, e.g. 10.0.0.0/8,192.0.2.7.",
                    id="events.E003",
                )
            )
    return errors


def production_settings_check(**kwargs: Any) -> list[checks.CheckMessage]:
    """What the web and the worker refuse to start with when DEBUG is off (eventcapture/guards.py:
    LOADTESTING_ACTIVE is events.E004), reported here too, so that `manage.py check` names them
    before anything is deployed."""
    return [checks.Error(problem.message, hint=problem.hint, id=problem.id) for problem in settings_problems()]
