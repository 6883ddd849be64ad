"""Retraining: runs recorded, safe activation, one at a time, failures that hurt nothing."""

import shutil
import socket
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from recommender.engine.gate import readers_needed
from recommender.model_store import store
from recommender.models import Interaction, TrainingRun
from recommender.services import training
from recommender.services.training import (
    PLANNING_SPREAD,
    RetrainAlreadyRunning,
    claimant,
    retrain,
    retrain_request,
    training_run_claim,
    training_run_start,
)

pytestmark = pytest.mark.django_db
Status = TrainingRun.Status


def test_first_retrain_activates_and_records_everything(community, settings, capsys):
    settings.GATE_READER_SHARE = 0.5
    call_command("retrain")
    out = capsys.readouterr().out
    assert "First model: activated." in out
    run = TrainingRun.objects.get()
    assert run.status == Status.ACTIVATED and run.is_active and run.finished_at
    assert run.sizes["papers"] == 24 and run.sizes["users"] == 18 and run.sizes["interactions"] == 90
    gate_readers = run.sizes["gate_readers"]
    assert 0 < gate_readers < 18 and run.sizes["trained_interactions"] == 90 - 5 * gate_readers
    assert set(run.timings) >= {"extract", "matrix", "content", "als", "evaluate", "artifact"}
    # Each gate reader liked five papers, all at once: the newer half (3) is to be found from the older two.
    assert run.metrics["holdout"] == {
        "kind": "all-time",
        "readers": gate_readers,
        "papers": 3 * gate_readers,
        "since": None,
        "until": None,
        "found": "on their own",
        "wanted_readers": readers_needed(PLANNING_SPREAD, settings.ACTIVATION_TOLERANCE),  # more than there are: all-time
    }
    assert run.metrics["users"] == gate_readers and run.metrics["recall@20"] > 0.5  # the topics are easy
    assert f"hold-out: all-time, {gate_readers} readers" in out
    assert run.data_until == Interaction.objects.latest("created").created
    assert run.parameters["als"]["factors"] == settings.ALS_FACTORS and run.parameters["als"]["use_gpu"] is False
    assert run.parameters["gate"] == {"reader_share": 0.5, "tolerance": settings.ACTIVATION_TOLERANCE}
    assert (Path(settings.MODEL_DIR) / run.artifact).exists()
    assert store.current().version == run.version


def test_a_second_retrain_replaces_the_first(community):
    first = retrain()
    second = retrain()
    first.refresh_from_db()
    assert second.is_active and not first.is_active
    assert second.message.startswith(f"Activated in place of {first.version}")
    assert store.current().version == second.version


def test_a_model_the_gate_refuses_is_not_activated(community, settings):
    """Demanding twice the active model's recall (tolerance -100%) on the same data: the gate must refuse."""
    settings.GATE_READER_SHARE, settings.ACTIVATION_MIN_HOLDOUT_USERS = 0.5, 3
    first = retrain()
    settings.ACTIVATION_TOLERANCE = -1.0
    second = retrain()
    gate = second.metrics["gate"]
    assert second.metrics["active_model"]["version"] == first.version == gate["against"]
    assert second.metrics["active_model"]["users"] == second.metrics["users"] >= 3
    assert gate["activate"] is False and gate["bound"] < 0
    assert second.status == Status.REJECTED and not second.is_active
    assert "more than -100% below" in second.message and f"keeps serving {first.version}" in second.message
    assert TrainingRun.objects.get(is_active=True).pk == first.pk


def test_without_the_active_file_the_new_model_is_activated_and_says_why(community, settings):
    first = retrain()
    shutil.rmtree(Path(settings.MODEL_DIR) / first.artifact)
    second = retrain()
    assert "active_model" not in second.metrics
    assert second.is_active and "file cannot be read" in second.message


def test_thin_evidence_never_waves_a_drop_through_unless_the_active_model_is_stale(community, settings):
    settings.GATE_READER_SHARE, settings.ACTIVATION_MIN_HOLDOUT_USERS = 0.5, 100
    first = retrain()
    settings.ACTIVATION_TOLERANCE = -1.0  # demands twice the active model's recall: every model "drops" beyond it
    thin = retrain()
    assert thin.status == Status.REJECTED and "the evidence is too thin to say otherwise" in thin.message
    assert "no number of readers tells a drop of -100% from noise" in thin.message
    assert TrainingRun.objects.get(is_active=True).pk == first.pk
    settings.MODEL_MAX_AGE_DAYS = 0  # the active model is stale: thin evidence may replace it, and the run says so
    stale = retrain()
    assert stale.is_active and "let through because the active model is stale" in stale.message


