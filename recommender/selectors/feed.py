"""A reader's personalised feed and a paper's neighbours, with a reason for every pick.

The reader's feedback is read live from the database and folded into the served model on
every request, so a like, rating or dismissal changes the very next feed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

import numpy as np
from scipy import sparse

from accounts.models import User
from recommender.engine import facets as interests
from recommender.engine.blend import SIDES, BlendedScores, diversify
from recommender.engine.graph import strongest_link
from recommender.engine.matrix import KIND_CODES, Events, confidence_matrix
from recommender.engine.serving import SCORE_ALL_BELOW, Reader, score, score_many
from recommender.engine.serving import readers as serving_readers
from recommender.model_store import ServedModel, store
from recommender.models import Interaction, Paper
from recommender.selectors.facets import FacetPart, reader_facets, stored_facets
from recommender.selectors.papers import NEWEST_ORDER, papers_by_any_author, papers_listed, papers_trending

Kind = Interaction.Kind
_VERBS = {Kind.LIKE: "liked", Kind.SAVE: "saved", Kind.READ: "read"}  # a rating says its stars: "rated 5★"
_VERB_ORDER = [Kind.LIKE, Kind.SAVE, Kind.RATE, Kind.READ]  # the strongest first
CANDIDATE_POOL = 100  # the best papers the diversity re-rank picks the first page from
MAX_POOL = 2000  # the deepest page shown
DIVERSIFIED = 100  # the diversity re-rank (quadratic) orders this many papers at most; deeper pages follow the scores
SHORT_LIST_BREADTH = 0.3  # candidates for a list that does not page (benchmarks/candidates.py: 99% of the exact top 20)
TOPIC_AVOIDANCE = 20.0  # score taken off per unit of similarity to a paper dismissed as "less on this topic"


@dataclass(frozen=True)
class FeedItem:
    paper: Paper
    score: float
    reason: str
    source: str  # "content", "meaning", "collaborative", "graph" or "popular"
    because: Paper | None = None
    interest: str | None = None  # the reader's facet that put it there, for a reader with more than one


@dataclass
class ReaderFeedback:
    """Readers' feedback as rows over the served model's columns (row i is ``user_ids[i]``)."""

    user_ids: list[int]
    weights: sparse.csr_matrix  # (n_readers, n_items)
    cf_balance: np.ndarray  # (n_readers,): each reader's chosen collaborative share, NaN for the tuned blend
    seen: list[np.ndarray]  # per reader: columns with any feedback, excluded from recommendations
    verbs: list[dict[int, str]]  # per reader: positive column -> what the reader did with it
    avoided_topics: list[np.ndarray]  # per reader: columns dismissed as "less on this topic"
    muted: list[np.ndarray]  # per reader: columns by authors the reader asked to hear less from
    facets: list[list[FacetPart]] | None = None  # per reader: their interests (``selectors.facets``), when asked for


@dataclass(frozen=True)
class _Event:
    """One piece of a reader's feedback, placed in the served model: their row, the paper's column."""

    row: int
    column: int
    kind: str
    stars: int
    created: datetime


def readers_feedback(
    served: ServedModel,
    user_ids: list[int],
    now: float,
    *,
    feed_settings: dict[int, tuple[datetime | None, float | None]] | None = None,
    with_facets: bool = False,
) -> ReaderFeedback:
    """All feedback of ``user_ids`` (one query), folded into rows over the served model's columns, in named steps:
    the events and the dismissals' reasons, each reader's feed settings, the confidence rows that steer the feed
    (feedback since a reset), the papers seen (all feedback, reset or not), and what the reader did with each
    paper they wanted (for the reasons shown). ``feed_settings`` (user id -> (taste_since, cf_balance)) spares a query
    when the caller has the readers at hand; ``with_facets`` adds each reader's interests (one query more)."""
    row_of = {user_id: row for row, user_id in enumerate(user_ids)}
    events, avoided_topics, muted_authors = _feedback_events(served, user_ids, row_of)
    reset, balance = _feed_settings(user_ids, row_of, feed_settings)
    steering = [e for e in events if e.row not in reset or e.created >= reset[e.row]]
    weights = _confidence_rows(served, steering, len(user_ids), now)
    facets = None
    if with_facets:
        stored = stored_facets(user_ids)
        facets = [reader_facets(served, user_id, _wanted(weights, row), stored[user_id]) for row, user_id in enumerate(user_ids)]
    return ReaderFeedback(
        list(user_ids),
        weights,
        balance,
        _seen_columns(events, len(user_ids)),
        _verbs(steering, weights, len(user_ids)),
        [np.array(columns, dtype=np.int64) for columns in avoided_topics],
        _columns_by_authors(served, muted_authors),
        facets,
    )


