"""Retraining the recommender: claim a run, fit on everyone's feedback but the gate readers', score the new
and the active model on feedback neither has seen, write the artifact atomically, activate the new one
unless it is clearly worse, and delete model files no longer needed."""

import functools
import logging
import os
import threading
import time
import traceback
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from scipy import sparse

from recommender.engine.artifacts import Artifact, aligned_model, load_artifact, save_artifact
from recommender.engine.blend import HybridModel
from recommender.engine.collaborative import als_fit
from recommender.engine.content import TfidfEncoder
from recommender.engine.evaluation import metrics, readers_per_chunk, recall_per_reader, subset
from recommender.engine.gate import (
    ALL_TIME,
    GateDecision,
    Holdout,
    build_holdout,
    factor_problems,
    fit_problem,
    gate_decision,
    gate_hash,
    holdout_ranking,
    readers_needed,
    training_sample,
)
from recommender.engine.matrix import Events, FeedbackWeights
from recommender.engine.pipeline import FitResult, fit_hybrid
from recommender.engine.tuning import Parameters, outside_search
from recommender.model_files import local_folder, model_folder, model_remove, model_upload, remove_local
from recommender.models import TrainingRun
from recommender.selectors.training import TrainingSnapshot, training_snapshot
from recommender.services.claims import claim_create, claim_update, claimant, claimant_is_dead
from recommender.services.meaning import catalogue_meaning
from recommender.services.meaning import encoder as meaning_encoder
from recommender.services.tuning import als_params, feedback_weights, training_parameters

log = logging.getLogger(__name__)
Status = TrainingRun.Status


class RetrainAlreadyRunning(Exception):
    """Another retrain holds the claim; this one did nothing."""


class ClaimLost(Exception):
    """The run no longer holds its claim (closed as abandoned, or resumed by another process): it writes nothing more."""


def _save_claimed(run: TrainingRun, fields: list[str]) -> None:
    """Save ``fields`` of ``run`` only while it still holds its claim (in progress, claimed by this process)."""
    if not claim_update(run, **{name: getattr(run, name) for name in fields}):
        raise ClaimLost(f"Training run {run.version} lost its claim; it stops without writing to its row.")


def _abandoned_because(run: TrainingRun, now) -> str:
    stale = timedelta(seconds=settings.RETRAIN_STALE_SECONDS)
    if run.status == Status.RUNNING:
        if run.claimed_by and claimant_is_dead(run.claimed_by):
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

    def busy() -> RetrainAlreadyRunning:
        running = TrainingRun.objects.filter(in_progress=True).first()
        what = f" ({running.version}, {running.status} since {running.requested_at:%Y-%m-%d %H:%M:%S} UTC)" if running else ""
        return RetrainAlreadyRunning(f"A retrain is already queued or running{what}; nothing was started.")

    version = now.strftime("%Y%m%dT%H%M%S%fZ")
    return claim_create(TrainingRun, busy, version=version, status=status, requested_at=now, started_at=now, **fields)


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
    resumable = run.status == Status.QUEUED or (run.status == Status.RUNNING and (claimant_is_dead(run.claimed_by) or silent))
    if not resumable:
        return None
    if run.attempts >= settings.RETRAIN_MAX_ATTEMPTS:
        TrainingRun.objects.filter(pk=run.pk, in_progress=True, claimed_by=run.claimed_by).update(
            status=Status.FAILED,
            in_progress=False,
            finished_at=now,
            message=f"Gave up after {run.attempts} attempts: the process running it died each time (out of memory?).",
        )
        return None
    taken = TrainingRun.objects.filter(pk=run.pk, status=run.status, claimed_by=run.claimed_by, in_progress=True).update(
        status=Status.RUNNING,
        claimed_by=claimant(),
        attempts=run.attempts + 1,
        started_at=now,
        heartbeat_at=now,
        message="" if run.status == Status.QUEUED else f"Resumed after the process running it ({run.claimed_by}) died or went silent.",
    )
    return TrainingRun.objects.get(pk=run.pk) if taken else None


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
    except ClaimLost as exc:  # another process owns the row now; it says what happened
        log.warning("%s", exc)
        run.refresh_from_db()
    except Exception as exc:  # the run row must say what happened; the active model stays as it was
        log.exception("retrain %s failed", run.version)
        TrainingRun.objects.filter(pk=run.pk, in_progress=True, claimed_by=run.claimed_by).update(
            status=Status.FAILED,
            message=f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc(limit=8)}",
            finished_at=timezone.now(),
            in_progress=False,
        )
        run.refresh_from_db()
    try:
        model_files_prune()
    except (OSError, DatabaseError):
        log.warning("old model files not pruned", exc_info=True)


