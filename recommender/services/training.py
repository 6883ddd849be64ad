"""Retraining the recommender: claim a run, fit on everything but a hold-out of recent feedback,
measure, write the artifact atomically, and activate it only if it is not clearly worse."""

import logging
import os
import socket
import threading
import traceback
from collections.abc import Callable
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import numpy as np
from scipy import sparse
from django.conf import settings
from django.utils.module_loading import import_string
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from recommender.engine.artifacts import Artifact, load_artifact, save_artifact
from recommender.engine.content import TfidfEncoder
from recommender.engine.blend import BlendParams, top_k
from recommender.engine.collaborative import ALSParams
from recommender.engine.evaluation import is_relevant, metrics, rank_users, ranked_in_chunks, subset
from recommender.engine.matrix import Events, FeedbackWeights, confidence_matrix
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


def claimant() -> str:
    """Who is running a retrain: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _claimant_is_dead(claimed_by: str) -> bool:
    """True when ``claimed_by`` names a process on this host that no longer exists."""
    host, _, pid = claimed_by.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _abandoned_because(run: TrainingRun, now) -> str:
    stale = timedelta(seconds=settings.RETRAIN_STALE_SECONDS)
    if run.status == Status.RUNNING:
        if run.claimed_by and _claimant_is_dead(run.claimed_by):
            return f"Abandoned: the process running it ({run.claimed_by}) died."
        if (run.heartbeat_at or run.started_at) < now - stale:
            return f"Abandoned: no heartbeat for more than {settings.RETRAIN_STALE_SECONDS} seconds."
    if run.status == Status.QUEUED and run.requested_at < now - timedelta(seconds=settings.RETRAIN_QUEUED_TIMEOUT):
        return f"Abandoned: no worker picked it up within {settings.RETRAIN_QUEUED_TIMEOUT} seconds."
    return ""


def training_runs_close_abandoned() -> int:
    """Fail in-progress runs whose process died, went silent, or were never picked up; returns how many."""
    now = timezone.now()
    closed = 0
    for run in TrainingRun.objects.filter(in_progress=True):
        reason = _abandoned_because(run, now)
        if reason:
            closed += TrainingRun.objects.filter(pk=run.pk, in_progress=True, claimed_by=run.claimed_by, status=run.status).update(
                status=Status.FAILED, in_progress=False, finished_at=now, message=reason
            )
    return closed


def _new_run(status: str) -> TrainingRun:
    """Create a run holding the one-at-a-time claim, or raise RetrainAlreadyRunning."""
    training_runs_close_abandoned()
    now = timezone.now()
    fields = {"claimed_by": claimant(), "attempts": 1, "heartbeat_at": now} if status == Status.RUNNING else {}
    try:
        with transaction.atomic():
            return TrainingRun.objects.create(version=now.strftime("%Y%m%dT%H%M%S%fZ"), status=status, requested_at=now, started_at=now, **fields)
    except IntegrityError:
        busy = TrainingRun.objects.filter(in_progress=True).first()
        what = f" ({busy.version}, {busy.status} since {busy.requested_at:%Y-%m-%d %H:%M:%S} UTC)" if busy else ""
        raise RetrainAlreadyRunning(f"A retrain is already queued or running{what}; nothing was started.") from None


def training_run_claim() -> TrainingRun:
    """Start a run in this process now, or raise RetrainAlreadyRunning."""
    return _new_run(Status.RUNNING)


def retrain_request() -> TrainingRun:
    """Queue a retrain for the training worker (sent when the transaction commits), or raise RetrainAlreadyRunning.

    If the broker is unreachable the run stays queued and ``training_requeue_pending`` sends it later.
    """
    run = _new_run(Status.QUEUED)
    transaction.on_commit(lambda: _send(run.pk))
    return run


def _send(run_id: int) -> bool:
    from kombu.exceptions import OperationalError as BrokerError

    from tasks.training import retrain_run

    try:
        retrain_run.apply_async(args=[run_id], retry=False)
    except BrokerError as exc:
        log.warning("broker unreachable (%s): training run %s stays queued and is sent when it returns", exc, run_id)
        return False
    return True


def training_requeue_pending(*, older_than_seconds: int = 60) -> int:
    """Send again the queued runs whose message may have been lost (broker down or restarted); returns how many.

    Sending twice is harmless: a run is started only from the queued state, by one worker.
    """
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    pending = TrainingRun.objects.filter(status=Status.QUEUED, in_progress=True, requested_at__lte=cutoff).values_list("pk", flat=True)
    return sum(_send(pk) for pk in pending)


def training_run_start(run_id: int) -> TrainingRun | None:
    """Take a queued run (or resume one whose process died) for this process; None if another has it."""
    run = TrainingRun.objects.filter(pk=run_id, in_progress=True).first()
    if run is None:
        return None
    now = timezone.now()
    silent = (run.heartbeat_at or run.started_at) < now - timedelta(seconds=settings.RETRAIN_STALE_SECONDS)
    resumable = run.status == Status.QUEUED or (run.status == Status.RUNNING and (_claimant_is_dead(run.claimed_by) or silent))
    if not resumable:
        return None
    if run.attempts >= settings.RETRAIN_MAX_ATTEMPTS:
        TrainingRun.objects.filter(pk=run.pk, in_progress=True, claimed_by=run.claimed_by).update(
            status=Status.FAILED, in_progress=False, finished_at=now,
            message=f"Gave up after {run.attempts} attempts: the process running it died each time (out of memory?).",
        )
        return None
    taken = TrainingRun.objects.filter(pk=run.pk, status=run.status, claimed_by=run.claimed_by, in_progress=True).update(
        status=Status.RUNNING, claimed_by=claimant(), attempts=run.attempts + 1, started_at=now, heartbeat_at=now,
        message="" if run.status == Status.QUEUED else f"Resumed after the process running it ({run.claimed_by}) died or went silent.",
    )
    return TrainingRun.objects.get(pk=run.pk) if taken else None


def recent_holdout(snapshot: TrainingSnapshot, *, max_users: int, seed: int) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Each sampled reader's most recent wanted paper, held out: (training mask over events, row -> held-out columns).

    Readers qualify with at least three wanted papers, so something is left to learn them from.
    """
    events = snapshot.events
    wanted = is_relevant(events)
    users, items, stamps = events.users[wanted], events.items[wanted], snapshot.created[wanted]
    n_items = max(len(snapshot.paper_pks), 1)
    pair_keys = np.unique(users * n_items + items)  # each (reader, paper) once
    counts = np.bincount(pair_keys // n_items, minlength=len(snapshot.user_pks))
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
    held = np.array([u * n_items + i for u, (_, i) in latest.items()], dtype=np.int64)
    mask = ~np.isin(events.users * n_items + events.items, held)
    return mask, {u: np.array([i]) for u, (_, i) in latest.items()}


def retrain(*, on_stage: Callable[[str], None] | None = None) -> TrainingRun:
    """Run one retrain in this process, end to end; returns its TrainingRun (activated, rejected or failed)."""
    run = training_run_claim()
    _execute(run, on_stage or (lambda name: None))
    return run


def training_run_execute(*, run_id: int) -> TrainingRun | None:
    """Run the queued retrain ``run_id`` (the worker's entry point); None when it is not this process's to run."""
    run = training_run_start(run_id)
    if run is None:
        log.info("training run %s is not queued or resumable here; nothing to do", run_id)
        return None
    _execute(run, lambda stage: log.info("training run %s: %s", run.version, stage))
    return run


def _execute(run: TrainingRun, stage: Callable[[str], None]) -> None:
    try:
        with _heartbeat(run.pk):
            _train(run, stage)
    except Exception as exc:  # the run row must say what happened; the active model stays as it was
        log.exception("retrain %s failed", run.version)
        TrainingRun.objects.filter(pk=run.pk, in_progress=True, claimed_by=run.claimed_by).update(
            status=Status.FAILED, message=f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc(limit=8)}",
            finished_at=timezone.now(), in_progress=False,
        )
        run.refresh_from_db()


