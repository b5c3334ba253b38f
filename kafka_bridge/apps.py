from __future__ import annotations

from django.apps import AppConfig
from django.core import checks


class KafkaBridgeConfig(AppConfig):
    name = "kafka_bridge"
    verbose_name = "Kafka bridge"

    def ready(self) -> None:
        from kafka_bridge.checks import delivery_concurrency_check, visibility_timeout_check

        checks.register(visibility_timeout_check)
        checks.register(delivery_concurrency_check)