def model_files_prune() -> list[str]:
    """Delete model files no longer needed; returns their names. Kept: the active model's and those of the
    MODEL_FILES_KEEP newest other activated runs (to go back to). Deleted: files of rejected and failed runs,
    of older models, and half-written files of runs that ended. Each run whose file went records when."""
    folder = Path(settings.MODEL_DIR)
    done = TrainingRun.objects.filter(in_progress=False, artifact_deleted_at__isnull=True).exclude(artifact="")
    previous = done.filter(status=Status.ACTIVATED, is_active=False).order_by("-started_at", "-pk").values_list("pk", flat=True)
    keep = {*done.filter(is_active=True).values_list("pk", flat=True), *previous[: settings.MODEL_FILES_KEEP]}
    deleted = []
    for run in done.exclude(pk__in=keep):
        if model_remove(run.artifact):
            TrainingRun.objects.filter(pk=run.pk).update(artifact_deleted_at=timezone.now())
            deleted.append(run.artifact)
    running = set(TrainingRun.objects.filter(in_progress=True).values_list("version", flat=True))
    for partial in folder.glob(".*.tmp") if folder.is_dir() else []:
        if not any(partial.name.startswith(f".{name}.") for name in running):  # save_artifact's temporary name
            remove_local(partial)
            deleted.append(partial.name)
    if deleted:
        log.info("deleted model files no longer needed: %s", ", ".join(deleted))
    return deleted


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


@dataclass
class ActiveModel:
    """The served model as a retrain sees it: its run, its artifact, and which feedback it has not seen."""

    run: TrainingRun
    artifact: Artifact

    @property
    def gate_share(self) -> float:
        return _gate_share(self.run)


def _gate_share(run: TrainingRun) -> float:
    """The share of readers ``run``'s model was not trained on (0 for models from before the gate readers)."""
    return float(run.parameters.get("gate", {}).get("reader_share", 0.0))


@contextmanager
def _timed(timings: dict[str, float], name: str):
    """Add the seconds the block takes to ``timings[name]``."""
    started = time.perf_counter()
    yield
    timings[name] = round(time.perf_counter() - started, 3)


@dataclass
class _Extracted:
    """What the retrain works on: the database's feedback and papers, which readers are the gate's, and what is trained."""

    snapshot: TrainingSnapshot
    reader_hash: np.ndarray  # (n_users,) in [0, 1): readers below the gate share are never trained on
    share: float
    trained: Events


