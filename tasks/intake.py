"""Intake tasks: thin wrappers around recommender.services.intake (twin: ``manage.py fetch_papers``)."""

import logging

from django.db import InterfaceError, OperationalError

from recommender.services.intake import IntakeBusy, intake_arxiv, intake_trending, papers_fetch_by_ids
from recommender.services.onboarding import pasted_papers_like
from recommender.sources import SourceError
from tasks.celery import app

log = logging.getLogger(__name__)
TRANSIENT = (OperationalError, InterfaceError)


@app.task(
    name="tasks.intake.harvest_arxiv",
    acks_late=True,
    soft_time_limit=3 * 3600,
    time_limit=3 * 3600 + 300,
    autoretry_for=TRANSIENT,
    retry_backoff=60,
    retry_jitter=True,
    max_retries=3,
)
def harvest_arxiv() -> list[str]:
    """The daily harvest of arXiv's listings (a failed page is taken up by the next run)."""
    try:
        runs = intake_arxiv(
            on_page=lambda run, page: log.info(
                "arXiv %s page %d: %d records, %d deleted (run %s: %d new, %d updated so far)",
                run.set_spec,
                page.number,
                len(page.records),
                len(page.deleted),
                run.pk,
                run.created,
                run.updated,
            )
        )
    except IntakeBusy as exc:
        log.info("%s", exc)
        return []
    return [run.status for run in runs]


@app.task(name="tasks.intake.fetch_trending", autoretry_for=TRANSIENT, retry_backoff=60, retry_jitter=True, max_retries=3)
def fetch_trending() -> str:
    """The daily trending list."""
    try:
        return intake_trending().status
    except IntakeBusy as exc:
        log.info("%s", exc)
        return "busy"


@app.task(name="tasks.intake.fetch_ids", autoretry_for=(*TRANSIENT, SourceError), retry_backoff=30, retry_jitter=True, max_retries=4)
def fetch_ids(ids: list[str], like_for_user: int | None = None) -> int:
    """Papers pasted at onboarding that arXiv was too slow to send at once; liked for the reader when they arrive."""
    papers = papers_fetch_by_ids(ids)
    if like_for_user is not None:
        pasted_papers_like(user_id=like_for_user, papers=papers)
    return len(papers)
