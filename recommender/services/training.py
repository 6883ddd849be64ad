"""Retraining the recommender: claim a run, fit on everything but a hold-out of recent feedback,
measure, write the artifact atomically, and activate it only if it is not clearly worse."""

import logging
import traceback
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from recommender.engine.artifacts import save_artifact
from recommender.engine.blend import BlendParams, top_k
from recommender.engine.collaborative import ALSParams
from recommender.engine.evaluation import is_relevant, metrics, subset
from recommender.engine.matrix import FeedbackWeights
from recommender.engine.pipeline import fit_hybrid
from recommender.models import TrainingRun
from recommender.selectors.training import TrainingSnapshot, training_snapshot

log = logging.getLogger(__name__)
Status = TrainingRun.Status


class RetrainAlreadyRunning(Exception):
    """Another retrain holds the claim; this one did nothing."""


def als_params() -> ALSParams:
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
    return FeedbackWeights(half_life_days=settings.FEEDBACK_HALF_LIFE_DAYS or None)


def training_run_claim() -> TrainingRun:
    """Start a run, or raise RetrainAlreadyRunning. A run left ``running`` by a dead worker is closed first."""
    stale = timezone.now() - timedelta(minutes=settings.RETRAIN_STALE_MINUTES)
    TrainingRun.objects.filter(status=Status.RUNNING, started_at__lt=stale).update(
        status=Status.FAILED, finished_at=timezone.now(), message="Abandoned: the worker stopped before the run finished."
    )
    now = timezone.now()
    version = now.strftime("%Y%m%dT%H%M%S%fZ")
    try:
        with transaction.atomic():
            return TrainingRun.objects.create(version=version, started_at=now)
    except IntegrityError:
        running = TrainingRun.objects.filter(status=Status.RUNNING).first()
        since = f" since {running.started_at:%Y-%m-%d %H:%M:%S} UTC" if running else ""
        raise RetrainAlreadyRunning(f"A retrain is already running{since}; nothing was started.") from None


