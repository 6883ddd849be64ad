"""Which parameters tonight's retrain uses: last search's choice, or a new search when one is due.

A search (``engine.tuning.tune``) runs on a validation split of the night's training data, never on the gate
readers. It is due when no activated run has searched yet, when the last search is TUNING_EVERY_DAYS old, or
when the trained feedback has grown by TUNING_GROWTH since. Values set in the environment are pinned.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.utils import timezone
from scipy import sparse

from recommender.engine.blend import BlendParams
from recommender.engine.collaborative import ALSParams
from recommender.engine.graph import GraphParams
from recommender.engine.matrix import Events, FeedbackWeights
from recommender.engine.tuning import TUNABLE, Parameters, WarmStart, tune
from recommender.models import TrainingRun


def als_params() -> ALSParams:
    """The ALS parameters the settings give."""
    return ALSParams(
        factors=settings.ALS_FACTORS,
        regularization=settings.ALS_REGULARIZATION,
        iterations=settings.ALS_ITERATIONS,
        alpha=settings.ALS_ALPHA,
        use_gpu=settings.ALS_USE_GPU,
        num_threads=settings.ALS_NUM_THREADS,
        random_state=settings.RANDOM_SEED,
    )


def feedback_weights() -> FeedbackWeights:
    """How much each kind of feedback counts, with the settings' decay."""
    return FeedbackWeights(half_life_days=settings.FEEDBACK_HALF_LIFE_DAYS or None)


def parameters_from_settings() -> Parameters:
    """The starting point the settings give (the defaults, or what the environment sets)."""
    blend = BlendParams(
        cf_weight=settings.BLEND_CF_WEIGHT,
        graph_share=settings.BLEND_GRAPH_SHARE,
        cold_cf_weight=settings.BLEND_COLD_CF_WEIGHT,
        map_regularization=settings.BLEND_MAP_REGULARIZATION,
        meaning_map_regularization=settings.BLEND_MEANING_MAP_REGULARIZATION,
        diversity=settings.BLEND_DIVERSITY,
        meaning_share=settings.BLEND_MEANING_SHARE,
    )
    graph = GraphParams(alpha=settings.GRAPH_ALPHA, beta=settings.GRAPH_BETA, neighbours=settings.GRAPH_NEIGHBOURS)
    return Parameters(als=als_params(), graph=graph, blend=blend)


def pinned_parameters() -> frozenset[str]:
    """The names (engine.tuning.TUNABLE) whose setting is given in the environment: never searched."""
    return frozenset(settings.TUNING_PINNED)


def _last_search() -> TrainingRun | None:
    return TrainingRun.objects.filter(status=TrainingRun.Status.ACTIVATED, tuning__searched=True).order_by("-started_at", "-pk").first()


def last_choice() -> tuple[Parameters, TrainingRun | None]:
    """The parameters of the newest activated run that recorded a choice (searched or reused), with the pinned
    values of the settings applied, and that run (None: the settings' own starting point)."""
    base = parameters_from_settings()
    run = TrainingRun.objects.filter(status=TrainingRun.Status.ACTIVATED).exclude(tuning={}).order_by("-started_at", "-pk").first()
    chosen = (run.tuning.get("chosen") or {}) if run else {}
    pinned = pinned_parameters()
    changes = {name: value for name, value in chosen.items() if name in TUNABLE and name not in pinned}
    return base.changed(changes), run if changes else None


def search_due(trained_interactions: int) -> str:
    """Why tonight should search ("" when it should not)."""
    if settings.TUNING_BUDGET_SECONDS <= 0:
        return ""
    last = _last_search()
    if last is None:
        return "no search yet"
    age = timezone.now() - last.started_at
    if age >= timedelta(days=settings.TUNING_EVERY_DAYS):
        return f"the last search ({last.version}) is {age.days} days old"
    then = last.sizes.get("trained_interactions") or 0
    if then and trained_interactions >= then * (1 + settings.TUNING_GROWTH):
        return f"the trained feedback grew from {then:,} to {trained_interactions:,} since the last search ({last.version})"
    return ""


def training_parameters(
    *,
    events: Events,
    n_users: int,
    content: sparse.csr_matrix,
    weights: FeedbackWeights,
    threads: int,
    on_progress: Callable[[str], None] = lambda message: None,
    meaning: np.ndarray | None = None,
    meaning_missing: np.ndarray | None = None,
) -> tuple[Parameters, dict, WarmStart | None]:
    """Tonight's parameters, the record of how they were chosen (``TrainingRun.tuning``) and, after a search, the
    chosen ALS as fitted on its validation split (tonight's fit starts from it: a third of the iterations)."""
    start, source = last_choice()
    pinned = sorted(pinned_parameters())
    reason = search_due(len(events.users))
    origin = source.version if source else "settings"
    if not reason:
        why = "searching is off (TUNING_BUDGET_SECONDS=0)" if settings.TUNING_BUDGET_SECONDS <= 0 else "no search due"
        return (
            start,
            {"searched": False, "reason": f"{why}: the choice of {origin}", "chosen": start.tunable_values(), "pinned": pinned},
            None,
        )
    result = tune(
        events,
        n_users=n_users,
        content=content,
        start=start,
        pinned=frozenset(pinned),
        budget_seconds=settings.TUNING_BUDGET_SECONDS,
        budget_fits=settings.TUNING_BUDGET_FITS,
        weights=weights,
        readers=settings.TUNING_READERS,
        threads=threads,
        seed=settings.RANDOM_SEED + 1,
        on_progress=on_progress,
        meaning=meaning,
        meaning_missing=meaning_missing,
    )
    chosen = dataclasses.replace(result.chosen, als=dataclasses.replace(result.chosen.als, iterations=start.als.iterations))
    record = {**result.as_dict(), "why": reason, "started_from": origin, "pinned": pinned}
    if result.warm_start is not None:
        record["warm_start_iterations"] = result.warm_start.iterations
    return chosen, record, result.warm_start
