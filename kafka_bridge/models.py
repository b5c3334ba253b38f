"""Dead letters: accepted events the worker could not encode, kept until a replay delivers them.

Invariant 4: an event the API accepted (202) is never silently lost. One that fails at encode
time (its revision cannot be loaded, the record does not fit its schema, an external registry
refuses the schema) becomes a row here, holding the queued record exactly as the task carried it,
so ``manage.py replay_dead_letters`` (or the admin's action, through the worker) can produce it
later with its original ``event_id``.
"""

from __future__ import annotations

from django.db import models


class DeadLetter(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        # Produced by a replay and acknowledged by Kafka.
        REPLAYED = "replayed"
        # Produced by a later retry of its own batch (the cause went away in between): no replay needed.
        DELIVERED = "delivered"

    event_id = models.UUIDField(help_text="The id the API returned for the event: its Kafka `event_id` header.")
    event_type = models.CharField(
        max_length=255,
        blank=True,
        help_text="The record's full name (the major); empty when its schema revision could not be loaded.",
    )
    schema_id = models.PositiveIntegerField(help_text="The schema id (revision) the event was accepted against.")
    key = models.TextField(blank=True, help_text="The Kafka key.")
    record = models.JSONField(help_text="The queued record, JSON-safe, exactly as the task carried it.")
    reason = models.TextField(help_text="Why the latest attempt failed.")
    attempts = models.PositiveIntegerField(default=1, help_text="Failed attempts: deliveries and replays.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    replayed_at = models.DateTimeField(null=True, blank=True, help_text="When it reached Kafka.")
    replayed_schema_id = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="The schema id the replay encoded with: the original, or a later revision of the same major.",
    )

    class Meta:
        ordering = ["-last_seen", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["event_id"], name="kafka_bridge_deadletter_unique_event"),
        ]
        indexes = [
            models.Index(fields=["status", "last_seen"], name="kafka_bridge_dl_status_seen"),
        ]
        permissions = [("replay_deadletter", "Can replay dead letters")]

    def __str__(self) -> str:
        return f"{self.event_type or f'schema {self.schema_id}'} {self.event_id}"


class EventCount(models.Model):
    """One major's events in one hour (UTC): written by the worker once per delivered group, never
    once per event (``kafka_bridge.numbers``), read by the admin's live numbers."""

    major = models.ForeignKey("registry.EventMajor", on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField(help_text="The hour (UTC, truncated) the counts are of.")
    accepted = models.PositiveIntegerField(
        default=0, help_text="Events the worker took from the queue that the web had queued in this hour."
    )
    delivered = models.PositiveIntegerField(default=0, help_text="Events Kafka acknowledged in this hour.")
    last_accepted_at = models.DateTimeField(
        null=True, blank=True, help_text="When the latest of the events counted as accepted here was queued."
    )

    class Meta:
        constraints = [
            # The upsert's conflict target: one row per major and hour.
            models.UniqueConstraint(fields=["major", "hour"], name="kafka_bridge_eventcount_unique_major_hour"),
        ]
        indexes = [models.Index(fields=["hour"], name="kafka_bridge_eventcount_hour")]

    def __str__(self) -> str:
        return f"major {self.major_id} at {self.hour:%Y-%m-%d %H}:00"
