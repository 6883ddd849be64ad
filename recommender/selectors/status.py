"""The health of the whole system, for /status and the admin: database, broker, workers, model, schedule."""

import time
from datetime import datetime, timedelta

from celery.schedules import crontab
from django.conf import settings
from django.db import connection
from django.utils import timezone

from recommender.models import IntakeRun, TrainingRun


def _check_database() -> dict:
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any failure is the answer here
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}


_BROKER_CACHE_SECONDS = 15
_broker_cache: dict = {"at": float("-inf"), "value": None}


def _check_broker_and_workers() -> tuple[dict, dict]:
    """Broker reachability and live workers, cached for a few seconds (a ping waits for its full timeout)."""
    if time.monotonic() - _broker_cache["at"] < _BROKER_CACHE_SECONDS and _broker_cache["value"]:
        return _broker_cache["value"]
    value = _probe_broker_and_workers()
    _broker_cache.update(at=time.monotonic(), value=value)
    return value


def forget_broker_status() -> None:
    """Probe the broker afresh on the next call."""
    _broker_cache["at"] = float("-inf")


def _probe_broker_and_workers() -> tuple[dict, dict]:
    from tasks.celery import app

    started = time.perf_counter()
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=1)
    except Exception as exc:  # unreachable broker: say so, never raise
        return {"ok": False, "error": type(exc).__name__}, {"ok": False, "count": 0, "names": []}
    broker = {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1), "transport": app.conf.broker_url.split(":", 1)[0]}
    try:
        replies = app.control.ping(timeout=0.5) or []
    except Exception:  # a transport without broadcast (filesystem) cannot ping
        replies = []
    names = sorted(name.split("@")[0] for reply in replies for name in reply)  # no host names
    return broker, {"ok": bool(names), "count": len(names), "names": names}


def _next_nightly(now: datetime) -> datetime:
    estimate = now + crontab.from_string(settings.RETRAIN_CRON).remaining_estimate(now)
    return (estimate + timedelta(seconds=30)).replace(second=0, microsecond=0)  # crontab estimates drift by a second


def system_status() -> dict:
    """Everything /status reports; no secrets (no URLs, no credentials)."""
    now = timezone.now()
    database = _check_database()
    broker, workers = _check_broker_and_workers()
    model, last_run = None, None
    if database["ok"]:
        active = TrainingRun.objects.filter(is_active=True).first()
        if active:
            model = {"version": active.version, "trained_at": active.finished_at, "metrics": active.metrics, "sizes": active.sizes}
        latest = TrainingRun.objects.exclude(status__in=[TrainingRun.Status.QUEUED]).first()
        if latest:
            last_run = {
                "version": latest.version,
                "status": latest.status,
                "started_at": latest.started_at,
                "finished_at": latest.finished_at,
            }
    return {
        "ok": database["ok"],
        "time": now,
        "database": database,
        "broker": broker,
        "workers": workers,
        "model": model,
        "retrain": {"last": last_run, "next": _next_nightly(now), "schedule": settings.RETRAIN_CRON},
        "intake": _intake() if database["ok"] else None,
    }


def _intake() -> dict:
    """The last harvest of each source: when, how it ended, what it changed."""
    last = {}
    for source in (IntakeRun.Source.ARXIV, IntakeRun.Source.TRENDING):
        run = IntakeRun.objects.filter(source=source).first()
        last[source] = (
            None
            if run is None
            else {
                "status": run.status,
                "started_at": run.started_at,
                "finished_at": run.finished_at,
                "pages": run.pages,
                "created": run.created,
                "updated": run.updated,
                "deleted": run.deleted,
                "error": run.errors.splitlines()[-1] if run.errors else "",
            }
        )
    return {**last, "schedule": {"arxiv": settings.INTAKE_ARXIV_CRON, "trending": settings.INTAKE_TRENDING_CRON}}
