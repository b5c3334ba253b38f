"""How the admin shows the live numbers (registry/numbers.py): the list columns and the detail
pages' panel use the same two formats."""

from __future__ import annotations

from datetime import UTC, datetime

from django import template
from django.contrib.humanize.templatetags.humanize import naturaltime
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()


@register.simple_tag
def last_arrival(moment: datetime | None) -> SafeString | str:
    """ "3 minutes ago", with the exact time (UTC) as its title; a dash when nothing arrived."""
    if moment is None:
        return "—"
    exact = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return format_html('<time datetime="{}" title="{}">{}</time>', moment.isoformat(), exact, naturaltime(moment))


@register.simple_tag
def pending_dead_letters(count: int, url: str | None) -> SafeString | str:
    """The count, linked to the dead letters' list when the viewer may see it."""
    if not count:
        return "0"
    if url is None:
        return format_html('<span class="registry-pending">{}</span>', count)
    return format_html('<a class="registry-pending" href="{}">{}</a>', url, count)
