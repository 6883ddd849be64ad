"""A reader's personalised feed and a paper's neighbours, with a reason for every pick.

The reader's feedback is read live from the database and folded into the served model on
every request, so a like, rating or dismissal changes the very next feed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from scipy import sparse

from accounts.models import User
from recommender.engine.blend import HybridModel, diversify, standardize
from recommender.engine.graph import strongest_link
from recommender.engine.matrix import KIND_CODES, Events, confidence_matrix
from recommender.model_store import ServedModel, store
from recommender.models import Interaction, Paper
from recommender.selectors.papers import papers_by_any_author

Kind = Interaction.Kind
_VERB_ORDER = [(Kind.LIKE, "liked"), (Kind.SAVE, "saved"), (Kind.RATE, "rated highly"), (Kind.READ, "read")]
CANDIDATE_POOL = 200
MAX_POOL = 2000  # the diversity re-rank is quadratic in the pool
ONBOARDING_POOL = 300  # the most-known papers the rating round is drawn from
ONBOARDING_NOVELTY = 3.0  # how strongly the round avoids topics the reader already picked
ONBOARDING_SPREAD = 3.0  # diversity trade-off within the round (the feed's is BLEND_DIVERSITY)
TOPIC_AVOIDANCE = 20.0  # score taken off per unit of similarity to a paper dismissed as "less on this topic"


@dataclass(frozen=True)
class FeedItem:
    paper: Paper
    score: float
    reason: str
    source: str  # "content", "collaborative", "graph" or "popular"
    because: Paper | None = None


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


@dataclass(frozen=True)
class _Event:
    """One piece of a reader's feedback, placed in the served model: their row, the paper's column."""

    row: int
    column: int
    kind: str
    stars: int
    created: datetime


def readers_feedback(
    served: ServedModel, user_ids: list[int], now: float, *, feed_settings: dict[int, tuple[datetime | None, float | None]] | None = None
) -> ReaderFeedback:
    """All feedback of ``user_ids`` (one query), folded into rows over the served model's columns, in named steps:
    the events and the dismissals' reasons, each reader's feed settings, the confidence rows that steer the feed
    (feedback since a reset), the papers seen (all feedback, reset or not), and what the reader did with each
    paper they wanted (for the reasons shown). ``feed_settings`` (user id -> (taste_since, cf_balance)) spares a query
    when the caller has the readers at hand."""
    row_of = {user_id: row for row, user_id in enumerate(user_ids)}
    events, avoided_topics, muted_authors = _feedback_events(served, user_ids, row_of)
    reset, balance = _feed_settings(user_ids, row_of, feed_settings)
    steering = [e for e in events if e.row not in reset or e.created >= reset[e.row]]
    weights = _confidence_rows(served, steering, len(user_ids), now)
    return ReaderFeedback(
        list(user_ids),
        weights,
        balance,
        _seen_columns(events, len(user_ids)),
        _verbs(steering, weights, len(user_ids)),
        [np.array(columns, dtype=np.int64) for columns in avoided_topics],
        _columns_by_authors(served, muted_authors),
    )


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
    for user_id, paper_id, kind, stars, created, reason, author in rows.iterator(chunk_size=20_000):
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
    return confidence_matrix(as_arrays, (n_readers, served.model.n_items), served.weights)


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
    for kind, verb in reversed(_VERB_ORDER):  # weakest first, so that stronger verbs overwrite
        for e in events:
            if e.kind == kind and e.column in positive[e.row] and (kind != Kind.RATE or e.stars >= 3):
                verbs[e.row][e.column] = verb if kind != Kind.RATE else f"rated {e.stars}★"
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


@dataclass(frozen=True)
class Pick:
    """One recommended column for one reader, with the side that put it there and the reader's paper behind it."""

    column: int
    score: float
    source: str
    because: int | None


