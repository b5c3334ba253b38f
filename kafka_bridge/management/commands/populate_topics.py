from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from kafka_bridge.topics import (
    DEFAULT_TIMEOUT,
    TopicPlan,
    TopicsError,
    TopicsResult,
    topics_apply,
    topics_plan,
)

# The summary's order: what happened first, then what is left.
_STATUSES = ("created", "would create", "altered", "would alter", "in sync", "drift", "skipped", "failed")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text!r}")
    return value


class Command(BaseCommand):
    help = (
        "Create the Kafka topics of every active event major as the topics config wants them, and "
        "report existing topics whose partitions, replication or configs differ (--alter applies "
        "the safe changes: more partitions, config values). Exit status 0 unless something failed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="report what would change; change nothing")
        parser.add_argument(
            "--alter",
            action="store_true",
            help="also add missing partitions and set differing configs of existing topics",
        )
        parser.add_argument(
            "--partitions",
            type=_positive_int,
            help="partitions of topics without their own value in the topics config "
            "(default: KAFKA_TOPIC_PARTITIONS, else the config's defaults)",
        )
        parser.add_argument(
            "--replication",
            type=_positive_int,
            help="replication factor of topics without their own value in the topics config, capped at the "
            "broker count (default: KAFKA_TOPIC_REPLICATION, else the config's defaults)",
        )
        parser.add_argument(
            "--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds to wait for Kafka (default: %(default)s)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        dry_run: bool = options["dry_run"]
        alter: bool = options["alter"]
        timeout: float = options["timeout"]
        try:
            plan = topics_plan(partitions=options["partitions"], replication=options["replication"], timeout=timeout)
        except TopicsError as exc:
            raise CommandError(str(exc)) from exc
        result = None if dry_run else topics_apply(plan=plan, alter=alter, timeout=timeout)

        brokers = f"{plan.brokers} broker{'s' if plan.brokers != 1 else ''}"
        self.stdout.write(
            f"Kafka {plan.bootstrap_servers} ({brokers}), topics config {plan.config_path}: "
            f"{len(plan.topics)} topic{'s' if len(plan.topics) != 1 else ''} of active majors"
            + (" (dry run: nothing is changed)" if dry_run else "")
        )
        for warning in plan.warnings:
            self.stderr.write(self.style.WARNING(f"warning: {warning}"))
        counts: dict[str, int] = {}
        for topic in plan.topics:
            status, details = _topic_report(topic, result=result, alter=alter)
            counts[status] = counts.get(status, 0) + 1
            self.stdout.write(self._styled(status, f"{status:<14}{topic.name}"))
            for detail in details:
                self.stdout.write(f"{'':<16}{detail}")
        summary = ", ".join(f"{counts[status]} {status}" for status in _STATUSES if status in counts) or "no topics"
        self.stdout.write(f"summary: {summary}")
        if not alter and any(topic.fixable and not topic.missing for topic in plan.topics):
            self.stdout.write("run with --alter to add the missing partitions and set the differing configs")
        unfixable = sum(topic.unfixable for topic in plan.topics)
        if unfixable:
            self.stdout.write(
                f"{unfixable} topic{'s differ' if unfixable != 1 else ' differs'} in ways populate_topics "
                "never changes (see 'left alone' above)"
            )
        if result and result.failures:
            raise CommandError("\n".join(result.failures))

    def _styled(self, status: str, line: str) -> str:
        if status in ("created", "altered"):
            return self.style.SUCCESS(line)
        if status == "failed":
            return self.style.ERROR(line)
        if status == "in sync":
            return line
        return self.style.WARNING(line)


def _topic_report(topic: TopicPlan, *, result: TopicsResult | None, alter: bool) -> tuple[str, list[str]]:
    """The topic's status word and one line per difference, saying what was (or would be) done."""
    spec = topic.spec
    if topic.missing:
        configs = " ".join(f"{key}={value}" for key, value in sorted(spec.config.items()))
        shape = f"{spec.partitions} partitions, replication factor {spec.replication_factor}; {configs}".rstrip("; ")
        if result is None:
            return "would create", [shape]
        if topic.name in result.appeared:
            return "skipped", ["created by someone else meanwhile: run again to compare it"]
        return ("created" if topic.name in result.created else "failed"), [shape]
    if topic.in_sync:
        return "in sync", []

    actual = topic.actual
    assert actual is not None
    grown = alter and result is not None and topic.name in result.partitions_added
    set_ = alter and result is not None and topic.name in result.configs_set
    details: list[str] = []
    if topic.partitions_to_add:
        what = f"partitions: {actual.partitions} on the broker, {spec.partitions} configured"
        if grown:
            details.append(f"partitions: {actual.partitions} -> {spec.partitions} (added {topic.partitions_to_add})")
        elif alter and result is None:
            details.append(f"{what} (would add {topic.partitions_to_add})")
        elif alter:
            details.append(f"{what} (adding them failed)")
        else:
            details.append(f"{what} (--alter adds {topic.partitions_to_add})")
    for change in topic.config_changes:
        was = change.actual if change.actual is not None else "(unset)"
        what = f"{change.key}: {was} on the broker, {change.desired} configured"
        if set_:
            details.append(f"{change.key}: {was} -> {change.desired}")
        elif alter and result is None:
            details.append(f"{what} (would set it)")
        elif alter:
            details.append(f"{what} (setting it failed)")
        else:
            details.append(f"{what} (--alter sets it)")
    if topic.partitions_excess:
        details.append(
            f"partitions: {actual.partitions} on the broker, {spec.partitions} configured "
            "(left alone: Kafka cannot remove partitions)"
        )
    if topic.replication_differs:
        details.append(
            f"replication factor: {actual.replication_factor} on the broker, {spec.replication_factor} configured "
            "(left alone: changing it needs a partition reassignment)"
        )

    if not alter or not topic.fixable:
        return "drift", details
    if result is None:
        return "would alter", details
    if (not topic.partitions_to_add or grown) and (not topic.config_changes or set_):
        return "altered", details
    return "failed", details