def _train(run: TrainingRun, stage: Callable[[str], None]) -> None:
    """The nightly pipeline, one named stage after another; each stage's seconds go to ``run.timings``."""
    timings: dict[str, float] = {}
    weights = feedback_weights()
    stage("extracting feedback from the database")
    with _timed(timings, "extract"):
        data = _extract(run, weights)
    with _timed(timings, "content_reuse"):
        active = active_model()
        if active is None and TrainingRun.objects.filter(is_active=True).exists():
            run.message = f"{run.message} The active model's file cannot be read, so this one was not compared with it.".strip()
        reused = reusable_content(data.snapshot, active.artifact) if active else None
    with _timed(timings, "content"):
        encoder, content = reused if reused else (TfidfEncoder(), None)
        if content is None:
            content = encoder.fit_transform(data.snapshot.texts)
    run.sizes = {**run.sizes, "content_reused": reused is not None}
    stage("embedding the papers' meaning")
    with _timed(timings, "meaning"):
        meaning = catalogue_meaning(
            data.snapshot.papers,
            on_progress=lambda done, total: stage(f"embedding the papers' meaning: {done} of {total} new"),
            limit=settings.EMBEDDING_RETRAIN_LIMIT,
        )
    if meaning is not None:
        data.snapshot.meaning, data.snapshot.meaning_missing = meaning.vectors, meaning.missing
        run.sizes = {**run.sizes, "embedded": meaning.embedded, "without_meaning": meaning.left}
        if meaning.left:
            note = f"{meaning.left} papers have no meaning vector yet (over EMBEDDING_RETRAIN_LIMIT): run manage.py embed_papers."
            run.message = f"{run.message} {note}".strip()
    stage("choosing the parameters")
    with _timed(timings, "tuning"):
        chosen, factorize = _choose_parameters(run, data, content, weights, stage)
    stage("fitting the collaborative, item-item and content models")
    fit = fit_hybrid(
        data.trained,
        n_users=len(data.snapshot.user_pks),
        texts=data.snapshot.texts,
        weights=weights,
        als=chosen.als,
        blend=chosen.blend,
        graph=chosen.graph,
        factorize=factorize,
        encoder=encoder,
        content=content,
        meaning=data.snapshot.meaning,
        meaning_missing=data.snapshot.meaning_missing,  # over the limit: read (and mapped) by their words alone
    )
    timings.update(fit.timings)
    stage("scoring the new and the active model on feedback neither has seen")
    with _timed(timings, "evaluate"):
        judgement = gate_metrics(data.snapshot, data.reader_hash, data.share, fit, weights, active, chosen)
    run.metrics = judgement.recorded()
    stage("writing the model file")
    with _timed(timings, "artifact"):
        size = _write_model(run, fit, data, weights)
    if judgement.decision.activate:  # every host must be able to fetch it before it is served
        stage("uploading the model to the bucket")
        with _timed(timings, "upload"):
            uploaded = model_upload(run.version)
        if not uploaded:
            del timings["upload"]  # no bucket: the model stays in MODEL_DIR
    run.artifact, run.timings = run.version, timings
    run.sizes = {**run.sizes, "nonzeros": int(fit.confidence.nnz), "artifact_bytes": size, "holdout_users": run.metrics.get("users", 0)}
    try:
        _save_claimed(run, ["metrics", "timings", "artifact", "sizes"])
    except ClaimLost:
        model_remove(run.version)  # no row owns these files
        raise
    stage("activating")
    training_run_activate(run, judgement)


def _extract(run: TrainingRun, weights: FeedbackWeights) -> _Extracted:
    """Read the feedback and papers, set the gate readers apart, and record the sizes and parameters on ``run``."""
    snapshot = training_snapshot()
    share = settings.GATE_READER_SHARE
    reader_hash = gate_hash(snapshot.user_pks)
    trained_on = reader_hash[snapshot.events.users] >= share  # the gate readers' feedback is never trained on
    run.parameters = {
        "weights": {"half_life_days": weights.half_life_days},
        "gate": {"reader_share": share, "tolerance": settings.ACTIVATION_TOLERANCE},
    }
    run.sizes = {
        "papers": len(snapshot.paper_pks),
        "users": len(snapshot.user_pks),
        "interactions": len(snapshot.events.users),
        "gate_readers": int((reader_hash < share).sum()),
        "trained_interactions": int(trained_on.sum()),
    }
    run.data_until = snapshot.data_until
    _save_claimed(run, ["parameters", "sizes", "data_until"])
    return _Extracted(snapshot, reader_hash, share, subset(snapshot.events, trained_on))


def _choose_parameters(run: TrainingRun, data: _Extracted, content, weights: FeedbackWeights, stage) -> tuple[Parameters, Callable]:
    """The night's parameters (searched, or the last search's choice) and the trainer that fits with them."""
    threads = settings.ALS_NUM_THREADS or os.cpu_count() or 1
    chosen, run.tuning, warm_start = training_parameters(
        events=data.trained,
        n_users=len(data.snapshot.user_pks),
        content=content,
        weights=weights,
        threads=threads,
        on_progress=stage,
        meaning=data.snapshot.meaning,
        meaning_missing=data.snapshot.meaning_missing,
    )
    factorize = import_string(settings.ALS_TRAINER)
    if warm_start is not None and factorize is als_fit:  # from the search's own fit of the chosen parameters
        factorize = functools.partial(als_fit, item_factors=warm_start.item_factors, iterations=warm_start.iterations)
    run.parameters = {**run.parameters, "als": chosen.als.as_dict(), "graph": chosen.graph.as_dict(), "blend": chosen.blend.as_dict()}
    _save_claimed(run, ["parameters", "tuning"])
    return chosen, factorize


