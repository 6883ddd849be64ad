"""Intake tasks: thin wrappers around recommender.services.intake (twin: ``manage.py fetch_papers``)."""

import logging

from django.conf import settings
from django.db import InterfaceError, OperationalError

from recommender.services.intake import IntakeBusy, intake_arxiv, intake_trending, papers_fetch_by_ids
from recommender.services.meaning import papers_embed
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
    embed_new_papers.delay()
    return [run.status for run in runs]


@app.task(name="tasks.intake.fetch_trending", autoretry_for=TRANSIENT, retry_backoff=60, retry_jitter=True, max_retries=3)
def fetch_trending() -> str:
    """The daily trending list."""
    try:
        status = intake_trending().status
    except IntakeBusy as exc:
        log.info("%s", exc)
        return "busy"
    embed_new_papers.delay()
    return status


@app.task(name="tasks.intake.fetch_ids", autoretry_for=(*TRANSIENT, SourceError), retry_backoff=30, retry_jitter=True, max_retries=4)
def fetch_ids(ids: list[str], like_for_user: int | None = None) -> int:
    """Papers pasted at onboarding that arXiv was too slow to send at once; liked for the reader when they arrive."""
    papers = papers_fetch_by_ids(ids)
    if like_for_user is not None:
        pasted_papers_like(user_id=like_for_user, papers=papers)
    embed_new_papers.delay()
    return len(papers)


@app.task(
    name="tasks.intake.embed_new_papers",
    soft_time_limit=3600,
    time_limit=3600 + 120,
    autoretry_for=TRANSIENT,
    retry_backoff=60,
    max_retries=3,
)
def embed_new_papers() -> int:
    """After each harvest: the meaning vectors of papers that have none, newest first (EMBEDDING_INTAKE_LIMIT at most),
    so they are ranked by meaning before the next retrain; a larger backlog is ``manage.py embed_papers``'s."""
    done = papers_embed(
        limit=settings.EMBEDDING_INTAKE_LIMIT, on_progress=lambda done, total: log.info("embedded %d of %d new papers", done, total)
    )
    log.info("embedded %d new papers", done)
    return done