def _wanted(weights: sparse.csr_matrix, row: int) -> np.ndarray:
    """The columns of a reader's wanted papers (their positive cells)."""
    start, end = weights.indptr[row], weights.indptr[row + 1]
    return weights.indices[start:end][weights.data[start:end] > 0]


def feedback_of_papers(
    served: ServedModel, papers: list[tuple[int, datetime]], now: float, *, verb: str, seen: np.ndarray | None = None
) -> ReaderFeedback:
    """One "reader" made of a set of papers (a collection): each (paper pk, when it was added) counts as saved; what
    the ranking leaves out is those papers and ``seen`` (columns)."""
    events = [_Event(0, column, Kind.SAVE, 0, added) for pk, added in papers if (column := served.column_of.get(pk)) is not None]
    weights = _confidence_rows(served, events, 1, now)
    columns = np.array(sorted({e.column for e in events}), dtype=np.int64)
    left_out = columns if seen is None else np.union1d(columns, seen)
    empty = np.zeros(0, dtype=np.int64)
    return ReaderFeedback([0], weights, np.array([np.nan]), [left_out], [dict.fromkeys(columns.tolist(), verb)], [empty], [empty])


def _feedback_events(
    served: ServedModel, user_ids: list[int], row_of: dict[int, int]
) -> tuple[list[_Event], list[list[int]], list[set[str]]]:
    """The readers' events on papers the served model has, the columns each dismissed as "less on this topic", and
    the authors each muted ("less from this author"; kept even for papers the model lacks)."""
    rows = Interaction.objects.filter(user_id__in=user_ids).values_list(
        "user_id", "paper_id", "kind", "value", "created", "reason", "author"
    )
    events: list[_Event] = []
    avoided_topics: list[list[int]] = [[] for _ in user_ids]
    muted_authors: list[set[str]] = [set() for _ in user_ids]
    for user_id, paper_id, kind, stars, created, reason, author in rows:  # a page's or a batch's readers: no server-side cursor
        row = row_of[user_id]
        if reason == Interaction.Reason.AUTHOR:
            muted_authors[row].add(author)
        column = served.column_of.get(paper_id)
        if column is None:
            continue
        events.append(_Event(row, column, kind, stars or 0, created))
        if reason == Interaction.Reason.TOPIC:
            avoided_topics[row].append(column)
    return events, avoided_topics, muted_authors


def _feed_settings(
    user_ids: list[int], row_of: dict[int, int], known: dict[int, tuple[datetime | None, float | None]] | None
) -> tuple[dict[int, datetime], np.ndarray]:
    """Per reader row: when they reset their personalisation (readers who did), and the collaborative share they
    chose (NaN for the tuned blend)."""
    reset: dict[int, datetime] = {}
    balance = np.full(len(user_ids), np.nan)
    if known is None:
        chosen = User.objects.filter(pk__in=user_ids).exclude(taste_since__isnull=True, cf_balance__isnull=True)
        known = {user_id: (since, share) for user_id, since, share in chosen.values_list("pk", "taste_since", "cf_balance")}
    for user_id, (since, share) in known.items():
        if since is not None:
            reset[row_of[user_id]] = since
        if share is not None:
            balance[row_of[user_id]] = share
    return reset, balance


def _confidence_rows(served: ServedModel, events: list[_Event], n_readers: int, now: float) -> sparse.csr_matrix:
    """(n_readers, n_items) the confidence matrix of ``events`` with the served model's feedback weights."""
    as_arrays = Events(
        [e.row for e in events],
        [e.column for e in events],
        [KIND_CODES[e.kind] for e in events],
        [e.stars for e in events],
        np.array([(now - e.created.timestamp()) / 86400.0 for e in events]),
    )
    return confidence_matrix(as_arrays, (n_readers, served.n_items), served.weights)


