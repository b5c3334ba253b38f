from __future__ import annotations

from kafka_bridge.checks import delivery_concurrency_check, visibility_timeout_check


def test_a_visibility_timeout_not_well_over_the_delivery_timeout_is_an_error(settings):
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 40}
    settings.KAFKA_DELIVERY_TIMEOUT = 30.0

    assert [message.id for message in visibility_timeout_check()] == ["kafka_bridge.E001"]

    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
    assert visibility_timeout_check() == []


def test_no_delivery_threads_is_an_error(settings):
    settings.DELIVERY_CONCURRENCY = 0
    assert [message.id for message in delivery_concurrency_check()] == ["kafka_bridge.E002"]
    settings.DELIVERY_CONCURRENCY = 4
    assert delivery_concurrency_check() == []