def _write_model(run: TrainingRun, fit: FitResult, data: _Extracted, weights: FeedbackWeights) -> int:
    """Write the model folder ``MODEL_DIR/<version>`` (atomically); returns its size in bytes."""
    return save_artifact(
        local_folder(run.version),
        model=fit.model,
        item_ids=data.snapshot.paper_ids,
        encoder=fit.encoder,
        weights=weights,
        meaning_identity=None if fit.model.meaning is None else meaning_encoder().identity,
        meta={
            "version": run.version,
            "trained_at": run.started_at.isoformat(),
            "data_until": run.data_until.isoformat() if run.data_until else None,
            "gate_reader_share": data.share,
        },
    )


EVALUATION_CHUNK = 256  # readers scored at once
NO_HOLDOUT = {"kind": "none", "readers": 0, "papers": 0}
# The spread of per-reader differences (sd over the old model's mean recall) the hold-out is sized for: measured on
# citeulike-a, 0.35 between two honest models, 0.74-1.17 against crippled ones (30-60% below); a model near the tolerance
# lies between (BENCHMARKS.md, "A gate that can see a bad model"). A spread measured wider asks for a second, wider pass.
PLANNING_SPREAD = 0.7
FIT_CHECK_READERS = 50  # training readers in the fit check (a coarse check: its floor is a quarter of the active model's)


@dataclass
class EarlierModel:
    """A model the new one is judged against: the active one, or a recent one whose files are kept."""

    role: str  # "active" or "reference"
    run: TrainingRun
    model: HybridModel  # aligned with tonight's snapshot's columns
    weights: FeedbackWeights


@dataclass
class Judgement:
    """The gate's verdict on a new model: the figures behind it, the decision, and the model it was judged against."""

    figures: dict  # both models' recall@20, nDCG@20 and recall@100, the hold-out, the sanity checks
    decision: GateDecision
    against: str | None = None  # the active model's version, when there was one

    def recorded(self) -> dict:
        """As ``TrainingRun.metrics`` keeps it (JSON), the decision under "gate"."""
        gate = self.decision.as_dict() | ({"against": self.against} if self.against else {})
        return {**self.figures, "gate": gate}


def gate_metrics(
    snapshot: TrainingSnapshot,
    reader_hash: np.ndarray,
    share: float,
    fit: FitResult,
    weights: FeedbackWeights,
    active: ActiveModel | None,
    chosen: Parameters | None = None,
) -> Judgement:
    """Both models' recall@20, nDCG@20 and recall@100 on the gate readers' feedback that neither was trained on, the
    hold-out's kind, size and power, the sanity checks, and the gate's decision (see ``engine.gate``)."""
    threads = als_params().num_threads or os.cpu_count() or 1  # as many cores as ALS uses
    batch = readers_per_chunk(len(snapshot.paper_ids), most=EVALUATION_CHUNK)
    earlier = _earlier_models(snapshot, active)
    problems = _sanity_problems(snapshot, reader_hash, share, fit, weights, chosen, earlier, batch=batch, threads=threads)
    sanity = {"problems": problems}
    if active is None:
        figures = _scored_holdout(snapshot, reader_hash, share, fit, weights, None, [], batch, threads)[0]
        return Judgement({**figures, "sanity": sanity}, GateDecision(not problems, _refusal(problems) if problems else ""))
    figures, decision = _scored_holdout(snapshot, reader_hash, share, fit, weights, active, earlier, batch, threads)
    if decision is None:
        note = "no gate reader has feedback to score" if active.gate_share else "the active model was trained on every reader"
        decision = GateDecision(True, f"not judged on unseen feedback: {note}; it passed the sanity checks")
    if problems:
        also = f"; and on unseen feedback, {decision.reason}" if not decision.activate else ""
        decision = GateDecision(False, _refusal(problems) + also, decision.comparisons, decision.readers_needed)
    return Judgement({**figures, "sanity": sanity}, decision, active.run.version)


def _refusal(problems: list[str]) -> str:
    return "it failed the sanity checks: " + "; ".join(problems)