@contextmanager
def _heartbeat(run_id: int):
    """While the block runs, a thread stamps ``heartbeat_at`` every RETRAIN_HEARTBEAT_SECONDS."""
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(settings.RETRAIN_HEARTBEAT_SECONDS):
                try:
                    TrainingRun.objects.filter(pk=run_id, in_progress=True).update(heartbeat_at=timezone.now())
                except DatabaseError:
                    log.warning("training run %s: heartbeat not recorded", run_id, exc_info=True)
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name=f"heartbeat-{run_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


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
    clock = timezone.now()
    active = active_artifact()
    reused = reusable_content(snapshot, active[1]) if active else None
    reuse_seconds = (timezone.now() - clock).total_seconds()
    stage("fitting the collaborative and content models")
    fit = fit_hybrid(
        subset(snapshot.events, mask), n_users=len(snapshot.user_pks), texts=snapshot.texts, weights=weights, als=als, blend=blend,
        factorize=import_string(settings.ALS_TRAINER), encoder=reused[0] if reused else None, content=reused[1] if reused else None,
    )
    timings = {"extract": round(extract_seconds, 3), "content_reuse": round(reuse_seconds, 3), **fit.timings}
    run.sizes = {**run.sizes, "content_reused": reused is not None}

    stage("evaluating on recent feedback")
    clock = timezone.now()
    run.metrics = holdout_metrics(fit, holdout)
    previous = active_model_on_holdout(snapshot, mask, holdout, weights, active) if active else None
    if previous is not None:
        run.metrics["active_model"] = previous  # the served model, scored on this run's hold-out
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


