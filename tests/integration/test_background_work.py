"""Celery and Redis for real: a worker in a subprocess, a Redis we can stop, a worker we can kill."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from django.contrib.auth.hashers import make_password
from django.test import Client

from accounts.models import User
from recommender.model_store import store
from recommender.models import Interaction, Paper, TrainingRun
from recommender.selectors.feed import feed_for_user
from recommender.services.training import retrain, retrain_request, training_requeue_pending
from tests.conftest import REPO
from tests.integration.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
Status = TrainingRun.Status
FINISHED = (Status.ACTIVATED, Status.REJECTED, Status.FAILED)


def finished(run_id: int) -> TrainingRun | None:
    run = TrainingRun.objects.get(pk=run_id)
    return run if run.status in FINISHED else None


@pytest.fixture
def large_community():
    """400 papers on 8 topics; 1500 readers liking 30 papers each: enough to keep ALS busy for seconds."""
    rng = np.random.default_rng(0)
    words = "galaxy protein compiler robot market climate neuron quantum".split()
    Paper.objects.bulk_create(
        [Paper(external_id=f"big-{j}", title=f"{words[j % 8]} study {j}", abstract=f"{words[j % 8]} " * 5) for j in range(400)]
    )
    User.objects.bulk_create([User(username=f"reader{u}", password=make_password(None)) for u in range(1500)])
    users = list(User.objects.filter(username__startswith="reader").values_list("id", flat=True))
    papers = list(Paper.objects.filter(external_id__startswith="big-").values_list("id", flat=True))
    rows = []
    for index, user_id in enumerate(users):
        topic = index % 8
        for j in rng.choice(50, size=30, replace=False):
            rows.append(Interaction(user_id=user_id, paper_id=papers[(topic + 8 * j) % 400], kind="like"))
    Interaction.objects.bulk_create(rows, batch_size=5000)


def test_a_worker_runs_a_real_retrain_and_the_feed_changes(community, start_worker):
    _, readers = community
    reader = readers["astro1"]
    before = feed_for_user(user=reader, limit=5)
    assert store.current().version == "" and all(item.source != "collaborative" for item in before)
    start_worker()
    run = retrain_request()
    done = wait_for(lambda: finished(run.pk), timeout=120, what="the worker to finish the retrain")
    assert done.status == Status.ACTIVATED and done.is_active, done.message
    assert done.claimed_by and done.claimed_by.split(":")[1] != str(os.getpid())  # it ran in the worker
    after = feed_for_user(user=reader, limit=5)
    assert store.current().version == run.version
    assert [i.paper.pk for i in after] != [i.paper.pk for i in before] or [i.reason for i in after] != [i.reason for i in before]
    assert any(item.source == "collaborative" for item in after)


def test_killing_the_worker_mid_retrain_hurts_nothing_and_the_run_completes(large_community, start_worker, settings):
    previous = retrain()  # a quick model in this process (3 factors)
    assert previous.is_active
    start_worker(queues="training", ALS_FACTORS="64", ALS_ITERATIONS="300")
    run = retrain_request()
    running = wait_for(
        lambda: TrainingRun.objects.filter(pk=run.pk, status=Status.RUNNING).exclude(claimed_by="").first(),
        timeout=60,
        what="the retrain to start in the worker",
    )
    time.sleep(2)  # well inside the ALS fit
    assert TrainingRun.objects.get(pk=run.pk).status == Status.RUNNING
    os.kill(int(running.claimed_by.rsplit(":", 1)[1]), signal.SIGKILL)
    # the site keeps serving the previous model meanwhile
    store.expire()
    assert store.current().version == previous.version
    assert TrainingRun.objects.get(is_active=True).pk == previous.pk
    done = wait_for(lambda: finished(run.pk), timeout=180, what="the redelivered retrain to finish")
    assert done.status == Status.ACTIVATED, done.message
    assert done.attempts == 2 and "Resumed after the process running it" in done.message
    assert list(TrainingRun.objects.filter(is_active=True).values_list("pk", flat=True)) == [run.pk]
    assert not TrainingRun.objects.filter(in_progress=True).exists()


def test_two_retrains_started_at_once_run_exactly_once(large_community, service_env):
    env = {**service_env, "ALS_FACTORS": "64", "ALS_ITERATIONS": "150"}
    command = [sys.executable, "manage.py", "retrain"]
    first = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    second = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    outputs = [p.communicate(timeout=240)[0] for p in (first, second)]
    codes = sorted(p.returncode for p in (first, second))
    assert codes == [0, 1], outputs
    assert sum("already queued or running" in out for out in outputs) == 1
    assert TrainingRun.objects.count() == 1 and TrainingRun.objects.get().is_active


def test_with_redis_down_feedback_is_kept_and_queued_work_runs_when_it_returns(community, start_worker, broker, alice):
    papers, _ = community
    start_worker()
    broker.stop()
    client = Client()
    client.force_login(alice, backend="django.contrib.auth.backends.ModelBackend")
    response = client.post(f"/feedback/{papers['lang'][0].external_id}", {"kind": "like", "on": "1"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "Liked." in response.text
    assert Interaction.objects.filter(user=alice, kind="like").count() == 1
    feed = client.get("/feed/")
    assert feed.status_code == 200 and "lang-" in feed.text
    status = client.get("/status").json()
    assert status["ok"] and status["broker"]["ok"] is False
    run = retrain_request()  # the broker is down: the run stays queued, nothing raises
    assert TrainingRun.objects.get(pk=run.pk).status == Status.QUEUED
    broker.start()
    assert training_requeue_pending(older_than_seconds=0) == 1
    done = wait_for(lambda: finished(run.pk), timeout=120, what="the worker to reconnect and run the queued retrain")
    assert done.status == Status.ACTIVATED, done.message


def test_after_the_worker_retrains_it_finds_the_readers_interests_again_before_they_ask(community, start_worker):
    from recommender.models import Facet
    from recommender.selectors.facets import facets_of
    from recommender.services.feedback import feedback_set

    papers, readers = community
    reader = readers["astro1"]
    for paper in papers["astro"][:6] + papers["bio"][:4]:
        feedback_set(user=reader, paper=paper, kind="like", on=True)
    first = retrain()
    assert len(facets_of(user=reader)) == 2  # found with the first model, on the reader's request
    start_worker()
    run = retrain_request()
    done = wait_for(lambda: finished(run.pk), timeout=120, what="the worker to finish the retrain")
    assert done.status == Status.ACTIVATED, done.message
    versions = wait_for(
        lambda: set(Facet.objects.filter(owner=reader).values_list("model_version", flat=True)) == {run.version} or None,
        timeout=60,
        what="the worker to find the interests again",
    )
    assert versions and first.version != run.version
