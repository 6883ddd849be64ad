"""Full-text search of the catalogue by an index, ranked by relevance; on the first page, lightly by the reader's taste.

PostgreSQL reads the stored ``search_vector`` column through its GIN index (``websearch_to_tsquery``, ranked by
``ts_rank_cd``); SQLite reads the FTS5 table ``paper_fts`` (ranked by BM25). Both are kept current by the database
(migration 0013). Titles weigh most, then authors, then abstracts; papers whose title holds the whole query come
first. A query is read as a search box reads it: words (all must match, stemmed), "quoted phrases", ``or`` between
alternatives and ``-word`` to leave a word out; nothing a reader types is an error.

With the meaning vectors on (``CONTENT_EMBEDDINGS``), the first page is hybrid: the best ``FUSED_DEPTH`` full-text hits
and the ``FUSED_DEPTH`` papers nearest the query by meaning (the served model's faiss index, and the papers added since
it) are fused by reciprocal rank, so a paraphrase finds a paper that shares no word with it. Later pages are full-text.

No request counts or ranks the whole table: a query that matches more than ``RANKED_AT_MOST`` papers (a common word
matches a third of a large catalogue) is ranked among the newest that many of its matches, the count stops at
``COUNT_LIMIT`` ("more than 1,000"), and pages stop at ``MAX_PAGES``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import OperationalError, connection, transaction
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from accounts.models import User
from recommender.engine.meaning import nearest_by_meaning, reciprocal_rank_fusion
from recommender.model_store import store
from recommender.models import Paper
from recommender.selectors.feed import taste_scores
from recommender.selectors.fts import MAX_QUERY_LENGTH, fts5_expression
from recommender.services.meaning import query_vector

COUNT_LIMIT = 1000  # matches counted at most; past it the page says "more than 1,000"
RANKED_AT_MOST = 2000  # a query matching more papers is ranked among its newest this many matches (by when they were added)
MAX_PAGES = 50  # the deepest results page
FUSED_DEPTH = 50  # full-text hits and nearest papers by meaning fused on the first page
PERSONAL_WEIGHT = 0.15  # how far the reader's taste moves a first-page hit (relevance within its tier is 0 to 1)
_MARK_OPEN, _MARK_CLOSE = "\x02", "\x03"  # where the database marks a match in a snippet (stripped from text first)
SNIPPET_WORDS = 24


@dataclass(frozen=True)
class SearchFilters:
    """What the results are limited to: an arXiv category (primary or cross-listed) and a year of publication."""

    category: str = ""
    year: int | None = None


@dataclass(frozen=True)
class Hit:
    paper: Paper
    relevance: float
    in_title: bool  # the title alone holds the whole query
    snippet: SafeString  # the abstract around the matched words, each in <mark>
    by_meaning: bool = False  # found by meaning, not by its words


@dataclass(frozen=True)
class SearchPage:
    hits: list[Hit]
    number: int
    has_next: bool
    count: int  # matches, counted up to COUNT_LIMIT + 1
    personal: bool = False  # the first page was re-ranked by the reader's taste
    too_broad: bool = False  # the database gave up after SEARCH_TIMEOUT_MS: the reader should add a word or a filter

    @property
    def count_capped(self) -> bool:
        return self.count > COUNT_LIMIT

    @property
    def papers(self) -> list[Paper]:
        return [hit.paper for hit in self.hits]


def search_filters(params) -> SearchFilters:
    """The search's filters from a query string: ``category`` (an arXiv category) and ``year``; a ValidationError names
    the one that is not right."""
    category = params.get("category", "").strip()
    if category and not re.fullmatch(r"[A-Za-z][\w.-]{0,39}", category, re.ASCII):
        raise ValidationError("A category is an arXiv category such as cs.LG or hep-th.")
    year = params.get("year", "").strip()
    if year and not (year.isascii() and year.isdecimal() and len(year) == 4 and 1800 <= int(year) <= 2200):
        raise ValidationError("A year is four digits, such as 2024.")
    return SearchFilters(category=category, year=int(year) if year else None)


def papers_search(
    *, query: str, filters: SearchFilters = SearchFilters(), page: int = 1, per_page: int = 20, user: User | None = None
) -> SearchPage:
    """Page ``page`` of the papers matching ``query`` (most relevant first). For a signed-in ``user`` the first page is
    re-ranked a little by what their model thinks of each hit (never more than ``PERSONAL_WEIGHT`` within a tier)."""
    page = min(max(page, 1), MAX_PAGES)
    backend = _Postgres() if connection.vendor == "postgresql" else _Sqlite()
    match = backend.match(query)
    nearest = papers_nearest_in_meaning(query, filters, FUSED_DEPTH) if page == 1 and query.strip() else []
    if match is None and not nearest:
        return SearchPage([], page, False, 0)
    try:
        count = backend.count(match, filters) if match is not None else 0
        depth = max(per_page + 1, FUSED_DEPTH) if nearest else per_page + 1
        rows = backend.ranked(match, filters, limit=depth, offset=(page - 1) * per_page) if count else []
    except SearchTooBroad:
        return SearchPage([], page, False, 0, too_broad=True)
    has_next = (count > per_page if nearest else len(rows) > per_page) and page < MAX_PAGES
    by_words = {pk for pk, _, _ in rows}
    if nearest:
        rows = _fused(rows, nearest)
        count = max(count, len(rows))
    rows = rows[:per_page]
    papers = Paper.objects.in_bulk([pk for pk, _, _ in rows])
    try:
        snippets = backend.snippets(match, [pk for pk in papers if pk in by_words]) if match is not None else {}
    except SearchTooBroad:
        snippets = {}
    hits = [
        Hit(papers[pk], relevance, bool(in_title), snippets.get(pk, mark_safe("")), by_meaning=pk in nearest and pk not in by_words)
        for pk, relevance, in_title in rows
        if pk in papers
    ]
    personal = False
    if page == 1 and user is not None and user.is_authenticated and len(hits) > 1:
        hits, personal = _personal_order(hits, user)
    return SearchPage(hits, page, has_next, count, personal)


def papers_nearest_in_meaning(query: str, filters: SearchFilters, k: int) -> list[int]:
    """The pks of the ``k`` papers nearest ``query`` by meaning that pass ``filters`` (best first): from the served
    model's index and the papers added since it; [] when the meaning vectors are off or not loaded yet."""
    if not settings.CONTENT_EMBEDDINGS:
        return []
    served = store.current()
    uses_meaning = served is not None and served.catalogue.meaning_rows is not None
    vector = query_vector(query, served.model.meaning.shape[1]) if uses_meaning else None
    if vector is None:
        return []
    catalogue = served.catalogue
    columns, sims = nearest_by_meaning(catalogue.index.meaning_ann, vector[None, :], 4 * k)[0]
    own = ~catalogue.meaning_missing(columns)  # a paper without its vector (a zero row in the index) is near nothing
    columns, sims = columns[own], sims[own]
    if catalogue.n_items > catalogue.n_base:  # the papers added since training (with a vector already): their few rows
        side = np.arange(catalogue.n_base, catalogue.n_items)
        side = side[~catalogue.meaning_missing(side)]
        side_sims = np.asarray(catalogue.side_meaning[side - catalogue.n_base], dtype=np.float32) @ vector
        columns, sims = np.concatenate([columns, side]), np.concatenate([sims, side_sims])
    order = np.argsort(-sims, kind="stable")
    columns = columns[order][served.recommendable[columns[order]]]
    pks = [int(served.paper_pks[column]) for column in columns[: 4 * k]]
    if filters.category or filters.year is not None:
        kept = Paper.objects.in_bulk(pks)
        pks = [pk for pk in pks if pk in kept and _passes(kept[pk], filters)]
    return pks[:k]