def recent_holdout(snapshot: TrainingSnapshot, *, max_users: int, seed: int) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Each sampled reader's most recent wanted paper, held out: (training mask over events, row -> held-out columns).

    Readers qualify with at least three wanted papers, so something is left to learn them from.
    """
    events = snapshot.events
    wanted = is_relevant(events)
    users, items, stamps = events.users[wanted], events.items[wanted], snapshot.created[wanted]
    pair_keys = np.unique(np.stack([users, items], axis=1), axis=0)
    counts = np.bincount(pair_keys[:, 0], minlength=len(snapshot.user_pks))
    eligible = np.flatnonzero(counts >= 3)
    if len(eligible) == 0 or max_users == 0:
        return np.ones(len(events.users), dtype=bool), {}
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(eligible, size=min(max_users, len(eligible)), replace=False))
    latest: dict[int, tuple[float, int]] = {}
    in_sample = np.isin(users, chosen)
    for u, i, t in zip(users[in_sample], items[in_sample], stamps[in_sample]):
        if t >= latest.get(int(u), (-np.inf, -1))[0]:
            latest[int(u)] = (float(t), int(i))
    held = {(u, i) for u, (_, i) in latest.items()}
    mask = np.fromiter(((int(u), int(i)) not in held for u, i in zip(events.users, events.items)), dtype=bool, count=len(events.users))
    return mask, {u: np.array([i]) for u, (_, i) in latest.items()}


def retrain(*, on_stage: Callable[[str], None] | None = None) -> TrainingRun:
    """Run one retrain end to end and return its TrainingRun (activated, rejected or failed)."""
    run = training_run_claim()
    stage = on_stage or (lambda name: None)
    try:
        _train(run, stage)
    except Exception as exc:  # the run row must say what happened; the active model stays as it was
        log.exception("retrain %s failed", run.version)
        run.status = Status.FAILED
        run.message = f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc(limit=8)}"
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "message", "finished_at"])
    return run


def _train(run: TrainingRun, stage: Callable[[str], None]) -> None:
    clock = timezone.now()
    stage("extracting feedback from the database")
    snapshot = training_snapshot()
    extract_seconds = (timezone.now() - clock).total_seconds()
    als, blend, weights = als_params(), BlendParams(), feedback_weights()
    run.parameters = {"als": als.as_dict(), "blend": blend.as_dict(), "weights": {"half_life_days": weights.half_life_days}}
    run.sizes = {"papers": len(snapshot.paper_pks), "users": len(snapshot.user_pks), "interactions": len(snapshot.events.users)}
    run.save(update_fields=["parameters", "sizes"])

    mask, holdout = recent_holdout(snapshot, max_users=settings.HOLDOUT_USERS, seed=settings.RANDOM_SEED)
    stage("fitting the collaborative and content models")
    fit = fit_hybrid(subset(snapshot.events, mask), n_users=len(snapshot.user_pks), texts=snapshot.texts, weights=weights, als=als, blend=blend)
    timings = {"extract": round(extract_seconds, 3), **fit.timings}

    stage("evaluating on recent feedback")
    clock = timezone.now()
    run.metrics = holdout_metrics(fit, holdout)
    timings["evaluate"] = round((timezone.now() - clock).total_seconds(), 3)

    stage("writing the model file")
    clock = timezone.now()
    relative = f"{run.version}.npz"
    size = save_artifact(
        Path(settings.MODEL_DIR) / relative, model=fit.model, item_ids=snapshot.paper_ids, encoder=fit.encoder, weights=weights,
        meta={"version": run.version, "trained_at": run.started_at.isoformat()},
    )
    timings["artifact"] = round((timezone.now() - clock).total_seconds(), 3)
    run.artifact = relative
    run.timings = timings
    run.sizes = {**run.sizes, "nonzeros": int(fit.confidence.nnz), "artifact_bytes": size, "holdout_users": len(holdout)}
    run.save(update_fields=["metrics", "timings", "artifact", "sizes"])
    stage("activating")
    training_run_activate(run)


def holdout_metrics(fit, holdout: dict[int, np.ndarray]) -> dict:
    """recall@20 and nDCG@20 of the blend on the held-out papers (empty when nothing was held out)."""
    if not holdout:
        return {}
    users = np.array(sorted(holdout))
    ranked = []
    for start in range(0, len(users), 512):
        rows = users[start : start + 512]
        weights = fit.confidence[rows]
        ranked.append(top_k(fit.model.scores(weights), 100, exclude=weights))
    result = metrics(np.vstack(ranked), [holdout[u] for u in users])
    return {key: round(value, 4) if isinstance(value, float) else value for key, value in result.items()}


@transaction.atomic
def training_run_activate(run: TrainingRun) -> TrainingRun:
    """Make ``run`` the served model unless its hold-out recall is clearly below the active model's."""
    active = TrainingRun.objects.select_for_update().filter(is_active=True).first()
    new, old = run.metrics.get("recall@20"), (active.metrics.get("recall@20") if active else None)
    least = settings.ACTIVATION_MIN_HOLDOUT_USERS
    enough = run.metrics.get("users", 0) >= least and active is not None and active.metrics.get("users", 0) >= least
    if enough and new is not None and old is not None and new < old * (1 - settings.ACTIVATION_TOLERANCE):
        run.status = Status.REJECTED
        run.message = (
            f"Not activated: hold-out recall@20 {new:.4f} is more than {settings.ACTIVATION_TOLERANCE:.0%} below "
            f"the active model's {old:.4f} ({active.version}); the site keeps serving that one."
        )
    else:
        if active:
            active.is_active = False
            active.save(update_fields=["is_active"])
        run.status = Status.ACTIVATED
        run.is_active = True
        run.message = "First model: activated." if active is None else f"Activated in place of {active.version}."
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "is_active", "message", "finished_at"])
    return run
