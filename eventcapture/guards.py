"""Production guards: settings a service with DEBUG off must not start with, refused where a process
that serves starts.

``production_guards()`` runs when the WSGI or the ASGI application loads (eventcapture/wsgi.py,
eventcapture/asgi.py) and when a Celery worker starts (eventcapture/celery.py, at ``worker_init``),
so a deployment that never runs ``manage.py check`` or ``migrate`` still cannot serve with them.
``manage.py check`` reports the same problems as system-check errors (events/checks.py). Values
that do not parse at all stop every process earlier, while the settings load (eventcapture/env.py).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

from django.core.checks.security.base import (
    SECRET_KEY_INSECURE_PREFIX,
    SECRET_KEY_MIN_LENGTH,
    SECRET_KEY_MIN_UNIQUE_CHARACTERS,
)
from django.core.exceptions import ImproperlyConfigured

# The key settings use when DEBUG is on and none is given: public, as is anything in the repository.
DEVELOPMENT_SECRET_KEY = "insecure-development-key-only-used-when-DEBUG-is-on"  # noqa: S105 (DEBUG only)
KNOWN_SECRET_KEYS = frozenset({DEVELOPMENT_SECRET_KEY})
# A browser origin no deployment means to allow: a CORS pattern that matches it matches any host.
_ANY_ORIGINS = ("https://any-host.invalid", "http://any-host.invalid")
_GENERATE = "python3 -c 'import secrets; print(secrets.token_urlsafe(50))'"


@dataclass(frozen=True)
class Problem:
    """A setting the service refuses to serve with: the system check's id, the variable, what is
    wrong and how to mend it."""

    id: str
    variable: str
    message: str
    hint: str

    def __str__(self) -> str:
        return f"{self.message} {self.hint} ({self.id})"


def secret_key_weakness(key: str) -> str | None:
    """Why a signing key cannot protect production, or None: Django's own measures of a key
    (``check --deploy``'s security.W009), and the development keys anyone can read."""
    if not key:
        return "empty"
    if key in KNOWN_SECRET_KEYS:
        return "the development key (public)"
    if key.startswith(SECRET_KEY_INSECURE_PREFIX):
        return f"a development key (it starts with {SECRET_KEY_INSECURE_PREFIX!r})"
    if len(key) < SECRET_KEY_MIN_LENGTH:
        return f"shorter than {SECRET_KEY_MIN_LENGTH} characters"
    if len(set(key)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS:
        return f"made of fewer than {SECRET_KEY_MIN_UNIQUE_CHARACTERS} different characters"
    return None


def _networks(entries: Sequence[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    # Entries that are no network are events.E003's, and refused as TRUSTED_PROXIES is read.
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            continue
    return networks


def production_problems(
    *,
    debug: bool,
    secret_key: str,
    secret_key_fallbacks: Sequence[str],
    allowed_hosts: Sequence[str],
    loadtesting_active: bool,
    trusted_proxies: Sequence[str],
    secure_proxy_ssl_header: tuple[str, str] | None,
    cors_allowed_origin_regexes: Sequence[str],
) -> list[Problem]:
    """Every setting a service with DEBUG off must not serve with. With DEBUG on: none."""
    if debug:
        return []
    problems: list[Problem] = []
    if loadtesting_active:
        problems.append(
            Problem(
                "events.E004",
                "LOADTESTING_ACTIVE",
                "LOADTESTING_ACTIVE is on while DEBUG is off: any client could name the user of its events "
                "in the LoadTest-Client-UUID header.",
                "Turn LOADTESTING_ACTIVE off in production; it is for load tests of a DEBUG service.",
            )
        )
    weakness = secret_key_weakness(secret_key)
    if weakness:
        problems.append(
            Problem(
                "eventcapture.E001",
                "SECRET_KEY",
                f"SECRET_KEY is {weakness} while DEBUG is off: whoever knows or guesses it can forge "
                "admin sessions and signed values.",
                f"Give a random key of {SECRET_KEY_MIN_LENGTH} characters or more as SECRET_KEY or "
                f"SECRET_KEY_FILE, e.g. from {_GENERATE}.",
            )
        )
    for position, fallback in enumerate(secret_key_fallbacks, start=1):
        weakness = secret_key_weakness(fallback)
        if weakness:
            problems.append(
                Problem(
                    "eventcapture.E002",
                    "SECRET_KEY_FALLBACKS",
                    f"SECRET_KEY_FALLBACKS: key {position} is {weakness}: sessions and signed values made "
                    "with it would still be accepted.",
                    "Drop it from SECRET_KEY_FALLBACKS (those signed with it are then void).",
                )
            )
    if "*" in allowed_hosts:
        problems.append(
            Problem(
                "eventcapture.E003",
                "ALLOWED_HOSTS",
                "ALLOWED_HOSTS contains '*' while DEBUG is off: the service would answer for any Host "
                "header, and build its absolute URLs from whatever a client sends.",
                "List the service's host names, e.g. events.example.org (.example.org: it and its subdomains).",
            )
        )
    networks = _networks(trusted_proxies)
    if any(network.prefixlen == 0 for network in networks):
        problems.append(
            Problem(
                "eventcapture.E004",
                "TRUSTED_PROXIES",
                "TRUSTED_PROXIES trusts every address (a /0 network): any client could name its own "
                "address in X-Forwarded-For and escape the rate limits and the login lock-out.",
                "List only the proxies in front of the service: their addresses or their network.",
            )
        )
    if secure_proxy_ssl_header and not networks:
        problems.append(
            Problem(
                "eventcapture.E005",
                "SECURE_PROXY_SSL_HEADER",
                "SECURE_PROXY_SSL_HEADER is set (a proxy terminates TLS in front of the service) but "
                "TRUSTED_PROXIES is empty: every request would seem to come from the proxy's address, so "
                "all clients would share one rate limit and one login lock-out.",
                "Set TRUSTED_PROXIES to the proxy's address or network (docs/configuration.md, Production "
                "settings); without a proxy, unset SECURE_PROXY_SSL_HEADER.",
            )
        )
    for pattern in cors_allowed_origin_regexes:
        if any(re.search(pattern, origin) for origin in _ANY_ORIGINS):
            problems.append(
                Problem(
                    "eventcapture.E006",
                    "CORS_ALLOWED_ORIGIN_REGEXES",
                    f"CORS_ALLOWED_ORIGIN_REGEXES: {pattern!r} allows any host's pages to call the API with "
                    "their visitors' cookies.",
                    "Anchor each pattern to the sites that may call the API, e.g. ^https://app\\.example\\.org$.",
                )
            )
    return problems


def settings_problems() -> list[Problem]:
    """``production_problems`` of the settings in use."""
    from django.conf import settings

    return production_problems(
        debug=settings.DEBUG,
        secret_key=settings.SECRET_KEY,
        secret_key_fallbacks=settings.SECRET_KEY_FALLBACKS,
        allowed_hosts=settings.ALLOWED_HOSTS,
        loadtesting_active=settings.LOADTESTING_ACTIVE,
        trusted_proxies=settings.TRUSTED_PROXIES,
        secure_proxy_ssl_header=settings.SECURE_PROXY_SSL_HEADER,
        cors_allowed_origin_regexes=settings.CORS_ALLOWED_ORIGIN_REGEXES,
    )


def production_guards() -> None:
    """Refuses to go on (``ImproperlyConfigured``, one line a problem) when the settings in use are
    unsafe for a service with DEBUG off."""
    problems = settings_problems()
    if problems:
        lines = "\n".join(f"  {problem}" for problem in problems)
        raise ImproperlyConfigured(f"Settings unsafe with DEBUG off; the service will not start:\n{lines}")
