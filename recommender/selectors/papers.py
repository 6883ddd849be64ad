"""Reading the catalogue: newest, trending, search, a reader's library and feedback state."""

import re
from dataclasses import dataclass
from datetime import date, datetime
from datetime import timezone as dt_timezone

from django.core.cache import cache
from django.db import connection
from django.db.models import Q, QuerySet

from accounts.models import User
from config.ratelimit import CACHE_ERRORS
from recommender.models import Interaction, Paper, TrendingPaper
from recommender.selectors.fts import fts5_expression

Kind = Interaction.Kind
NEWEST_ORDER = ("-listed_on", "-added_at", "-id")  # the index paper_listed_newest, walked as it is stored
EXACT_COUNT_BELOW = 10_000  # PostgreSQL's estimate of the table's rows is used from this size on
COUNT_CACHE_SECONDS = 300  # SQLite has no estimate: its count is kept this long


def papers_listed() -> QuerySet[Paper]:
    """The papers the catalogue shows: every one but those withdrawn by their source."""
    return Paper.objects.filter(withdrawn_at__isnull=True)


def papers_newest() -> QuerySet[Paper]:
    """The catalogue, newest first: by publication date where known (undated papers after), then by when we added it."""
    return papers_listed().order_by(*NEWEST_ORDER)


@dataclass(frozen=True)
class CataloguePage:
    """A page of the catalogue, newest first, and the keys of the pages beside it (None at either end)."""

    papers: list[Paper]
    older: str | None
    newer: str | None


class BadCursor(ValueError):
    """A page key that is not one this site made."""


_CURSOR = re.compile(r"(\d{8})\.(\d{1,18})\.(\d{1,18})")


def paper_cursor(paper: Paper) -> str:
    """The catalogue's key of ``paper``: its listing day, when it was added (microseconds) and its id."""
    added = round(paper.added_at.timestamp() * 1_000_000)
    return f"{paper.listed_on.isoformat().replace('-', '')}.{added}.{paper.pk}"


def _parse_cursor(cursor: str) -> tuple[date, datetime, int]:
    found = _CURSOR.fullmatch(cursor)
    if not found:
        raise BadCursor("That page link is not one of ours: start again from the newest papers.")
    day, added, pk = found.groups()
    try:
        return datetime.strptime(day, "%Y%m%d").date(), datetime.fromtimestamp(int(added) / 1_000_000, tz=dt_timezone.utc), int(pk)
    except (ValueError, OverflowError, OSError):
        raise BadCursor("That page link is not one of ours: start again from the newest papers.") from None


def papers_newest_page(*, size: int, older_than: str = "", newer_than: str = "") -> CataloguePage:
    """``size`` papers of the catalogue, newest first: the first page, the page after the paper keyed ``older_than``, or
    the page before ``newer_than`` (keys from ``paper_cursor``). Each page is a range of the index ``paper_listed_newest``
    (the leading day bounds the scan, the rest of the key filters within a day), so page 1 and page 50,000 cost the
    same. Raises ``BadCursor`` for a key we did not make."""
    papers = papers_listed()
    if newer_than:
        day, added, pk = _parse_cursor(newer_than)
        after = Q(listed_on__gt=day) | Q(listed_on=day, added_at__gt=added) | Q(listed_on=day, added_at=added, id__gt=pk)
        rows = list(papers.filter(Q(listed_on__gte=day) & after).order_by("listed_on", "added_at", "id")[: size + 1])
        more_newer = len(rows) > size
        rows = rows[:size][::-1]
        return CataloguePage(rows, paper_cursor(rows[-1]) if rows else older_than or None, paper_cursor(rows[0]) if more_newer else None)
    if older_than:
        day, added, pk = _parse_cursor(older_than)
        before = Q(listed_on__lt=day) | Q(listed_on=day, added_at__lt=added) | Q(listed_on=day, added_at=added, id__lt=pk)
        papers = papers.filter(Q(listed_on__lte=day) & before)
    rows = list(papers.order_by(*NEWEST_ORDER)[: size + 1])
    older = paper_cursor(rows[size - 1]) if len(rows) > size else None
    rows = rows[:size]
    return CataloguePage(rows, older, paper_cursor(rows[0]) if older_than and rows else None)


@dataclass(frozen=True)
class Count:
    value: int
    exact: bool


