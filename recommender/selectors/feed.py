"""A reader's personalised feed and a paper's neighbours, with a reason for every pick.

The reader's feedback is read live from the database and folded into the served model on
every request, so a like, rating or dismissal changes the very next feed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from accounts.models import User
from recommender.engine.blend import diversify
from recommender.engine.content import similar_items
from recommender.engine.matrix import KIND_CODES, Events, confidence_matrix
from recommender.model_store import ServedModel, store
from recommender.models import Interaction, Paper

Kind = Interaction.Kind
_VERB_ORDER = [(Kind.LIKE, "liked"), (Kind.SAVE, "saved"), (Kind.RATE, "rated highly"), (Kind.READ, "read")]
CANDIDATE_POOL = 200


@dataclass(frozen=True)
class FeedItem:
    paper: Paper
    score: float
    reason: str
    source: str  # "content", "collaborative" or "popular"
    because: Paper | None = None


@dataclass
class ReaderFeedback:
    """A reader's feedback as one row over the served model's columns."""

    weights: sparse.csr_matrix  # (1, n_items)
    seen: np.ndarray  # columns with any feedback, excluded from recommendations
    verbs: dict[int, str]  # positive column -> what the reader did with it


def reader_feedback(served: ServedModel, user: User, now: float) -> ReaderFeedback:
    rows = list(Interaction.objects.filter(user=user).values_list("paper_id", "kind", "value", "created"))
    known = [(served.column_of[pid], kind, value or 0, created) for pid, kind, value, created in rows if pid in served.column_of]
    n_items = served.model.n_items
    if not known:
        return ReaderFeedback(sparse.csr_matrix((1, n_items), dtype=np.float32), np.array([], dtype=np.int64), {})
    columns = np.array([k[0] for k in known])
    events = Events(
        np.zeros(len(known)), columns, [KIND_CODES[k[1]] for k in known], [k[2] for k in known],
        np.array([(now - k[3].timestamp()) / 86400.0 for k in known]),
    )
    weights = confidence_matrix(events, (1, n_items), served.weights)
    positive = set(weights.indices[weights.data > 0].tolist())
    verbs: dict[int, str] = {}
    for kind, verb in reversed(_VERB_ORDER):
        for column, k, value, _ in known:
            if k == kind and column in positive and (kind != Kind.RATE or value >= 3):
                verbs[column] = verb if kind != Kind.RATE else f"rated {value}★"
    return ReaderFeedback(weights, np.unique(columns), verbs)


def feed_for_user(*, user: User, limit: int = 20, offset: int = 0) -> list[FeedItem]:
    """The reader's next ``limit`` papers after ``offset``: blended, fresh-boosted, diversified, explained."""
    served = store.current()
    model = served.model
    if model.n_items == 0:
        return []
    now = time.time()
    feedback = reader_feedback(served, user, now)
    parts = model.score_parts(feedback.weights, freshness=served.freshness(now))
    scores = parts["blended"][0].copy()
    scores[feedback.seen] = -np.inf
    scores[served.paper_pks < 0] = -np.inf
    available = int(np.isfinite(scores).sum())
    pool = min(available, max(CANDIDATE_POOL, 2 * (offset + limit)))
    if pool == 0:
        return []
    candidates = np.argpartition(-scores, pool - 1)[:pool]
    candidates = candidates[np.argsort(-scores[candidates])]
    ranked = diversify(candidates, scores[candidates], model.content, offset + limit, model.blend.diversity)[offset:]
    explained = [(int(j), *_reason(served, feedback, parts, int(j))) for j in ranked]
    wanted = {int(served.paper_pks[j]) for j, _, because in explained} | {
        int(served.paper_pks[because]) for _, _, because in explained if because is not None
    }
    papers = Paper.objects.in_bulk(list(wanted))
    items = []
    for j, source, because_column in explained:
        because = papers.get(int(served.paper_pks[because_column])) if because_column is not None else None
        reason = _reason_text(source, because, feedback.verbs.get(because_column))
        items.append(FeedItem(papers[int(served.paper_pks[j])], float(scores[j]), reason, source if because or source == "popular" else "popular", because))
    return items


def _reason(served: ServedModel, feedback: ReaderFeedback, parts: dict, column: int) -> tuple[str, int | None]:
    """Which side put ``column`` on the page ("content", "collaborative" or "popular") and the reader's paper behind it."""
    model = served.model
    positives = np.array(sorted(feedback.verbs))
    if len(positives) == 0:
        return "popular", None
    w = parts["w_cf"][0, column]
    cf_part, content_part = w * parts["z_cf"][0, column], (1 - w) * parts["z_content"][0, column]
    if cf_part > content_part and model.known_items[column]:
        factors = model.item_factors
        norms = np.linalg.norm(factors[positives], axis=1) * (np.linalg.norm(factors[column]) or 1.0)
        cosines = factors[positives] @ factors[column] / np.where(norms > 0, norms, 1.0)
        return "collaborative", int(positives[int(np.argmax(cosines))])
    sims = np.asarray((model.content[positives] @ model.content[column].T).todense()).ravel()
    if sims.size and sims.max() > 0:
        return "content", int(positives[int(np.argmax(sims))])
    return "popular", None


def _reason_text(reason: str, because: Paper | None, verb: str | None) -> str:
    if reason == "collaborative" and because:
        return f"Readers who liked “{because.title}”, which you {verb or 'liked'}, also liked this"
    if reason == "content" and because:
        return f"Similar to “{because.title}”, which you {verb or 'liked'}"
    return "New and popular"


@dataclass(frozen=True)
class Neighbours:
    similar: list[Paper]  # by content
    also_liked: list[Paper]  # by readers' feedback (collaborative)


def paper_neighbours(*, paper: Paper, limit: int = 5) -> Neighbours:
    """Papers close to ``paper`` by content, and papers its readers also liked."""
    served = store.current()
    column = served.column_of.get(paper.pk)
    if column is None:
        return Neighbours([], [])
    model = served.model
    similar_columns, _ = similar_items(model.content, column, limit + 5)
    also: list[int] = []
    if model.known_items[column] and served.version:
        factors = model.item_factors
        norms = np.linalg.norm(factors, axis=1) * (np.linalg.norm(factors[column]) or 1.0)
        cosines = np.where(model.known_items, factors @ factors[column] / np.where(norms > 0, norms, 1.0), -np.inf)
        cosines[column] = -np.inf
        also = [int(j) for j in np.argsort(-cosines)[: limit + 5] if np.isfinite(cosines[j])]
    pks = {int(served.paper_pks[j]) for j in [*similar_columns, *also] if served.paper_pks[j] >= 0}
    papers = Paper.objects.in_bulk(list(pks))

    def pick(columns) -> list[Paper]:
        found = [papers.get(int(served.paper_pks[j])) for j in columns]
        return [p for p in found if p is not None][:limit]

    similar = pick(similar_columns)
    return Neighbours(similar, [p for p in pick(also) if p not in similar][:limit])