def rank_readers(
    served: ServedModel,
    feedback: ReaderFeedback,
    *,
    limit: int,
    offset: int = 0,
    now: float,
    exclude: list[np.ndarray] | None = None,
    boost: np.ndarray | None = None,
    columns: np.ndarray | None = None,
    pool_size: int = CANDIDATE_POOL,
) -> list[list[Pick]]:
    """The blended ranking for each reader: scored together (batched), then per reader the topics and papers they
    asked to leave out, a pool of the best, the diversity re-rank, and a reason for each pick.

    ``exclude`` adds columns to leave out per reader; ``boost`` (n_readers, n_items) is added to the
    scores; ``columns`` limits the candidates to those papers (all papers when None).
    """
    model = served.model
    if model.n_items == 0 or not feedback.user_ids:
        return [[] for _ in feedback.user_ids]
    pool_columns = np.arange(model.n_items) if columns is None else np.asarray(columns, dtype=np.int64)
    parts = model.score_parts(
        feedback.weights,
        freshness=served.freshness(now),
        columns=None if columns is None else pool_columns,
        cf_balance=feedback.cf_balance,
        popularity=served.popularity,  # upvotes on the daily trending list count as readers, for readers who wanted nothing yet
    )
    scores = parts["blended"]
    if boost is not None:
        scores = scores + (boost if columns is None else boost[:, pool_columns])
    scores[:, ~served.recommendable[pool_columns]] = -np.inf
    result = []
    for row in range(len(feedback.user_ids)):
        mine = _without_what_the_reader_left_out(served, feedback, row, scores[row], pool_columns, columns, exclude)
        positions = _best_positions(mine, max(pool_size, 2 * (offset + limit)))
        chosen = diversify(pool_columns[positions], mine[positions], model.content, offset + limit, model.blend.diversity)[offset:]
        position_of = {int(pool_columns[p]): int(p) for p in positions}
        chosen_positions = np.array([position_of[int(j)] for j in chosen], dtype=np.int64)
        reasons = _reasons(served, feedback, parts, row, chosen, chosen_positions)
        result.append([Pick(int(j), float(mine[p]), *reason) for j, p, reason in zip(chosen, chosen_positions, reasons)])
    return result


def _without_what_the_reader_left_out(
    served: ServedModel,
    feedback: ReaderFeedback,
    row: int,
    scores: np.ndarray,
    pool_columns: np.ndarray,
    columns: np.ndarray | None,
    exclude: list[np.ndarray] | None,
) -> np.ndarray:
    """One reader's scores over ``pool_columns``: papers close to a topic they avoid sink, and the papers they have
    seen, the muted authors' and the caller's exclusions are out (-inf)."""
    mine = scores.copy()
    if len(feedback.avoided_topics[row]):
        mine -= TOPIC_AVOIDANCE * _closeness(served.model, None if columns is None else pool_columns, feedback.avoided_topics[row])
    left_out = np.concatenate([feedback.seen[row], feedback.muted[row], *([] if exclude is None else [exclude[row]])])
    mine[_positions_in(pool_columns, left_out)] = -np.inf
    return mine


def _best_positions(scores: np.ndarray, wanted: int) -> np.ndarray:
    """Positions of the best ``wanted`` finite scores (at most MAX_POOL, for the quadratic re-rank), best first."""
    pool = min(int(np.isfinite(scores).sum()), wanted, MAX_POOL)
    if pool == 0:
        return np.zeros(0, dtype=np.int64)
    positions = np.argpartition(-scores, pool - 1)[:pool]
    return positions[np.argsort(-scores[positions])]


def _closeness(model: HybridModel, columns: np.ndarray | None, anchors: np.ndarray) -> np.ndarray:
    """(len(columns),) the highest content similarity of each column (every paper when None) to any of the ``anchors``,
    through the model's kept term-by-paper matrix (no pass to transpose the catalogue's vectors)."""
    sims = (model.content[anchors] @ model.content_by_term).tocsc()  # (anchors, papers), sparse
    if columns is not None:
        sims = sims[:, columns]
    return np.asarray(sims.max(axis=0).todense()).ravel()


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
            mine.append(FeedItem(paper, pick.score, reason, source, because))
        items.append(mine)
    return items