def _seen_columns(events: list[_Event], n_readers: int) -> list[np.ndarray]:
    """Per reader, the columns of every paper they gave any feedback on (before a reset too): never recommended."""
    seen: list[set[int]] = [set() for _ in range(n_readers)]
    for event in events:
        seen[event.row].add(event.column)
    return [np.array(sorted(columns), dtype=np.int64) for columns in seen]


def _verbs(events: list[_Event], weights: sparse.csr_matrix, n_readers: int) -> list[dict[int, str]]:
    """Per reader, what they did with each paper they want (positive cell): "liked", "saved", "rated 5★", "read";
    the strongest verb wins."""
    positive = [set(weights[row].indices[weights[row].data > 0].tolist()) for row in range(n_readers)]
    verbs: list[dict[int, str]] = [{} for _ in range(n_readers)]
    for kind in reversed(_VERB_ORDER):  # weakest first, so that stronger verbs overwrite
        for e in events:
            if e.kind == kind and e.column in positive[e.row] and (kind != Kind.RATE or e.stars >= 3):
                verbs[e.row][e.column] = f"rated {e.stars}★" if kind == Kind.RATE else _VERBS[kind]
    return verbs


def _columns_by_authors(served: ServedModel, authors_per_reader: list[set[str]]) -> list[np.ndarray]:
    """Per reader, the model's columns of papers written by any of that reader's muted authors (one query for all)."""
    wanted = set().union(*authors_per_reader)
    papers_by: dict[str, list[int]] = {name: [] for name in wanted}
    if wanted:
        for pk, authors in papers_by_any_author(names=wanted).values_list("pk", "authors"):
            for name in wanted.intersection(authors or ()):
                if pk in served.column_of:
                    papers_by[name].append(served.column_of[pk])
    return [np.array(sorted({c for name in names for c in papers_by[name]}), dtype=np.int64) for names in authors_per_reader]


class Reason(NamedTuple):
    """Which side put a paper on the page ("collaborative", "graph", "content" or "popular") and the reader's own
    paper (a column) behind it."""

    source: str
    because: int | None


POPULAR = Reason("popular", None)


@dataclass(frozen=True)
class Pick:
    """One recommended column for one reader, with the side that put it there and the reader's paper behind it."""

    column: int
    score: float
    source: str
    because: int | None
    interest: str | None = None


