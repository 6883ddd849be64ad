"""Template helpers for showing papers, written for lists: a feed page shows twenty cards, each with these."""

from functools import cache
from urllib.parse import quote

from django import template
from django.urls import reverse
from django.utils.dates import MONTHS_3
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

SHOWN_AUTHORS = 8  # a card names this many authors, then "et al."


@cache
def _author_prefix() -> str:
    return reverse("author_papers", args=["-"])[:-2]


@register.filter
def author_url(name: str) -> str:
    """The page of an author's papers (one reverse per process, not one per name)."""
    return f"{_author_prefix()}{quote(name, safe='')}/"


@register.filter
def author_links(authors: list[str]) -> str:
    """The first SHOWN_AUTHORS authors, each a link to their papers, comma-separated, "et al." after them."""
    links = format_html_join(", ", '<a href="{}">{}</a>', ((author_url(name), name) for name in authors[:SHOWN_AUTHORS]))
    return format_html("{}{}", links, " et al." if len(authors) > SHOWN_AUTHORS else "")


@register.filter(is_safe=True)
def first_words(text: str, count: int) -> str:
    """The first ``count`` words of ``text`` with "…" when cut, as Django's ``truncatewords`` gives them (whitespace
    collapsed), without its lazy wrapper and translation lookup per call."""
    if count <= 0:
        return ""
    words = str(text).split()
    if len(words) <= count:
        return " ".join(words)
    cut = " ".join(words[:count])
    return cut if cut.endswith(" …") else f"{cut} …"


@register.filter
def meta_line(paper) -> SafeString:
    """The line under a card's title: authors (linked), the day it was first submitted, its primary category and its
    arXiv link, " · " between those it has."""
    parts = []
    if paper.authors:
        parts.append(format_html('<span class="authors">{}</span>', author_links(paper.authors)))
    if paper.published:
        day = paper.published  # shown as the date filter's "j M Y" shows it (its formatter costs more than the card)
        parts.append(format_html('<time datetime="{}">{} {} {}</time>', day.isoformat(), day.day, MONTHS_3[day.month].title(), day.year))
    if paper.primary_category:
        parts.append(format_html('<span class="category">{}</span>', paper.primary_category))
    if paper.arxiv_id:
        parts.append(format_html('<a href="{}" rel="noopener">arXiv:{}</a>', paper.abstract_url, paper.arxiv_id))
    return format_html('<div class="meta-line">{}</div>', mark_safe(" · ".join(parts)))
