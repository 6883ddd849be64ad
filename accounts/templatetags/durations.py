"""Durations in words, for people: ``PT15M`` (ISO 8601, as django-axes gives the lock-out) -> "15 minutes"."""

from datetime import timedelta

from django import template
from django.utils.dateparse import parse_duration

register = template.Library()


@register.filter
def in_words(value) -> str:
    """A timedelta, seconds or an ISO 8601 duration as "1 hour 30 minutes"; what cannot be read is shown as it is."""
    duration = (
        value
        if isinstance(value, timedelta)
        else timedelta(seconds=value)
        if isinstance(value, (int, float))
        else parse_duration(str(value))
    )
    if duration is None:
        return str(value)
    minutes = round(duration.total_seconds() / 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{hours} hour{'s' if hours != 1 else ''}"] if hours else []
    if minutes or not hours:
        parts.append(f"{minutes} minute{'s' if minutes != 1 else ''}")
    return " ".join(parts)