@dataclass(frozen=True)
class FeedPage:
    items: list[FeedItem]
    has_feedback: bool  # whether the reader has told us anything yet (else the page points to onboarding)


def feed_page_for_user(*, user: User, limit: int = 20, offset: int = 0, within_days: int | None = None) -> FeedPage:
    """The reader's next ``limit`` papers after ``offset``: blended, fresh-boosted, diversified, explained.

    ``within_days`` keeps only papers published (or, undated, added) in that many last days; a reader who follows
    arXiv categories gets only papers in them (and papers without categories).
    """
    served = store.current()
    now = time.time()
    feedback = readers_feedback(served, [user.pk], now, feed_settings={user.pk: (user.taste_since, user.cf_balance)})
    has_feedback = bool(len(feedback.seen[0]) or len(feedback.muted[0]))
    columns = None if within_days is None else np.flatnonzero(served.born >= now - within_days * 86400)
    if user.categories:  # the reader follows some arXiv categories: papers in them (and papers without any)
        followed = served.columns_in(user.categories)
        columns = followed if columns is None else np.intersect1d(columns, followed)
    if columns is not None and len(columns) == 0:
        return FeedPage([], has_feedback)
    picks = rank_readers(served, feedback, limit=limit, offset=offset, now=now, columns=columns)
    return FeedPage(explained_papers(served, feedback, picks)[0], has_feedback)


def feed_for_user(*, user: User, limit: int = 20, offset: int = 0, within_days: int | None = None) -> list[FeedItem]:
    """The items of :func:`feed_page_for_user`."""
    return feed_page_for_user(user=user, limit=limit, offset=offset, within_days=within_days).items


def _reasons(
    served: ServedModel, feedback: ReaderFeedback, parts: dict, row: int, columns: np.ndarray, positions: np.ndarray
) -> list[tuple[str, int | None]]:
    """For each chosen paper (``columns``, at ``positions`` in the scored columns): which side put it on the
    page ("collaborative", "graph", "content" or "popular"), the one whose weighted score is largest, and the
    reader's own paper behind it."""
    model = served.model
    positives = np.array(sorted(feedback.verbs[row]), dtype=np.int64)
    if len(positives) == 0 or len(columns) == 0:
        return [("popular", None)] * len(columns)
    w, g = parts["w_cf"][row, positions], parts["g"][positions]
    sides = [w * (1 - g) * parts["z_als"][row, positions], (1 - w) * parts["z_content"][row, positions]]
    if parts["z_graph"] is not None:
        sides.append(w * g * parts["z_graph"][row, positions])
    side = np.argmax(np.vstack(sides), axis=0)  # 0: ALS, 1: content, 2: the item-item graph
    side[(side == 0) & ~model.known_items[columns]] = 1  # a paper nobody wanted has only mapped factors: its content put it there
    reasons: list[tuple[str, int | None]] = [("popular", None)] * len(columns)
    graph_picks = np.flatnonzero(side == 2)
    if len(graph_picks):
        best, strength = strongest_link(model.graph, positives, columns[graph_picks])
        for i, b, s in zip(graph_picks, best, strength):
            if s > 0:
                reasons[i] = ("graph", int(positives[b]))
            else:
                side[i] = 0
    cf_picks, content_picks = np.flatnonzero(side == 0), np.flatnonzero(side == 1)
    if len(cf_picks):
        cosines = model.unit_factors_of(positives) @ model.unit_factors_of(columns[cf_picks]).T  # (positives, picks)
        for i, best in zip(cf_picks, np.argmax(cosines, axis=0)):
            reasons[i] = ("collaborative", int(positives[best]))
    if len(content_picks):
        sims = np.asarray((model.content[positives] @ model.content[columns[content_picks]].T).todense())
        for i, best, top in zip(content_picks, np.argmax(sims, axis=0), sims.max(axis=0)):
            if top > 0:
                reasons[i] = ("content", int(positives[best]))
    return reasons