EVALUATION_CHUNK = 256  # readers scored at once


def _evaluation_threads() -> int:
    return als_params().num_threads or os.cpu_count() or 1  # as many cores as ALS uses


def holdout_metrics(fit, holdout: dict[int, np.ndarray]) -> dict:
    """recall@20 and nDCG@20 of the blend on the held-out papers (empty when nothing was held out)."""
    if not holdout:
        return {}
    users = np.array(sorted(holdout))
    ranked = rank_users(fit, users, methods=("blend",), batch=EVALUATION_CHUNK, threads=_evaluation_threads())["blend"]
    result = metrics(ranked, [holdout[u] for u in users])
    return {key: round(value, 4) if isinstance(value, float) else value for key, value in result.items()}


def active_artifact() -> tuple[str, Artifact] | None:
    """The version and artifact of the active model; None when there is none or its file cannot be read."""
    active = TrainingRun.objects.filter(is_active=True).values_list("version", "artifact").first()
    if active is None:
        return None
    try:
        return active[0], load_artifact(Path(settings.MODEL_DIR) / active[1])
    except ValueError:
        log.warning("active model %s: its file cannot be read", active[0])
        return None


def reusable_content(snapshot: TrainingSnapshot, previous: Artifact) -> tuple[TfidfEncoder, sparse.csr_matrix] | None:
    """The previous model's encoder and TF-IDF rows, for papers it has seen, with new papers encoded by that
    encoder: content features are not recomputed every night. None (refit everything) when more than
    CONTENT_REFIT_SHARE of the papers are new to it, so the vocabulary follows the catalogue."""
    if previous.encoder.terms is None or len(previous.encoder.terms) == 0 or not len(snapshot.paper_ids):
        return None
    old_row = previous.index_of()
    rows = np.array([old_row.get(paper_id, -1) for paper_id in snapshot.paper_ids], dtype=np.int64)
    new = np.flatnonzero(rows < 0)
    if len(new) > settings.CONTENT_REFIT_SHARE * len(rows):
        return None
    seen = np.flatnonzero(rows >= 0)
    parts = [previous.model.content[rows[seen]]]
    if len(new):
        parts.append(previous.encoder.transform([snapshot.texts[i] for i in new]))
    stacked = sparse.vstack(parts, format="csr")
    order = np.empty(len(rows), dtype=np.int64)
    order[np.concatenate([seen, new])] = np.arange(len(rows))
    return previous.encoder, stacked[order].astype(np.float32)