def _passes(paper: Paper, filters: SearchFilters) -> bool:
    if filters.category and filters.category not in (paper.categories or []):
        return False
    return filters.year is None or (paper.published is not None and paper.published.year == filters.year)


def _fused(rows: list[tuple], nearest: list[int]) -> list[tuple]:
    """Full-text ``rows`` (pk, relevance, in_title) and the ``nearest`` pks by meaning, fused by reciprocal rank:
    (pk, fused score, in_title), best first."""
    in_title = {pk: in_title for pk, _, in_title in rows}
    fused = reciprocal_rank_fusion([[pk for pk, _, _ in rows], nearest])
    return [(pk, score, in_title.get(pk, False)) for pk, score in fused]


def paper_ids_matching(query: str, *, limit: int) -> list[int]:
    """The ids of at most ``limit`` papers matching ``query`` (the most recently added first), from the full-text index:
    for the admin's searches, which list them by id and count at most that many."""
    if connection.vendor == "postgresql":
        query = _without_markers(query).strip()[:MAX_QUERY_LENGTH]
        sql = "SELECT id FROM recommender_paper WHERE search_vector @@ websearch_to_tsquery('english', %s) ORDER BY id DESC LIMIT %s"
        return [pk for (pk,) in _fetch(sql, [query, limit])] if query else []
    expression = fts5_expression(query)
    sql = "SELECT rowid FROM paper_fts WHERE paper_fts MATCH %s ORDER BY rowid DESC LIMIT %s"
    return [pk for (pk,) in _fetch(sql, [expression, limit])] if expression else []


