from __future__ import annotations

from django.apps import AppConfig
from django.core import checks


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = "Event ingestion"

    def ready(self) -> None:
        from events.checks import production_settings_check, sso_keys_check, trusted_proxies_check

        checks.register(sso_keys_check)
        checks.register(trusted_proxies_check)
        checks.register(production_settings_check)
