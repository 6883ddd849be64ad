"""Digest tasks: thin wrappers around recommender.services.digests (twin: ``manage.py send_digests``)."""

import logging
import smtplib
from datetime import date

from django.db import InterfaceError, OperationalError

from recommender.services.digests import digest_batch_send, digest_stalled_requeue, digest_week_start
from tasks.celery import app

log = logging.getLogger(__name__)


@app.task(
    name="tasks.digests.send_weekly", autoretry_for=(OperationalError, InterfaceError), retry_backoff=30, retry_jitter=True, max_retries=5
)
def send_weekly() -> int:
    """The weekly job: one ``send_digest_batch`` task per batch of readers who asked for the email."""
    week, batches = digest_week_start(queue=True)
    log.info("digest %s: %d batches queued", week, len(batches))
    return len(batches)


@app.task(
    name="tasks.digests.send_digest_batch",
    acks_late=True,
    soft_time_limit=1800,
    time_limit=1900,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError, smtplib.SMTPException, ConnectionError),
    retry_backoff=30,
    retry_jitter=True,
    max_retries=8,
)
def send_digest_batch(user_ids: list[int], week: str) -> dict:
    """Send the digests of one batch of readers; running it again sends nobody twice."""
    counts = digest_batch_send(user_ids=user_ids, week=date.fromisoformat(week))
    log.info("digest %s: batch of %d: %s", week, len(user_ids), counts)
    return counts


@app.task(
    name="tasks.digests.requeue_stalled",
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=30,
    retry_jitter=True,
    max_retries=3,
)
def requeue_stalled() -> int:
    """The sweep: queue again this week's readers left pending by a batch that stopped; returns how many batches."""
    return len(digest_stalled_requeue())