def _personal_order(hits: list[Hit], user: User) -> tuple[list[Hit], bool]:
    """The first page's hits re-ranked within their tier (title holds the query, or not) by relevance (scaled to 0-1 in
    the tier) plus PERSONAL_WEIGHT times the reader's standardised model score (squashed to -1..1)."""
    taste = taste_scores(user=user, paper_pks=[hit.paper.pk for hit in hits])
    if not taste:
        return hits, False
    best = {tier: max(hit.relevance for hit in hits if hit.in_title == tier) or 1.0 for tier in {hit.in_title for hit in hits}}

    def key(hit: Hit) -> tuple[bool, float]:
        personal = PERSONAL_WEIGHT * _squash(taste.get(hit.paper.pk, 0.0))
        return (not hit.in_title, -(hit.relevance / best[hit.in_title] + personal))

    return sorted(hits, key=key), True


def _squash(z: float) -> float:
    return max(-1.0, min(1.0, z / 3.0))


def _filters_sql(filters: SearchFilters, vendor: str) -> tuple[str, list]:
    sql, params = "", []
    if filters.category:
        if vendor == "postgresql":
            sql += " AND p.categories @> jsonb_build_array(%s::text)"
        else:
            sql += " AND EXISTS (SELECT 1 FROM json_each(p.categories) WHERE json_each.value = %s)"
        params.append(filters.category)
    if filters.year is not None:
        sql += " AND p.published >= %s AND p.published < %s"
        params += [date(filters.year, 1, 1), date(filters.year + 1, 1, 1)]
    return sql, params


class SearchTooBroad(Exception):
    """A search that the database could not answer within SEARCH_TIMEOUT_MS."""


def _fetch(sql: str, params: list) -> list[tuple]:
    """The rows of one search query; on PostgreSQL within SEARCH_TIMEOUT_MS (a search never holds a worker)."""
    postgres = connection.vendor == "postgresql"
    with transaction.atomic(), connection.cursor() as cursor:
        if postgres:
            cursor.execute(f"SET LOCAL statement_timeout = {int(settings.SEARCH_TIMEOUT_MS)}")
        try:
            cursor.execute(sql, params)
        except OperationalError as exc:
            if getattr(exc.__cause__, "sqlstate", None) == "57014":  # query_canceled
                raise SearchTooBroad from exc
            raise
        rows = cursor.fetchall()
        if postgres:  # inside a caller's transaction these would outlive this block
            cursor.execute(
                "SET LOCAL statement_timeout = DEFAULT; SET LOCAL enable_seqscan = DEFAULT; SET LOCAL enable_indexscan = DEFAULT"
            )
        return rows


def _marked(text: str) -> SafeString:
    """A snippet from the database, HTML-escaped, its matches (between the marker characters) in <mark>."""
    escaped = escape(text)
    marked = re.sub(f"{_MARK_OPEN}([^{_MARK_OPEN}{_MARK_CLOSE}]*){_MARK_CLOSE}", r"<mark>\1</mark>", escaped)
    return mark_safe(marked.replace(_MARK_OPEN, "").replace(_MARK_CLOSE, ""))