def test_a_failing_fit_leaves_the_old_model_serving(community, monkeypatch):
    first = retrain()
    served_before = store.current().version

    def broken_fit(*args, **kwargs):
        raise MemoryError("out of memory while fitting")

    monkeypatch.setattr(training, "fit_hybrid", broken_fit)
    failed = retrain()
    assert failed.status == Status.FAILED and not failed.is_active
    assert "MemoryError: out of memory while fitting" in failed.message
    assert TrainingRun.objects.get(is_active=True).pk == first.pk
    assert store.current().version == served_before
    monkeypatch.undo()
    assert retrain().is_active  # and the next run starts cleanly


def test_the_command_fails_loudly_when_the_run_fails(community, monkeypatch):
    monkeypatch.setattr(training, "fit_hybrid", lambda *a, **k: 1 / 0)
    with pytest.raises(CommandError, match="Retrain failed: ZeroDivisionError"):
        call_command("retrain")


def test_only_one_retrain_runs_at_a_time(community):
    running = training_run_claim()
    with pytest.raises(RetrainAlreadyRunning, match="already queued or running"):
        retrain()
    with pytest.raises(CommandError, match="already queued or running"):
        call_command("retrain")
    assert TrainingRun.objects.count() == 1 and TrainingRun.objects.get().pk == running.pk


def test_a_silent_run_does_not_block_forever(community, settings):
    stuck = training_run_claim()
    TrainingRun.objects.filter(pk=stuck.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=settings.RETRAIN_STALE_SECONDS + 1))
    run = retrain()
    stuck.refresh_from_db()
    assert stuck.status == Status.FAILED and "no heartbeat" in stuck.message and not stuck.in_progress
    assert run.is_active


def test_a_run_whose_process_died_is_closed_at_once(community):
    dead = training_run_claim()
    TrainingRun.objects.filter(pk=dead.pk).update(claimed_by=f"{socket.gethostname()}:{dead_pid()}")
    run = retrain()
    dead.refresh_from_db()
    assert dead.status == Status.FAILED and "died" in dead.message
    assert run.is_active


def test_a_queued_run_is_started_once_and_a_dead_one_resumed(community):
    queued = retrain_request()
    started = training_run_start(queued.pk)
    assert started.status == Status.RUNNING and started.attempts == 1 and started.claimed_by == claimant()
    assert training_run_start(queued.pk) is None  # running, and its process (this one) is alive
    TrainingRun.objects.filter(pk=queued.pk).update(claimed_by=f"{socket.gethostname()}:{dead_pid()}")
    resumed = training_run_start(queued.pk)
    assert resumed.attempts == 2 and "Resumed after" in resumed.message


def test_a_queued_run_that_nobody_picks_up_is_given_up(community, settings):
    queued = retrain_request()
    TrainingRun.objects.filter(pk=queued.pk).update(requested_at=timezone.now() - timedelta(seconds=settings.RETRAIN_QUEUED_TIMEOUT + 1))
    assert retrain().is_active
    queued.refresh_from_db()
    assert queued.status == Status.FAILED and "no worker picked it up" in queued.message


def test_a_second_request_while_one_is_queued_does_nothing(community):
    retrain_request()
    with pytest.raises(RetrainAlreadyRunning, match="already queued or running"):
        retrain_request()
    assert TrainingRun.objects.count() == 1


def dead_pid() -> int:
    """A process id that is not running: a child that has exited and been reaped."""
    import subprocess

    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_a_missing_artifact_keeps_the_last_good_model(community, settings):
    good = retrain()
    assert store.current().version == good.version
    broken = retrain()
    shutil.rmtree(Path(settings.MODEL_DIR) / broken.artifact)
    store.clear()
    served = store.current()  # nothing loaded yet and the active file is gone: content-and-popularity fallback
    assert served.version == ""
    good_again = retrain()
    assert store.current().version == good_again.version


def test_retrain_with_no_feedback_still_activates_a_content_model(db, paper):
    run = retrain()
    assert run.is_active and run.metrics["holdout"]["readers"] == 0 and "recall@20" not in run.metrics


def test_retrain_if_no_model_trains_once(community, capsys):
    call_command("retrain", "--if-no-model")
    call_command("retrain", "--if-no-model")
    assert "already active" in capsys.readouterr().out
    assert TrainingRun.objects.count() == 1


def test_a_silent_run_is_resumed_by_its_redelivered_task(community, settings):
    run = retrain_request()
    TrainingRun.objects.filter(pk=run.pk).update(
        status=Status.RUNNING,
        claimed_by="another-host:1",
        attempts=1,
        heartbeat_at=timezone.now() - timedelta(seconds=settings.RETRAIN_STALE_SECONDS + 1),
    )
    resumed = training_run_start(run.pk)
    assert resumed is not None and resumed.attempts == 2 and resumed.claimed_by == claimant()


def test_a_run_that_keeps_dying_is_given_up(community, settings):
    run = retrain_request()
    TrainingRun.objects.filter(pk=run.pk).update(
        status=Status.RUNNING, claimed_by=f"{socket.gethostname()}:{dead_pid()}", attempts=settings.RETRAIN_MAX_ATTEMPTS
    )
    assert training_run_start(run.pk) is None
    run.refresh_from_db()
    assert run.status == Status.FAILED and not run.in_progress and "Gave up after" in run.message