def _reason_text(reason: str, because: Paper | None, verb: str | None) -> str:
    if reason == "collaborative" and because:
        return f"Readers who liked “{because.title}”, which you {verb or 'liked'}, also liked this"
    if reason == "graph" and because:
        return f"Often saved together with “{because.title}”, which you {verb or 'liked'}"
    if reason == "content" and because:
        return f"Similar to “{because.title}”, which you {verb or 'liked'}"
    return "New and popular"


def onboarding_round(*, user: User, size: int = 8) -> list[Paper]:
    """Papers worth asking a new reader to rate: each answer should teach us the most.

    Papers many readers have feedback on (the collaborative model knows them well), spread
    over topics unlike each other and unlike what the reader has already picked, so the round
    is not just the most popular papers of one field.
    """
    served = store.current()
    model = served.model
    feedback = readers_feedback(served, [user.pk], time.time())
    candidates = np.setdiff1d(np.flatnonzero(served.recommendable), feedback.seen[0])
    if len(candidates) == 0:
        return []
    popularity = standardize(model.popularity[candidates][None, :].astype(np.float64))[0]  # of log(1 + readers)
    picked = np.array(sorted(feedback.verbs[0]), dtype=np.int64)
    if len(picked):
        popularity -= ONBOARDING_NOVELTY * _closeness(model, candidates, picked)
    pool = candidates[np.argsort(-popularity)[: min(len(candidates), ONBOARDING_POOL)]]
    chosen = diversify(pool, popularity[np.searchsorted(candidates, pool)], model.content, size, ONBOARDING_SPREAD)
    papers = Paper.objects.in_bulk([int(served.paper_pks[c]) for c in chosen])
    return [papers[int(served.paper_pks[c])] for c in chosen if int(served.paper_pks[c]) in papers]


@dataclass(frozen=True)
class Neighbours:
    similar: list[Paper]  # by content
    also_liked: list[Paper]  # by readers' feedback (collaborative)


def _most_similar(model: HybridModel, column: int, n: int) -> np.ndarray:
    """The ``n`` columns closest in content to ``column`` (itself left out), best first, through the kept term-by-paper
    matrix (one sparse row product)."""
    sims = np.asarray((model.content[column] @ model.content_by_term).todense()).ravel()
    sims[column] = 0.0
    positive = np.flatnonzero(sims > 0)
    return positive[np.argsort(-sims[positive], kind="stable")][:n]


def paper_neighbours(*, paper: Paper, limit: int = 5) -> Neighbours:
    """Papers close to ``paper`` by content, and papers its readers also liked (its item-item neighbours, else the
    papers closest to it in the factor space)."""
    served = store.current()
    column = served.column_of.get(paper.pk)
    if column is None:
        return Neighbours([], [])
    model = served.model
    similar_columns = _most_similar(model, column, limit + 5)
    also: list[int] = []
    if model.graph is not None and model.graph[column].nnz:  # its kept item-item neighbours: papers often saved with it
        row = model.graph[column]
        also = [int(j) for j in row.indices[np.argsort(-row.data, kind="stable")][: limit + 5]]
    elif model.known_items[column] and served.version:
        unit = model.unit_factors_of(np.array([column]))[0]
        cosines = np.where(model.known_items, (model.item_factors @ unit) / model.factor_norms, -np.inf)
        cosines[column] = -np.inf
        also = [int(j) for j in np.argsort(-cosines)[: limit + 5] if np.isfinite(cosines[j])]
    pks = {int(served.paper_pks[j]) for j in [*similar_columns, *also] if served.recommendable[j]}
    papers = Paper.objects.in_bulk(list(pks))

    def pick(columns) -> list[Paper]:
        found = [papers.get(int(served.paper_pks[j])) for j in columns]
        return [p for p in found if p is not None][:limit]

    similar = pick(similar_columns)
    return Neighbours(similar, [p for p in pick(also) if p not in similar][:limit])
