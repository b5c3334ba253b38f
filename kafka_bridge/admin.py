"""The dead letters' admin: why accepted events could not be delivered, and their replay.

Nothing here edits a dead letter: the record is shown as the task carried it. Replaying is a task
for the worker (``kafka_bridge.replay_dead_letters``), never done in the web process, which does
not produce to Kafka; it needs the ``replay_deadletter`` permission, which Analysts lack.
"""

from __future__ import annotations

import logging
from functools import partial

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import Truncator

from kafka_bridge.models import DeadLetter
from kafka_bridge.queue import replay_enqueue
from registry.admin import REGISTRY_CSS, ReadOnlyAdmin, status_badge
from registry.presentation import pretty_json

logger = logging.getLogger(__name__)

REASON_SHOWN = 90


@admin.register(DeadLetter)
class DeadLetterAdmin(ReadOnlyAdmin[DeadLetter]):
    list_display = [
        "event_id",
        "event_type_display",
        "reason_short",
        "attempts",
        "first_seen",
        "last_seen",
        "status_display",
    ]
    list_filter = ["status", "event_type", ("last_seen", admin.DateFieldListFilter)]
    search_fields = ["event_id", "event_type", "reason"]
    actions = ["replay_selected"]
    fields = readonly_fields = (
        "event_id",
        "event_type_display",
        "status_display",
        "schema_id",
        "replayed_schema_id",
        "key",
        "attempts",
        "first_seen",
        "last_seen",
        "replayed_at",
        "reason",
        "record_pretty",
    )

    class Media:
        css = {"all": (*REGISTRY_CSS["all"], "kafka_bridge/admin.css")}

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(f"{self.opts.app_label}.replay_deadletter")

    @admin.display(description="event type", ordering="event_type")
    def event_type_display(self, letter: DeadLetter) -> str:
        return letter.event_type or f"unknown (schema id {letter.schema_id})"

    @admin.display(description="reason", ordering="reason")
    def reason_short(self, letter: DeadLetter) -> str:
        first_line = letter.reason.splitlines()[0] if letter.reason else ""
        return Truncator(first_line).chars(REASON_SHOWN)

    @admin.display(description="status", ordering="status")
    def status_display(self, letter: DeadLetter) -> SafeString:
        return status_badge(letter.status)

    @admin.display(description="record (as queued)")
    def record_pretty(self, letter: DeadLetter) -> SafeString:
        return format_html('<pre class="registry-code" id="dead-letter-record">{}</pre>', pretty_json(letter.record))

    @admin.action(description="Replay selected dead letters", permissions=["replay"])
    def replay_selected(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> None:
        letters = list(queryset.filter(status=DeadLetter.Status.PENDING))
        left_alone = queryset.count() - len(letters)
        if not letters:
            self.message_user(
                request, "None of the selected dead letters is pending: nothing to replay.", messages.WARNING
            )
            return
        try:
            # Never from inside an open transaction (celery-types lacks delay_on_commit; this is it).
            transaction.on_commit(partial(replay_enqueue, event_ids=[str(letter.event_id) for letter in letters]))
        except Exception as exc:
            # Whatever stopped the publish (Redis down, a timeout), nothing was queued.
            logger.warning("could not queue a replay of %d dead letters: %s", len(letters), type(exc).__name__)
            self.message_user(request, "The replay could not be queued: the queue is unreachable.", messages.ERROR)
            return
        for letter in letters:
            self.log_change(request, letter, "Queued a replay.")
        message = (
            f"Queued a replay of {len(letters)} dead letter{'s' if len(letters) != 1 else ''}: the worker "
            "produces them to Kafka. Reload this page to see their status."
        )
        if left_alone:
            message += f" {left_alone} selected {'was' if left_alone == 1 else 'were'} not pending and left alone."
        self.message_user(request, message, messages.SUCCESS)