def papers_count() -> Count:
    """How many papers the catalogue lists, without counting a large table in a request: up to EXACT_COUNT_BELOW it
    counts (a bounded index scan); past it PostgreSQL's own estimate (``pg_class.reltuples``, kept by autovacuum), and
    on SQLite, which keeps none, a count kept in the cache for COUNT_CACHE_SECONDS."""
    small = papers_listed()[:EXACT_COUNT_BELOW].count()
    if small < EXACT_COUNT_BELOW:
        return Count(small, exact=True)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = 'recommender_paper'::regclass")
            estimate = cursor.fetchone()[0]
        return Count(max(int(estimate), EXACT_COUNT_BELOW), exact=False)
    try:
        known = cache.get("catalogue-count")
    except CACHE_ERRORS:
        known = None
    if known is None:
        known = papers_listed().count()
        try:
            cache.set("catalogue-count", known, COUNT_CACHE_SECONDS)
        except CACHE_ERRORS:
            pass
    return Count(known, exact=False)


def papers_by_any_author(*, names: set[str]) -> QuerySet[Paper]:
    """Papers with any of ``names`` among their authors: exactly on PostgreSQL (JSON containment, by the GIN index on
    authors), a superset on SQLite (the names' words in the full-text index's authors column; callers check
    ``authors``)."""
    if not names:
        return Paper.objects.none()
    if connection.vendor == "postgresql":
        found = Q()
        for name in names:
            found |= Q(authors__contains=[name])
        return Paper.objects.filter(found)
    terms = [term for term in (fts5_expression(f'"{name}"') for name in names) if term]
    if not terms:
        return Paper.objects.none()
    expression = "{authors} : (" + " OR ".join(terms) + ")"
    in_index = "recommender_paper.id IN (SELECT rowid FROM paper_fts WHERE paper_fts MATCH %s)"
    return Paper.objects.extra(where=[in_index], params=[expression])


def papers_by_author(*, name: str) -> list[Paper]:
    """The catalogue's papers with ``name`` among their authors (exactly), newest first."""
    papers = papers_by_any_author(names={name}).filter(withdrawn_at__isnull=True).order_by(*NEWEST_ORDER)
    return [paper for paper in papers if name in paper.authors]


def papers_trending(*, limit: int = 20, exclude: set[int] = frozenset()) -> list[Paper]:
    """The trending list as ``services.trending.trending_refresh`` last counted it (the best ``limit``, read by index;
    less the papers of ``exclude``); each paper carries ``.trend_score``, ``.strong``, ``.reads`` and
    ``.trend_refreshed_at``."""
    rows = TrendingPaper.objects.filter(paper__withdrawn_at__isnull=True).exclude(paper_id__in=exclude)
    rows = rows.select_related("paper").order_by("-score", "-paper")[:limit]
    papers = []
    for row in rows:
        paper = row.paper
        paper.trend_score, paper.strong, paper.reads, paper.trend_refreshed_at = row.score, row.strong, row.reads, row.refreshed_at
        papers.append(paper)
    return papers


@dataclass(frozen=True)
class FeedbackState:
    """What one reader has told us about one paper."""

    like: bool = False
    save: bool = False
    dismiss: bool = False
    stars: int | None = None
    reads: int = 0
    dismiss_reason: str = ""  # "less on this topic", "less from <author>", or "" (just this paper)

    @property
    def star_choices(self) -> list[tuple[int, bool]]:
        """(stars, lit) for the five star buttons."""
        return [(n, self.stars is not None and n <= self.stars) for n in range(1, 6)]


def feedback_state(*, user: User, paper: Paper) -> FeedbackState:
    if not user.is_authenticated:
        return FeedbackState()
    rows = list(Interaction.objects.filter(user=user, paper=paper).values_list("kind", "value", "reason", "author"))
    kinds = {kind for kind, *_ in rows}
    stars = next((value for kind, value, *_ in rows if kind == Kind.RATE), None)
    reads = sum(1 for kind, *_ in rows if kind == Kind.READ)
    why = next((_dismiss_reason_text(reason, author) for kind, _, reason, author in rows if kind == Kind.DISMISS), "")
    return FeedbackState(
        like=Kind.LIKE in kinds, save=Kind.SAVE in kinds, dismiss=Kind.DISMISS in kinds, stars=stars, reads=reads, dismiss_reason=why
    )


def _dismiss_reason_text(reason: str, author: str) -> str:
    if reason == Interaction.Reason.AUTHOR:
        return f"less from {author}"
    return Interaction.Reason(reason).label if reason else ""


def library_for_user(*, user: User) -> dict[str, list[Interaction]]:
    """The reader's liked, saved and rated papers, most recent first, as interactions with their paper."""
    rows = (
        Interaction.objects.filter(user=user, kind__in=[Kind.LIKE, Kind.SAVE, Kind.RATE])
        .select_related("paper")
        .order_by("-created", "-id")
    )
    library: dict[str, list[Interaction]] = {Kind.LIKE: [], Kind.SAVE: [], Kind.RATE: []}
    for interaction in rows:
        library[interaction.kind].append(interaction)
    return {"liked": library[Kind.LIKE], "saved": library[Kind.SAVE], "rated": library[Kind.RATE]}