def rank_readers(
    served: ServedModel,
    feedback: ReaderFeedback,
    *,
    limit: int,
    offset: int = 0,
    now: float,
    exclude: list[np.ndarray] | None = None,
    new_since: np.ndarray | None = None,
    new_boost: float = 0.0,
    columns: np.ndarray | None = None,
    pool_size: int = CANDIDATE_POOL,
    breadth: float = 1.0,
    first_page: int = interests.FIRST_PAGE,
) -> list[list[Pick]]:
    """The blended ranking for each reader, in named steps: their feedback folded in (batched), their candidates
    (``engine.serving.candidates``: a few thousand papers whatever the catalogue's size), the blend over those,
    the topics and papers they asked to leave out, a pool of the best, the diversity re-rank and a reason for
    each pick.

    ``exclude`` adds columns to leave out per reader; papers added after ``new_since[row]`` (epoch seconds) get
    ``new_boost``; ``columns`` (sorted) limits the papers to those (a window of dates, followed categories).
    ``breadth`` (see ``engine.serving.candidates``): SHORT_LIST_BREADTH for a list that does not page (the weekly
    email); a feed's pages keep 1, so that each page is cut from the same ranking as the pages before it.
    ``first_page``: the papers a reader of several interests sees first, where each interest is sure of a few places
    (the feed's first page, whatever page size a request asks for; a list that does not page passes its length).
    """
    catalogue = served.catalogue
    if served.n_items == 0 or not feedback.user_ids:
        return [[] for _ in feedback.user_ids]
    allowed = None if columns is None else np.asarray(columns, dtype=np.int64)
    result = []
    plans = [_facet_rows(feedback, row) for row in range(len(feedback.user_ids))]
    everyone = serving_readers(catalogue, sparse.vstack([rows for rows, _ in plans]).tocsr())
    start = 0
    for row, (rows, labels) in enumerate(plans):
        parts = everyone[start : start + len(labels)]  # the reader, or each of their interests
        start += len(labels)
        columns_scored, scored = _reader_scores(served, parts, feedback.cf_balance[row], allowed, now, breadth)

        # what every interest's scores share: the boost of new papers, the topics and papers left out (-inf)
        shared = np.zeros(len(columns_scored), dtype=np.float32)
        if new_since is not None:
            shared[served.added[columns_scored] > new_since[row]] += np.float32(new_boost)
        shared[~served.recommendable[columns_scored]] = -np.inf
        shared = _without_what_the_reader_left_out(served, feedback, row, shared, columns_scored, exclude)
        by_facet = [part.blended + shared for part in scored]
        sizes = [float(len(label.columns)) if label is not None else 1.0 for label in labels]
        mine = interests.combined(np.vstack(by_facet), np.array(sizes)) if len(scored) > 1 else by_facet[0]
        wanted = max(offset + limit, first_page if len(scored) > 1 else 0)  # the first page is whole whatever is asked
        positions = _best_positions(mine, max(pool_size, 2 * wanted))
        ranked = positions[_diversified(served, columns_scored[positions], mine[positions], wanted, pool_size)]
        placed: dict[int, int] = {}
        if len(scored) > 1:  # each interest large enough is sure of a few places on the first page
            bests = [_best_positions(scores, interests.HEADS_PER_FACET) for scores in by_facet]
            ranked, placed = interests.page_floor(ranked, bests, sizes, page=first_page)
        chosen_positions = ranked[offset : offset + limit]
        owners = _owners(by_facet, sizes, chosen_positions, placed)
        chosen = columns_scored[chosen_positions]
        picks = []
        reasons = _reasons_by_facet(served, scored, rows, chosen, chosen_positions, owners)
        for j, p, owner, reason in zip(chosen, chosen_positions, owners, reasons):
            interest = labels[owner].label if labels[owner] is not None else None
            picks.append(Pick(int(j), float(mine[p]), reason.source, reason.because, interest=interest))
        result.append(picks)
    return result


def _facet_rows(feedback: ReaderFeedback, row: int) -> tuple[sparse.csr_matrix, list]:
    """A reader's feedback split by their visible interests: one row per facet and the facets; or, with fewer than
    two visible, their one row (less the hidden interests' papers) and [None]."""
    parts = feedback.facets[row] if feedback.facets is not None else []
    visible = [part for part in parts if not part.facet.hidden]
    mine = feedback.weights[row]
    if len(visible) < len(parts):  # the hidden interests' papers steer nothing
        mine = interests.facet_rows(mine, [np.concatenate([part.columns for part in visible] or [np.zeros(0, dtype=np.int64)])])
    if len(visible) > 1:
        return interests.facet_rows(mine, [part.columns for part in visible]), visible
    return mine, [None]


def _owners(by_facet: list[np.ndarray], sizes: list[float], positions: np.ndarray, placed: dict[int, int]) -> np.ndarray:
    """For each chosen position, the facet that put it there: the one it was given a place for, else the one whose
    weighted score of it is highest."""
    if len(by_facet) == 1:
        return np.zeros(len(positions), dtype=np.int64)
    stacked = np.vstack([scores[positions] for scores in by_facet]) * interests.blend_weights(np.array(sizes))[:, None]
    owners = np.argmax(np.where(np.isfinite(stacked), stacked, -np.inf), axis=0)
    return np.array([placed.get(int(p), int(o)) for p, o in zip(positions, owners)], dtype=np.int64)


def _reader_scores(
    served: ServedModel, parts: list[Reader], cf_balance: float, allowed: np.ndarray | None, now: float, breadth: float
) -> tuple[np.ndarray, list[BlendedScores]]:
    """The candidates, and the blended scores of a reader or of each of their interests (``parts``) over them (theirs
    together, of ``breadth``, see ``engine.serving.candidates``; within ``allowed``, when given; a small ``allowed``
    window is scored whole)."""
    if allowed is not None and len(allowed) <= SCORE_ALL_BELOW:
        columns = allowed
    else:
        columns = interests.candidates_of(served.catalogue, parts, recent=served.recent, breadth=breadth)
        if allowed is not None:
            columns = np.intersect1d(columns, allowed, assume_unique=True)
    return columns, score_many(
        served.catalogue,
        parts,
        columns,
        freshness=served.freshness_of(columns, now),
        cf_balance=cf_balance,
        popularity=served.popularity_of(columns),  # upvotes on the daily trending list count as readers, for readers who want nothing yet
    )