class _Postgres:
    """websearch_to_tsquery over the GIN-indexed ``search_vector``; ts_rank_cd for order; ts_headline for snippets."""

    def match(self, query: str) -> str | None:
        query = _without_markers(query).strip()[:MAX_QUERY_LENGTH]
        return query or None

    def ranked(self, match: str, filters: SearchFilters, *, limit: int, offset: int) -> list[tuple]:
        """The page, ranked among the newest RANKED_AT_MOST matches."""
        where, params = _filters_sql(filters, "postgresql")
        return _fetch(
            "WITH hits AS MATERIALIZED (SELECT p.id, p.search_vector FROM recommender_paper p "
            f"WHERE p.search_vector @@ websearch_to_tsquery('english', %s) AND p.withdrawn_at IS NULL{where} "
            "ORDER BY p.id DESC LIMIT %s) "
            "SELECT id, ts_rank_cd(search_vector, q) AS relevance, ts_filter(search_vector, '{a}') @@ q AS in_title "
            "FROM hits, websearch_to_tsquery('english', %s) q ORDER BY in_title DESC, relevance DESC, id DESC LIMIT %s OFFSET %s",
            [match, *params, RANKED_AT_MOST, match, limit, offset],
        )

    def count(self, match: str, filters: SearchFilters) -> int:
        where, params = _filters_sql(filters, "postgresql")
        rows = _fetch(
            "SELECT count(*) FROM (SELECT 1 FROM recommender_paper p, websearch_to_tsquery('english', %s) q "
            f"WHERE p.search_vector @@ q AND p.withdrawn_at IS NULL{where} LIMIT %s) AS hits",
            [match, *params, COUNT_LIMIT + 1],
        )
        return rows[0][0]

    def snippets(self, match: str, pks: list[int]) -> dict[int, SafeString]:
        if not pks:
            return {}
        options = f'MaxFragments=2, MinWords=8, MaxWords={SNIPPET_WORDS}, FragmentDelimiter=" … ", '
        options += f"StartSel={_MARK_OPEN}, StopSel={_MARK_CLOSE}"
        rows = _fetch(
            "SELECT p.id, ts_headline('english', translate(p.abstract, %s, ''), q, %s) "
            "FROM recommender_paper p, websearch_to_tsquery('english', %s) q WHERE p.id = ANY(%s)",
            [_MARK_OPEN + _MARK_CLOSE, options, match, pks],
        )
        return {pk: _marked(text) for pk, text in rows}


class _Sqlite:
    """An FTS5 MATCH expression built from the query's words and phrases (every term quoted: nothing is FTS syntax);
    BM25 (title 10, authors 4, abstract 1) for order; snippet() for snippets."""

    def match(self, query: str) -> str | None:
        return fts5_expression(query)

    def ranked(self, match: str, filters: SearchFilters, *, limit: int, offset: int) -> list[tuple]:
        where, params = _filters_sql(filters, "sqlite")
        newest = _fetch(
            f"SELECT f.rowid FROM paper_fts f JOIN recommender_paper p ON p.id = f.rowid WHERE paper_fts MATCH %s "
            f"AND p.withdrawn_at IS NULL{where} ORDER BY f.rowid DESC LIMIT 1 OFFSET %s",
            [match, *params, RANKED_AT_MOST - 1],
        )
        since = newest[0][0] if newest else 0  # FTS5 reads a rowid range from its index, unscored
        return _fetch(
            "SELECT f.rowid, -f.rank AS relevance, f.rowid IN "
            "(SELECT rowid FROM paper_fts WHERE paper_fts MATCH %s AND rowid >= %s) AS in_title "
            "FROM paper_fts f JOIN recommender_paper p ON p.id = f.rowid "
            f"WHERE paper_fts MATCH %s AND f.rowid >= %s AND p.withdrawn_at IS NULL{where} "
            "ORDER BY in_title DESC, f.rank, f.rowid DESC LIMIT %s OFFSET %s",
            [f"{{title}} : ({match})", since, match, since, *params, limit, offset],
        )

    def count(self, match: str, filters: SearchFilters) -> int:
        where, params = _filters_sql(filters, "sqlite")
        rows = _fetch(
            "SELECT count(*) FROM (SELECT 1 FROM paper_fts f JOIN recommender_paper p ON p.id = f.rowid "
            f"WHERE paper_fts MATCH %s AND p.withdrawn_at IS NULL{where} LIMIT %s)",
            [match, *params, COUNT_LIMIT + 1],
        )
        return rows[0][0]

    def snippets(self, match: str, pks: list[int]) -> dict[int, SafeString]:
        if not pks:
            return {}
        marks = ", ".join(["%s"] * len(pks))
        rows = _fetch(
            f"SELECT rowid, snippet(paper_fts, 2, %s, %s, ' … ', {SNIPPET_WORDS}) FROM paper_fts "
            f"WHERE paper_fts MATCH %s AND rowid IN ({marks})",
            [_MARK_OPEN, _MARK_CLOSE, match, *pks],
        )
        return {pk: _marked(text) for pk, text in rows}


def _without_markers(text: str) -> str:
    return text.replace(_MARK_OPEN, " ").replace(_MARK_CLOSE, " ")