def active_model_on_holdout(
    snapshot: TrainingSnapshot, mask: np.ndarray, holdout: dict[int, np.ndarray], weights: FeedbackWeights, active: tuple[str, Artifact]
) -> dict | None:
    """The active model's recall@20 and nDCG@20 on this run's hold-out, so the two are compared on the same readers.

    Its papers are matched by id; a held-out paper it has never seen counts as a miss. None when there is no hold-out.
    """
    if not holdout:
        return None
    version, artifact = active
    column_of = {str(paper_id): j for j, paper_id in enumerate(artifact.item_ids)}
    to_old = np.array([column_of.get(paper_id, -1) for paper_id in snapshot.paper_ids], dtype=np.int64)
    users = np.array(sorted(holdout))
    row_of = np.full(len(snapshot.user_pks), -1, dtype=np.int64)
    row_of[users] = np.arange(len(users))
    events = subset(snapshot.events, mask)
    keep = (row_of[events.users] >= 0) & (to_old[events.items] >= 0)
    kept = subset(events, keep)
    matrix = confidence_matrix(
        Events(row_of[kept.users], to_old[kept.items], kept.kinds, kept.values, kept.ages_days), (len(users), len(artifact.item_ids)), weights
    )
    model = artifact.model
    ranked = ranked_in_chunks(
        lambda chunk: top_k(model.scores(chunk), 100, exclude=chunk), matrix, batch=EVALUATION_CHUNK, threads=_evaluation_threads()
    )
    truth = [np.array([to_old[i] for i in holdout[u]]) for u in users]  # -1 (unknown to the old model) never matches
    result = metrics(ranked, truth)
    return {"version": version, **{key: round(value, 4) if isinstance(value, float) else value for key, value in result.items()}}


@transaction.atomic
def training_run_activate(run: TrainingRun) -> TrainingRun:
    """Make ``run`` the served model unless its hold-out recall is clearly below the active model's.

    Nothing happens if ``run`` no longer holds its claim (it was closed as abandoned meanwhile).
    """
    if not TrainingRun.objects.select_for_update().filter(pk=run.pk, in_progress=True, claimed_by=run.claimed_by).exists():
        log.warning("training run %s lost its claim before activation; not activated", run.version)
        run.refresh_from_db()
        return run
    active = TrainingRun.objects.select_for_update().filter(is_active=True).first()
    new = run.metrics.get("recall@20")
    same_holdout = run.metrics.get("active_model", {})
    if active is not None and same_holdout.get("version") == active.version:
        old, where = same_holdout.get("recall@20"), "on the same hold-out"
    else:  # the active model could not be scored on this hold-out: fall back to its own
        old, where = (active.metrics.get("recall@20") if active else None), "on its own hold-out"
    least = settings.ACTIVATION_MIN_HOLDOUT_USERS
    enough = run.metrics.get("users", 0) >= least and active is not None and active.metrics.get("users", 0) >= least
    if enough and new is not None and old is not None and new < old * (1 - settings.ACTIVATION_TOLERANCE):
        run.status = Status.REJECTED
        outcome = (
            f"Not activated: hold-out recall@20 {new:.4f} is more than {settings.ACTIVATION_TOLERANCE:.0%} below "
            f"the active model's {old:.4f} {where} ({active.version}); the site keeps serving that one."
        )
    else:
        if active:
            active.is_active = False
            active.save(update_fields=["is_active"])
        run.status = Status.ACTIVATED
        run.is_active = True
        outcome = "First model: activated." if active is None else f"Activated in place of {active.version}."
    run.message = f"{run.message} {outcome}".strip()  # keeps an earlier note, such as a resume after a crash
    run.finished_at = timezone.now()
    run.in_progress = False
    run.save(update_fields=["status", "is_active", "message", "finished_at", "in_progress"])
    return run