def _diversified(served: ServedModel, pool: np.ndarray, scores: np.ndarray, n: int, width: int) -> np.ndarray:
    """Positions in ``pool`` (best first) of the ``n`` papers to show: the first DIVERSIFIED (at most) re-ranked by
    maximal marginal relevance (``blend.diversify``) from the best ``width`` or twice as many, the rest in the order
    of their scores (deep pages cost no more than the first)."""
    head = min(n, DIVERSIFIED, len(pool))
    width = min(len(pool), max(2 * head, width))
    picked = diversify(np.arange(width), scores[:width], served.catalogue.vectors(pool[:width]), head, served.model.blend.diversity)
    rest = np.ones(len(pool), dtype=bool)
    rest[picked] = False
    return np.concatenate([picked, np.flatnonzero(rest)])[:n]


def _without_what_the_reader_left_out(
    served: ServedModel, feedback: ReaderFeedback, row: int, scores: np.ndarray, columns: np.ndarray, exclude: list[np.ndarray] | None
) -> np.ndarray:
    """One reader's scores over ``columns``: papers close to a topic they avoid sink, and the papers they have seen,
    the muted authors' and the caller's exclusions are out (-inf)."""
    mine = scores.copy()
    if len(feedback.avoided_topics[row]):
        mine -= TOPIC_AVOIDANCE * closeness(served.catalogue, columns, feedback.avoided_topics[row])
    left_out = np.concatenate([feedback.seen[row], feedback.muted[row], *([] if exclude is None else [exclude[row]])])
    mine[_positions_in(columns, left_out)] = -np.inf
    return mine


def _best_positions(scores: np.ndarray, wanted: int) -> np.ndarray:
    """Positions of the best ``wanted`` finite scores (at most MAX_POOL), best first; equal scores in the order of
    their positions, so that every page is cut from the same order."""
    pool = min(int(np.isfinite(scores).sum()), wanted, MAX_POOL)
    if pool == 0:
        return np.zeros(0, dtype=np.int64)
    positions = np.argpartition(-scores, pool - 1)[:pool]
    return positions[np.lexsort((positions, -scores[positions]))]


