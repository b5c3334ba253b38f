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
from events.sso import ENCRYPTION_KEY_BYTES, encryption_keys_read, signature_keys_read


def sso_keys_check(**kwargs: Any) -> list[checks.CheckMessage]:
    """Every SSO key configured, the current ones and their fallbacks: each that is not a usable
    key is an error of its own, naming its setting and which of its keys it is."""
    encryption_key: str = settings.SSO_ENCRYPTION_KEY
    if not encryption_key:
        unused = [
            name
            for name in (
                "SSO_SIGNATURE_PUBLIC_KEY",
                "SSO_ENCRYPTION_KEY_FALLBACKS",
                "SSO_SIGNATURE_PUBLIC_KEY_FALLBACKS",
                "SSO_ISSUER",
                "SSO_AUDIENCE",
            )
            if _is_set(getattr(settings, name))
        ]
        if unused:
            return [
                checks.Warning(
                    f"{', '.join(unused)} {'is' if len(unused) == 1 else 'are'} set but SSO_ENCRYPTION_KEY is "
                    "empty: SSO is off and every request is anonymous.",
                    hint="Set SSO_ENCRYPTION_KEY to the SSO cookie's encryption key, or unset the others.",
                    id="events.W001",
                )
            ]
        return []
    _, encryption_errors = encryption_keys_read(current=encryption_key, fallbacks=settings.SSO_ENCRYPTION_KEY_FALLBACKS)
    _, signature_errors = signature_keys_read(
        current=settings.SSO_SIGNATURE_PUBLIC_KEY, fallbacks=settings.SSO_SIGNATURE_PUBLIC_KEY_FALLBACKS
    )
    return [
        *(
            checks.Error(
                str(error),
                hint=f"Use the SSO service's {ENCRYPTION_KEY_BYTES}-byte key, as text; list fallbacks "
                "comma-separated, or as a JSON array of strings; or leave SSO_ENCRYPTION_KEY empty to turn SSO off.",
                id="events.E001",
            )
            for error in encryption_errors
        ),
        *(
            checks.Error(
                str(error),
                hint="Use the SSO service's RSA public key, from -----BEGIN PUBLIC KEY----- to "
                "-----END PUBLIC KEY-----; on one line, write its line breaks as \\n. Give fallbacks as "
                'such PEM blocks one after the other, or as a JWKS ({"keys": [...]}) of RSA public keys.',
                id="events.E002",
            )
            for error in signature_errors
        ),
    ]


def _is_set(value: str | list[str]) -> bool:
    return bool(value.strip()) if isinstance(value, str) else bool(value)


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
