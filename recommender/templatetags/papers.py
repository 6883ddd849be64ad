"""Template helpers for showing papers."""

from functools import cache
from urllib.parse import quote

from django import template
from django.urls import reverse

register = template.Library()


@cache
def _author_prefix() -> str:
    return reverse("author_papers", args=["-"])[:-2]


@register.filter
def author_url(name: str) -> str:
    """The page of an author's papers (one reverse per process, not one per name)."""
    return f"{_author_prefix()}{quote(name, safe='')}/"