def test_feedback_arrays_carry_every_field_and_leave_out_readers_who_opted_out(community):
    """On PostgreSQL this reads the binary COPY path; on SQLite the ORM path: both must give the same arrays."""
    from datetime import datetime
    from datetime import timezone as dt_timezone

    import numpy as np

    from recommender.selectors.training import feedback_arrays

    papers, readers = community
    when = datetime(2026, 3, 1, 12, 30, 15, 250000, tzinfo=dt_timezone.utc)
    rating = Interaction.objects.create(user=readers["bio0"], paper=papers["astro"][7], kind="rate", value=4, created=when)
    readers["lang5"].share_feedback = False
    readers["lang5"].save()
    Interaction.objects.create(user=readers["bio1"], paper=papers["astro"][6], kind="read", via="feed")
    users, items, kinds, values, created, own = feedback_arrays()
    assert len(users) == Interaction.objects.exclude(user=readers["lang5"]).count()
    assert own.sum() == len(own) - 1 and not own[(items == papers["astro"][6].pk) & (kinds == 0)].any()
    assert readers["lang5"].pk not in users
    at = np.flatnonzero((items == rating.paper_id) & (kinds == 4))
    assert len(at) == 1 and users[at[0]] == readers["bio0"].pk and kinds[at[0]] == 4 and values[at[0]] == 4
    assert created[at[0]] == when.timestamp()
    assert set(kinds.tolist()) == {0, 1, 4} and values[kinds == 1].max() == 0


TRAINER_CALLS = []


def recording_trainer(confidence, params):
    """Another ALS trainer, as a cluster's would plug in: here the usual one, recording what it was given."""
    from recommender.engine.collaborative import als_fit

    TRAINER_CALLS.append((confidence.shape, params.factors))
    return als_fit(confidence, params)


def test_the_als_trainer_is_a_setting(community, settings):
    settings.ALS_TRAINER = "tests.test_training.recording_trainer"
    TRAINER_CALLS.clear()
    run = training.retrain()
    assert run.status == "activated"
    assert TRAINER_CALLS == [((18, 24), settings.ALS_FACTORS)]


def test_a_retrain_reuses_the_content_features_of_papers_already_seen(community):

    from recommender.engine.artifacts import load_artifact
    from tests.factories import PaperFactory

    first = training.retrain()
    assert first.sizes["content_reused"] is False
    PaperFactory(
        external_id="astro-new", title="Astro study new: galaxy", abstract="galaxy star telescope cosmology redshift galaxy result"
    )
    second = training.retrain()
    assert second.status == "activated" and second.sizes["content_reused"] is True
    from django.conf import settings

    old, new = (load_artifact(settings.MODEL_DIR / run.artifact) for run in (first, second))
    assert list(new.encoder.terms) == list(old.encoder.terms)
    old_rows, new_rows = old.index_of(), new.index_of()
    for paper_id in ("astro-1", "bio-3", "lang-7"):
        assert (new.model.content[new_rows[paper_id]] != old.model.content[old_rows[paper_id]]).nnz == 0
    vector = new.model.content[new_rows["astro-new"]]
    assert vector.nnz > 0 and "galaxy" in {new.encoder.terms[i] for i in vector.indices}


def test_many_new_papers_refit_the_vocabulary(community, settings):
    from tests.factories import PaperFactory

    training.retrain()
    for n in range(8):  # a quarter of the catalogue
        PaperFactory(external_id=f"chem-{n}", title=f"Chemistry study {n}", abstract="molecule reaction catalyst solvent bond")
    run = training.retrain()
    assert run.sizes["content_reused"] is False


def test_a_run_that_lost_its_claim_mid_training_writes_nothing_more(community, settings):
    def taken_over(stage: str) -> None:
        if stage.startswith("fitting"):  # meanwhile the run was closed as abandoned (its heartbeat looked stale)
            TrainingRun.objects.filter(in_progress=True).update(status=Status.FAILED, in_progress=False, message="Abandoned: no heartbeat.")

    run = retrain(on_stage=taken_over)
    row = TrainingRun.objects.get(pk=run.pk)
    assert row.status == Status.FAILED and row.message == "Abandoned: no heartbeat." and not row.is_active
    assert row.metrics == {} and row.timings == {} and row.artifact == ""  # nothing written after the claim was lost
    assert not (settings.MODEL_DIR.exists() and list(settings.MODEL_DIR.iterdir()))  # its model folder went with the claim
    assert retrain().is_active  # the next run starts cleanly


def test_a_run_row_holds_the_claim_only_when_created_to(db):
    assert not TrainingRun.objects.create(version="made-by-hand").in_progress
    assert training_run_claim().in_progress  # the service claims explicitly
