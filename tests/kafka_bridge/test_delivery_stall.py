from __future__ import annotations

import logging

import pytest

from kafka_bridge.producer import DeliveryFailed
from kafka_bridge.tasks import delivery_stall_report


def test_a_batch_waiting_past_the_alert_threshold_logs_an_error(settings, caplog):
    settings.KAFKA_OUTAGE_ALERT_SECONDS = 60
    with caplog.at_level(logging.ERROR, logger="kafka_bridge.tasks"):
        assert delivery_stall_report(queued_at=1000.0, now=1061.0, events=50, error=DeliveryFailed("down"))
    assert "a batch of 50 events has been undelivered for 61 s and is still being retried" in caplog.text


@pytest.mark.parametrize(("queued_at", "now"), [(1000.0, 1059.0), (None, 99999.0)])
def test_a_batch_within_the_threshold_or_of_unknown_age_logs_nothing(settings, caplog, queued_at, now):
    settings.KAFKA_OUTAGE_ALERT_SECONDS = 60
    with caplog.at_level(logging.ERROR, logger="kafka_bridge.tasks"):
        assert not delivery_stall_report(queued_at=queued_at, now=now, events=1, error=DeliveryFailed("down"))
    assert caplog.text == ""
