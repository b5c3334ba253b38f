"""Event types, their majors and immutable schema revisions.

A revision's primary key is its global schema id in the registry's Confluent-compatible API.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models


def kafka_topic_name(topic: str) -> str:
    """The Kafka topic a registry topic is produced to: with ``KAFKA_TOPIC_PREFIX`` in front, so
    several environments (or the test suite) can share one cluster without mixing records."""
    return f"{settings.KAFKA_TOPIC_PREFIX}{topic}"


_TOPIC_NAME = RegexValidator(r"^[A-Za-z0-9._-]+$", "A Kafka topic name: letters, digits, '.', '_' and '-'.")


class EventType(models.Model):
    namespace = models.CharField(max_length=200)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    owner = models.CharField(max_length=200, blank=True)
    topic = models.CharField(
        max_length=249,
        validators=[_TOPIC_NAME],
        help_text="Default Kafka topic of this type's majors.",
    )

    class Meta:
        ordering = ["namespace", "name"]
        constraints = [
            models.UniqueConstraint(fields=["namespace", "name"], name="registry_eventtype_unique_name"),
        ]

    def __str__(self) -> str:
        return f"{self.namespace}.{self.name}"


class EventMajor(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft"
        ACTIVE = "active"
        DEPRECATED = "deprecated"
        RETIRED = "retired"

    class Compatibility(models.TextChoices):
        NONE = "NONE"
        BACKWARD = "BACKWARD"
        BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
        FORWARD = "FORWARD"
        FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
        FULL = "FULL"
        FULL_TRANSITIVE = "FULL_TRANSITIVE"

    event_type = models.ForeignKey(EventType, on_delete=models.PROTECT, related_name="majors")
    major = models.PositiveIntegerField()
    full_name = models.CharField(
        max_length=255,
        unique=True,
        validators=[
            RegexValidator(
                r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$",
                "An Avro full name: a namespace and a name, e.g. org.openstax.ec.nudged_v1.",
            )
        ],
        help_text="The Avro record full name: the event's `type` and its schema-registry subject.",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    compatibility = models.CharField(
        max_length=24, choices=Compatibility.choices, default=Compatibility.FULL_TRANSITIVE
    )
    topic_override = models.CharField(
        "topic",
        max_length=249,
        blank=True,
        validators=[_TOPIC_NAME],
        help_text="Kafka topic of this major; empty: the event type's default topic.",
    )
    example = models.JSONField(null=True, blank=True, help_text="A valid payload clients may send.")

    class Meta:
        ordering = ["full_name"]
        constraints = [
            models.UniqueConstraint(fields=["event_type", "major"], name="registry_eventmajor_unique_major"),
        ]

    def __str__(self) -> str:
        return self.full_name

    @property
    def topic(self) -> str:
        """The Kafka topic this major's records go to."""
        return kafka_topic_name(self.topic_override or self.event_type.topic)


class RegistryConfig(models.Model):
    """Registry-wide settings (one row): the compatibility level of majors that set none."""

    compatibility = models.CharField(
        max_length=24, choices=EventMajor.Compatibility.choices, default=EventMajor.Compatibility.FULL_TRANSITIVE
    )

    class Meta:
        verbose_name = "registry configuration"
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="registry_registryconfig_single_row")]

    def __str__(self) -> str:
        return f"default compatibility {self.compatibility}"


class SchemaRevision(models.Model):
    """One immutable version of a major's schemas; ``id`` is the global schema id."""

    major = models.ForeignKey(EventMajor, on_delete=models.PROTECT, related_name="revisions")
    revision = models.PositiveIntegerField(help_text="1..n: the subject's version in the schema registry.")
    json_schema = models.JSONField(help_text="JSON schema of the payload clients send.")
    avro_schema = models.TextField(help_text="Avro schema of the Kafka record, as registered.")
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the Avro parsing canonical form.")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["major", "revision"]
        constraints = [
            models.UniqueConstraint(fields=["major", "revision"], name="registry_schemarevision_unique_revision"),
        ]

    def __str__(self) -> str:
        return f"{self.major.full_name} r{self.revision}"

    @property
    def avro_schema_dict(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.avro_schema)
        return parsed

    def clean(self) -> None:
        """Checks a new revision: schemas well-formed, the record named as its major, and the
        major's compatibility level held against every earlier revision."""
        from registry.validation import revision_problems

        if self.pk is not None:
            raise ValidationError("Published revisions are immutable: add a new revision instead.")
        problems = revision_problems(revision=self)
        if problems:
            raise ValidationError(problems)
