"""The offline protocols run as the nightly retrain runs: the TF-IDF vocabulary fitted on the papers known at
training time, the parameters searched on a validation split of the training part (never the test part), then
one fit and every method ranked. Shared by ``manage.py evaluate`` and the benchmarks. No Django here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from recommender.engine.evaluation import Dataset, EvaluationResult, content_as_served, run_evaluation
from recommender.engine.matrix import Events, FeedbackWeights
from recommender.engine.tuning import Parameters, TuningResult, tune


def evaluate_as_served(
    dataset: Dataset,
    train: Events,
    truth: dict[int, np.ndarray],
    *,
    parameters: Parameters,
    candidates: np.ndarray | None = None,
    search_seconds: float | None = None,
    pinned: frozenset[str] = frozenset(),
    weights: FeedbackWeights = FeedbackWeights(),
    k: int = 100,
    seed: int = 0,
    threads: int = 1,
    on_progress: Callable[[str], None] = lambda message: None,
    meaning: np.ndarray | None = None,
) -> tuple[EvaluationResult, Parameters, TuningResult | None]:
    """Fit on ``train`` and score every method on ``truth``. ``candidates`` are the papers held out as new (cold
    protocol): they are not in the catalogue when the vocabulary is fitted, and only they are ranked. With
    ``search_seconds`` the parameters are first searched from ``parameters`` (see ``engine.tuning.tune``).
    ``meaning`` (n_items, d): the papers' meaning vectors (a fourth signal), or None for TF-IDF alone."""
    known = np.ones(len(dataset.item_ids), dtype=bool)
    if candidates is not None:
        known[candidates] = False
    encoder, content = content_as_served(dataset.texts, known)
    tuning = None
    if search_seconds is not None:
        tuning = tune(
            train,
            n_users=len(dataset.user_ids),
            content=content,
            start=parameters,
            pinned=pinned,
            weights=weights,
            budget_seconds=search_seconds,
            threads=threads,
            seed=seed + 1,
            on_progress=on_progress,
            meaning=meaning,
        )
        parameters = tuning.chosen
    fit_options = {
        "als": parameters.als,
        "graph": parameters.graph,
        "blend": parameters.blend,
        "weights": weights,
        "encoder": encoder,
        "content": content,
        "meaning": meaning,
    }
    result = run_evaluation(dataset, train, truth, candidates=candidates, k=k, fit_options=fit_options)
    return result, parameters, tuning
