"""Catalogue tasks: thin wrappers around recommender.services (twin: ``manage.py refresh_trending``)."""

import logging

from django.db import InterfaceError, OperationalError

from recommender.services.trending import trending_refresh
from tasks.celery import app

log = logging.getLogger(__name__)


@app.task(name="tasks.catalogue.refresh_trending", soft_time_limit=240, time_limit=300, autoretry_for=(OperationalError, InterfaceError))
def refresh_trending() -> int:
    """Count recent feedback into the trending list (every TRENDING_REFRESH_SECONDS)."""
    kept = trending_refresh()
    log.info("trending list refreshed: %d papers", kept)
    return kept
