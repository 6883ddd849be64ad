"""Training tasks: thin wrappers around recommender.services.training (twin: ``manage.py retrain``)."""

import logging

from django.conf import settings
from django.db import InterfaceError, OperationalError

from recommender.models import TrainingRun
from recommender.services.facets import facets_refresh_after_retrain
from recommender.services.training import RetrainAlreadyRunning, retrain_request, training_requeue_pending, training_run_execute
from tasks.celery import app

log = logging.getLogger(__name__)
TRANSIENT = (OperationalError, InterfaceError)


@app.task(
    name="tasks.training.retrain_run",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=settings.RETRAIN_SOFT_TIME_LIMIT,
    time_limit=settings.RETRAIN_SOFT_TIME_LIMIT + 300,
    autoretry_for=TRANSIENT,
    retry_backoff=10,
    retry_jitter=True,
    max_retries=5,
)
def retrain_run(run_id: int) -> str:
    """Run the queued training run ``run_id``; a redelivery after a crash resumes it. A model activated has the
    readers' interests found again with it (another task, on the default queue)."""
    run = training_run_execute(run_id=run_id)
    if run is not None and run.status == TrainingRun.Status.ACTIVATED:
        refresh_facets.delay()
    return run.status if run else "not-mine"


@app.task(
    name="tasks.training.refresh_facets", soft_time_limit=3300, time_limit=3600, autoretry_for=TRANSIENT, retry_backoff=30, max_retries=3
)
def refresh_facets() -> int:
    """After a retrain: find again the interests of readers who have some, with the new model (logged progress)."""
    done = facets_refresh_after_retrain(on_progress=lambda done, total: log.info("interests found again: %d of %d readers", done, total))
    log.info("interests found again for %d readers", done)
    return done


@app.task(name="tasks.training.request_retrain", autoretry_for=TRANSIENT, retry_backoff=10, retry_jitter=True, max_retries=5)
def request_retrain() -> str:
    """The nightly job: queue a retrain unless one is already queued or running."""
    try:
        run = retrain_request()
    except RetrainAlreadyRunning as exc:
        log.info("%s", exc)
        return "busy"
    return run.version


@app.task(name="tasks.training.requeue_pending", autoretry_for=TRANSIENT, retry_backoff=10, retry_jitter=True, max_retries=3)
def requeue_pending() -> int:
    """Send again queued retrains whose message was lost while the broker was down."""
    return training_requeue_pending()