def _scored_holdout(snapshot, reader_hash, share, fit, weights, active, earlier, batch, threads) -> tuple[dict, GateDecision | None]:
    """Build the hold-out (sized to see a drop of the tolerance at PLANNING_SPREAD), score the new model and the
    earlier ones on it, and decide; once more on a wider hold-out when the spread measured asks for more readers
    than it holds and a wider one exists."""
    shares = [share, *(_gate_share(e.run) for e in earlier)]

    def judged(target: int) -> tuple[Holdout | None, dict, GateDecision | None]:
        holdout = build_holdout(
            snapshot.events,
            snapshot.created,
            len(snapshot.paper_ids),
            reader_hash,
            share=min(shares),
            until=min(_data_until(e.run) for e in earlier) if earlier else None,  # feedback no model judged caused
            window_papers=settings.GATE_WINDOW_PAPERS,
            min_readers=settings.ACTIVATION_MIN_HOLDOUT_USERS,
            max_readers=settings.HOLDOUT_USERS,
            target_readers=target,
            weights=weights,
            own=snapshot.own,
        )
        if holdout is None:
            return None, {"holdout": NO_HOLDOUT}, None
        result, decision = _judged_on(holdout, fit, weights, earlier, batch, threads)
        return holdout, result, decision

    holdout, result, decision = judged(readers_needed(PLANNING_SPREAD, settings.ACTIVATION_TOLERANCE))
    if holdout is not None and decision is not None and len(holdout.users) < decision.readers_needed:
        seen = decision.as_dict()["detectable"]
        wider = holdout.kind != ALL_TIME or len(holdout.users) >= holdout.wanted_readers  # (all-time and short: no more)
        if wider and len(holdout.users) < settings.HOLDOUT_USERS and (seen is None or seen > settings.ACTIVATION_TOLERANCE):
            holdout, result, decision = judged(decision.readers_needed)
    return result, decision


def _judged_on(holdout: Holdout, fit, weights, earlier, batch, threads) -> tuple[dict, GateDecision | None]:
    """The new model's figures on ``holdout``, and the decision against the active model and the best of the earlier
    ones (the reference, when it is not the active model); no decision before the first model."""
    ranked = holdout_ranking(fit.model, weights, holdout, batch=batch, threads=threads)
    result = {**_rounded(metrics(ranked, holdout.truth)), "holdout": holdout.describe()}
    if not earlier:
        return result, None
    scored = [(model, holdout_ranking(model.model, model.weights, holdout, batch=batch, threads=threads)) for model in earlier]
    recalls = [recall_per_reader(old_ranked, holdout.truth) for _, old_ranked in scored]
    best = max(range(len(scored)), key=lambda k: (float(np.mean(recalls[k])), k == 0))  # the active model on a tie
    active = earlier[0].run
    against = [("active", active.version, recalls[0])]
    result["active_model"] = {"version": active.version, **_rounded(metrics(scored[0][1], holdout.truth))}
    if best:
        reference = scored[best][0].run.version
        against.append(("reference", reference, recalls[best]))
        result["reference_model"] = {"version": reference, **_rounded(metrics(scored[best][1], holdout.truth))}
    decision = gate_decision(
        recall_per_reader(ranked, holdout.truth),
        against,
        tolerance=settings.ACTIVATION_TOLERANCE,
        min_readers=settings.ACTIVATION_MIN_HOLDOUT_USERS,
        thin_may_go=_stale(active),
    )
    return result, decision


def _data_until(run: TrainingRun) -> float:
    """Epoch seconds of the newest feedback ``run`` was trained on (its start, for runs from before this was recorded)."""
    return (run.data_until or run.started_at).timestamp()


def _stale(run: TrainingRun) -> bool:
    """The active model is older than MODEL_MAX_AGE_DAYS: thin evidence may replace it."""
    return (timezone.now() - (run.finished_at or run.started_at)) > timedelta(days=settings.MODEL_MAX_AGE_DAYS)


def _earlier_models(snapshot: TrainingSnapshot, active: ActiveModel | None) -> list[EarlierModel]:
    """The active model, then the reference candidate: of the models activated within MODEL_MAX_AGE_DAYS whose files
    are kept, the one whose own night scored best (scoring every kept model on tonight's hold-out would cost a ranking
    of it each); each aligned with tonight's columns. None before the first model."""
    if active is None:
        return []
    aligned = aligned_model(active.artifact, snapshot.paper_ids, snapshot.texts, snapshot.meaning, snapshot.meaning_missing)
    found = [EarlierModel("active", active.run, aligned, active.artifact.weights)]
    recent = TrainingRun.objects.filter(
        status=Status.ACTIVATED,
        is_active=False,
        artifact_deleted_at__isnull=True,
        finished_at__gte=timezone.now() - timedelta(days=settings.MODEL_MAX_AGE_DAYS),
    ).exclude(artifact="")
    newest = recent.order_by("-finished_at")[: settings.MODEL_FILES_KEEP]
    kept = [run for run in newest if _gate_share(run)]  # a share of 0: it saw the hold-out
    for run in sorted(kept, key=lambda run: -(run.metrics.get("recall@20") or 0.0)):
        try:
            artifact = load_artifact(model_folder(run.artifact))
        except ValueError:
            log.warning("kept model %s cannot be read; not a reference", run.version)
            continue
        aligned = aligned_model(artifact, snapshot.paper_ids, snapshot.texts, snapshot.meaning, snapshot.meaning_missing)
        found.append(EarlierModel("reference", run, aligned, artifact.weights))
        break
    return found