def closeness(catalogue, columns: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """(len(columns),) the highest text similarity (``Catalogue.similarity``: TF-IDF and meaning) of each column to any
    of the ``anchors`` (a product of the two small blocks of vectors)."""
    return catalogue.similarity(anchors, columns).max(axis=0)


def _positions_in(sorted_columns: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Positions in ``sorted_columns`` (ascending) of those ``wanted`` columns it contains."""
    if len(wanted) == 0 or len(sorted_columns) == 0:
        return np.array([], dtype=np.int64)
    positions = np.searchsorted(sorted_columns, wanted)
    positions = positions[positions < len(sorted_columns)]
    return positions[np.isin(sorted_columns[positions], wanted)]


def explained_papers(served: ServedModel, feedback: ReaderFeedback, picks: list[list[Pick]]) -> list[list[FeedItem]]:
    """Turn picks into FeedItems with their papers and reason texts (one query for all readers)."""
    wanted = {int(served.paper_pks[p.column]) for row in picks for p in row}
    wanted |= {int(served.paper_pks[p.because]) for row in picks for p in row if p.because is not None}
    papers = Paper.objects.in_bulk(list(wanted))
    items: list[list[FeedItem]] = []
    for row, row_picks in enumerate(picks):
        mine = []
        for pick in row_picks:
            paper = papers.get(int(served.paper_pks[pick.column]))
            if paper is None:  # deleted since the model was loaded
                continue
            because = papers.get(int(served.paper_pks[pick.because])) if pick.because is not None else None
            source = pick.source if because is not None else "popular"
            reason = _reason_text(source, because, feedback.verbs[row].get(pick.because))
            if pick.interest:
                reason = f"For your interest in “{pick.interest}”: {reason[0].lower()}{reason[1:]}"
            mine.append(FeedItem(paper, pick.score, reason, source, because, pick.interest))
        items.append(mine)
    return items


@dataclass(frozen=True)
class FeedPage:
    items: list[FeedItem]
    has_feedback: bool  # whether the reader has told us anything yet (else the page points to onboarding)
    interests: list[FacetPart] = ()  # the reader's facets, for the page's header


def feed_page_for_user(*, user: User, limit: int = 20, offset: int = 0, within_days: int | None = None) -> FeedPage:
    """The reader's next ``limit`` papers after ``offset``: blended, fresh-boosted, diversified, explained.

    ``within_days`` keeps only papers published (or, undated, added) in that many last days; a reader who follows
    arXiv categories gets only papers in them (and papers without categories).
    """
    served = store.current()
    if served is None:
        return _before_any_model(user=user, limit=limit, offset=offset)
    now = time.time()
    feedback = readers_feedback(served, [user.pk], now, feed_settings={user.pk: (user.taste_since, user.cf_balance)}, with_facets=True)
    has_feedback = bool(len(feedback.seen[0]) or len(feedback.muted[0]))
    columns = None if within_days is None else np.flatnonzero(served.born >= now - within_days * 86400)
    if user.categories:  # the reader follows some arXiv categories: papers in them (and papers without any)
        followed = served.columns_in(user.categories)
        columns = followed if columns is None else np.intersect1d(columns, followed)
    if columns is not None and len(columns) == 0:
        return FeedPage([], has_feedback, feedback.facets[0])
    picks = rank_readers(served, feedback, limit=limit, offset=offset, now=now, columns=columns)
    return FeedPage(explained_papers(served, feedback, picks)[0], has_feedback, feedback.facets[0])


def _before_any_model(*, user: User, limit: int, offset: int) -> FeedPage:
    """The feed while a web process has no model yet (a large catalogue before its first retrain, or the first
    seconds of a process): the trending papers, then the newest, less those the reader already gave feedback on."""
    seen = set(Interaction.objects.filter(user=user).values_list("paper_id", flat=True))
    return FeedPage(popular_items(exclude=seen, limit=limit, offset=offset), has_feedback=bool(seen))


def popular_items(*, exclude: set[int], limit: int, offset: int) -> list[FeedItem]:
    """Papers for a feed with no model to rank by: the trending papers, then the newest, less the pks ``exclude``."""
    wanted = offset + limit
    trending = papers_trending(limit=wanted, exclude=exclude)
    items = [FeedItem(paper, 0.0, "Trending: liked and read by many lately", "popular") for paper in trending]
    if len(items) < wanted:
        newest = papers_listed().exclude(pk__in=exclude | {p.pk for p in trending}).order_by(*NEWEST_ORDER)[: wanted - len(items)]
        items += [FeedItem(paper, 0.0, "New in the catalogue", "popular") for paper in newest]
    return items[offset:wanted]


def feed_for_user(*, user: User, limit: int = 20, offset: int = 0, within_days: int | None = None) -> list[FeedItem]:
    """The items of :func:`feed_page_for_user`."""
    return feed_page_for_user(user=user, limit=limit, offset=offset, within_days=within_days).items


def taste_scores(*, user: User, paper_pks: list[int]) -> dict[int, float]:
    """What the reader's model thinks of each of ``paper_pks`` (their standardised blended score, as the feed ranks by),
    for papers the served model has; {} when no model is served or the reader has told us nothing yet."""
    served = store.current()
    if served is None:
        return {}
    feedback = readers_feedback(served, [user.pk], time.time(), feed_settings={user.pk: (user.taste_since, user.cf_balance)})
    reader = serving_readers(served.catalogue, feedback.weights)[0]
    if reader.wanted == 0:
        return {}
    by_column = {column: pk for pk in paper_pks if (column := served.column_of.get(pk)) is not None}
    if not by_column:
        return {}
    columns = np.array(sorted(by_column), dtype=np.int64)
    scored = score(served.catalogue, reader, columns, cf_balance=feedback.cf_balance[0])
    return {by_column[int(column)]: float(value) for column, value in zip(columns, scored.blended)}


def _reasons_by_facet(
    served: ServedModel,
    scored: list[BlendedScores],
    rows: sparse.csr_matrix,
    columns: np.ndarray,
    positions: np.ndarray,
    owners: np.ndarray,
) -> list[Reason]:
    """:func:`_reasons` of each chosen paper, from the scores and the wanted papers of the feedback row (``rows``, one
    per interest, as :func:`_facet_rows` made them: hidden interests left out) that put it there."""
    reasons = [POPULAR] * len(columns)
    for owner in np.unique(owners):
        mine = np.flatnonzero(owners == owner)
        start, end = rows.indptr[owner], rows.indptr[owner + 1]
        positives = np.sort(rows.indices[start:end][rows.data[start:end] > 0])
        for i, reason in zip(mine, _reasons(served, positives, scored[owner], columns[mine], positions[mine])):
            reasons[i] = reason
    return reasons


def _reasons(served: ServedModel, positives: np.ndarray, scored: BlendedScores, columns: np.ndarray, positions: np.ndarray) -> list[Reason]:
    """For each chosen paper (``columns``, at ``positions`` in the scored columns): which side put it on the
    page ("collaborative", "graph", "content", "meaning" or "popular"), the one whose weighted score is largest, and
    the reader's own paper (of ``positives``, sorted columns) behind it."""
    catalogue = served.catalogue
    if len(positives) == 0 or len(columns) == 0:
        return [POPULAR] * len(columns)
    parts = scored.sides(positions)
    side = np.array(SIDES)[np.argmax(parts, axis=0)]
    text = np.where(parts[SIDES.index("meaning")] > parts[SIDES.index("content")], "meaning", "content")
    unknown = ~catalogue.known(columns)
    side[unknown] = text[unknown]  # a paper nobody wanted (mapped factors, not in the graph): its text put it there
    reasons = [POPULAR] * len(columns)
    graph_picks = np.flatnonzero(side == "graph")
    if len(graph_picks):
        in_graph = positives[positives < catalogue.n_base]
        best, strength = strongest_link(served.model.graph, in_graph, columns[graph_picks])
        for i, b, s in zip(graph_picks, best, strength):
            if s > 0:
                reasons[i] = Reason("graph", int(in_graph[b]))
            else:
                side[i] = "collaborative"
    cf_picks, content_picks = np.flatnonzero(side == "collaborative"), np.flatnonzero(side == "content")
    if len(cf_picks):
        cosines = catalogue.unit_factors(positives) @ catalogue.unit_factors(columns[cf_picks]).T  # (positives, picks)
        for i, best in zip(cf_picks, np.argmax(cosines, axis=0)):
            reasons[i] = Reason("collaborative", int(positives[best]))
    if len(content_picks):
        sims = np.asarray((catalogue.vectors(positives) @ catalogue.vectors(columns[content_picks]).T).todense())
        for i, best, top in zip(content_picks, np.argmax(sims, axis=0), sims.max(axis=0)):
            if top > 0:
                reasons[i] = Reason("content", int(positives[best]))
    meaning_picks = np.flatnonzero(side == "meaning")
    if len(meaning_picks) and catalogue.meaning_rows is not None:
        cosines = np.asarray(catalogue.meaning_rows[positives] @ catalogue.meaning_rows[columns[meaning_picks]].T, dtype=np.float32)
        cosines[catalogue.meaning_missing(positives)] = -np.inf  # a paper without its vector yet is never the reason
        for i, best, top in zip(meaning_picks, np.argmax(cosines, axis=0), cosines.max(axis=0)):
            if np.isfinite(top):
                reasons[i] = Reason("meaning", int(positives[best]))
    return reasons


def _reason_text(reason: str, because: Paper | None, verb: str | None) -> str:
    if reason == "collaborative" and because:
        return f"Readers who liked “{because.title}”, which you {verb or 'liked'}, also liked this"
    if reason == "graph" and because:
        return f"Often saved together with “{because.title}”, which you {verb or 'liked'}"
    if reason == "content" and because:
        return f"Similar to “{because.title}”, which you {verb or 'liked'}"
    if reason == "meaning" and because:
        return f"Close in meaning to “{because.title}”, which you {verb or 'liked'}"
    return "New and popular"
