"""Fitting the whole hybrid model from feedback events and paper texts, with stage timings."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from recommender.engine.blend import BlendParams, HybridModel, content_to_factor_map, mapped_factors
from recommender.engine.collaborative import ALSParams, als_fit
from recommender.engine.content import TfidfEncoder
from recommender.engine.graph import GraphParams, rp3beta_neighbours
from recommender.engine.matrix import Events, FeedbackWeights, confidence_matrix

MAP_MIN_READERS = 2  # a paper teaches the content-to-factor map only when this many readers wanted it


@dataclass
class FitResult:
    model: HybridModel
    confidence: sparse.csr_matrix  # (n_users, n_items) training weights, before alpha
    encoder: TfidfEncoder
    known_items: np.ndarray  # (n_items,) bool: papers some reader wanted in training (the others' factors are mapped)
    timings: dict[str, float] = field(default_factory=dict)


def fit_hybrid(
    events: Events,
    *,
    n_users: int,
    texts: list[str],
    weights: FeedbackWeights = FeedbackWeights(),
    als: ALSParams = ALSParams(),
    blend: BlendParams = BlendParams(),
    encoder: TfidfEncoder | None = None,
    content: sparse.csr_matrix | None = None,
    graph: GraphParams | None = GraphParams(),
    factorize: Callable[[sparse.csr_matrix, ALSParams], tuple[np.ndarray, np.ndarray]] = als_fit,
    meaning: np.ndarray | None = None,
    meaning_missing: np.ndarray | None = None,
) -> FitResult:
    """Build the confidence matrix, fit ALS, the item-item graph (unless ``graph`` is None) and the content model,
    map content into the factor space. ``meaning`` (n_items, d) float16: the papers' meaning vectors, embedded by the
    caller (``engine.meaning``), or None for TF-IDF alone.

    ``factorize`` is the seam for another ALS trainer (a cluster's, say): it takes the (n_users, n_items)
    confidence CSR and the parameters and returns user and item factors, as ``als_fit`` does.
    """
    n_items = len(texts)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[stage] = round(now - clock, 3)
        clock = now

    confidence = confidence_matrix(events, (n_users, n_items), weights)
    lap("matrix")
    if content is None or encoder is None:  # else: the caller's rows, encoded by the caller's (already fitted) encoder
        encoder = encoder or TfidfEncoder()
        content = encoder.fit_transform(texts)
    lap("content")
    if confidence.nnz:
        _, item_factors = factorize(confidence, als)
    else:
        item_factors = np.zeros((n_items, als.factors), dtype=np.float32)
    lap("als")
    neighbours = rp3beta_neighbours(confidence, graph, seed=als.random_state) if graph is not None else None
    lap("graph")
    model = hybrid_model(
        confidence,
        content,
        item_factors,
        als=als,
        blend=blend,
        graph=neighbours,
        graph_params=graph,
        meaning=meaning,
        meaning_missing=meaning_missing,
    )
    lap("content_map")
    return FitResult(model=model, confidence=confidence, encoder=encoder, known_items=model.known_items, timings=timings)


def hybrid_model(
    confidence: sparse.csr_matrix,
    content: sparse.csr_matrix,
    item_factors: np.ndarray,
    *,
    als: ALSParams,
    blend: BlendParams,
    graph: sparse.csr_matrix | None,
    graph_params: GraphParams | None,
    content_map: np.ndarray | None = None,
    meaning: np.ndarray | None = None,
    meaning_missing: np.ndarray | None = None,
    words_map: bool = True,
) -> HybridModel:
    """The served model from its fitted parts: ALS ``item_factors`` (n_items, f) from ``confidence`` (n_users, n_items),
    TF-IDF ``content``, the meaning vectors (or None) and the item-item ``graph``; papers nobody wanted get factors
    mapped from their content and meaning (``content_map`` when the caller has fitted it, else fitted here)."""
    wanted_by = np.asarray((confidence > 0).sum(axis=0), dtype=np.float32).ravel()  # readers who wanted each paper
    known = wanted_by > 0  # their ALS factors are served; the others' are predicted from their content
    teachers = wanted_by >= MAP_MIN_READERS
    if content_map is None:  # a placeholder vector teaches the meaning stage nothing
        content_map = content_to_factor_map(
            content, item_factors, teachers if meaning_missing is None else teachers & ~meaning_missing, blend, meaning
        )
    by_words = None
    if meaning is not None and words_map:  # for papers whose meaning vector has not come yet (new, or over the limit)
        by_words = content_to_factor_map(content, item_factors, teachers, blend)
    item_factors = item_factors.copy()
    unknown = np.flatnonzero(~known)
    unknown_meaning = None if meaning is None else meaning[unknown]
    item_factors[unknown] = mapped_factors(
        content_map,
        content[unknown],
        unknown_meaning,
        item_factors.shape[1],
        words_map=by_words,
        missing=None if meaning_missing is None else meaning_missing[unknown],
    )
    return HybridModel(
        item_factors=item_factors,
        content=content,
        popularity=np.log1p(wanted_by),
        known_items=known,
        als=als,
        blend=blend,
        content_map=content_map,
        graph=graph,
        graph_params=graph_params,
        meaning=meaning,
        meaning_missing=meaning_missing,
        words_map=by_words,
    )