def _sanity_problems(snapshot, reader_hash, share, fit, weights, chosen, earlier, *, batch: int, threads: int) -> list[str]:
    """What is wrong with the new model without any hold-out: parameters outside the search's space (while a model
    younger than MODEL_MAX_AGE_DAYS serves: a site is never left without one for a pinned value), degenerate factors,
    or a fit far below the active model's on a sample of its own training readers."""
    outside = outside_search(chosen) if chosen and earlier and not _stale(earlier[0].run) else []  # else the hold-out decides
    problems = [f"its parameters are outside what the search can choose ({', '.join(outside)})"] if outside else []
    problems += factor_problems(fit.model.item_factors, fit.model.known_items)
    if earlier:
        training_rows = np.flatnonzero(reader_hash >= share)
        sample = training_rows[np.argsort(reader_hash[training_rows], kind="stable")[: FIT_CHECK_READERS * 2]]
        check = training_sample(snapshot.events, snapshot.created, len(snapshot.paper_ids), sample, FIT_CHECK_READERS, weights=weights)
        if check is not None:
            new = recall_per_reader(holdout_ranking(fit.model, weights, check, batch=batch, threads=threads), check.truth)
            old = recall_per_reader(holdout_ranking(earlier[0].model, earlier[0].weights, check, batch=batch, threads=threads), check.truth)
            problem = fit_problem(new, old)
            if problem:
                problems.append(problem)
    return problems


def _rounded(figures: dict) -> dict:
    return {key: round(value, 4) if isinstance(value, float) else value for key, value in figures.items()}


def active_model() -> ActiveModel | None:
    """The active model's run and artifact; None when there is none or its file cannot be read."""
    run = TrainingRun.objects.filter(is_active=True).first()
    if run is None:
        return None
    try:
        return ActiveModel(run, load_artifact(model_folder(run.artifact)))
    except ValueError:
        log.warning("active model %s: its file cannot be read", run.version)
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


@transaction.atomic
def training_run_activate(run: TrainingRun, judgement: Judgement) -> TrainingRun:
    """Make ``run`` the served model unless the gate refused it (``judgement``, see ``gate_metrics``).

    Nothing happens if ``run`` no longer holds its claim (it was closed as abandoned meanwhile); a run judged
    against a model that is no longer the active one is not activated either.
    """
    if not TrainingRun.objects.select_for_update().filter(pk=run.pk, in_progress=True, claimed_by=run.claimed_by).exists():
        log.warning("training run %s lost its claim before activation; not activated", run.version)
        run.refresh_from_db()
        return run
    active = TrainingRun.objects.select_for_update().filter(is_active=True).first()
    decision = judgement.decision
    if active is not None and judgement.against not in (None, active.version):
        run.status, outcome = (
            Status.REJECTED,
            f"Not activated: it was judged against {judgement.against}, but {active.version} is active now.",
        )
    elif not decision.activate:
        run.status = Status.REJECTED
        serving = active.version if active else "the newest and trending papers (no model yet)"
        outcome = f"Not activated: {decision.reason}; the site keeps serving {serving}."
    else:
        if active:
            active.is_active = False
            active.save(update_fields=["is_active"])
        run.status = Status.ACTIVATED
        run.is_active = True
        why = f" ({decision.reason})" if decision.reason else ""
        outcome = f"First model: activated{why}." if active is None else f"Activated in place of {active.version}{why}."
    run.message = f"{run.message} {outcome}".strip()  # keeps an earlier note, such as a resume after a crash
    run.finished_at = timezone.now()
    run.in_progress = False
    run.save(update_fields=["status", "is_active", "message", "finished_at", "in_progress"])
    return run
