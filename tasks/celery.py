"""The Celery app, configured from Django settings (``CELERY_*``), with every periodic job in one place."""

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("paperfeed")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["tasks"], related_name="training")
app.autodiscover_tasks(["tasks"], related_name="digests")
app.autodiscover_tasks(["tasks"], related_name="intake")
app.autodiscover_tasks(["tasks"], related_name="catalogue")


@app.on_after_finalize.connect
def schedule_periodic_jobs(sender: Celery, **kwargs) -> None:
    from django.conf import settings

    sender.conf.beat_schedule = {
        "nightly-retrain": {"task": "tasks.training.request_retrain", "schedule": crontab.from_string(settings.RETRAIN_CRON)},
        "requeue-pending-retrains": {"task": "tasks.training.requeue_pending", "schedule": 300.0},
        "weekly-digest": {"task": "tasks.digests.send_weekly", "schedule": crontab.from_string(settings.DIGEST_CRON)},
        "requeue-stalled-digests": {"task": "tasks.digests.requeue_stalled", "schedule": 600.0},
        "daily-arxiv-harvest": {"task": "tasks.intake.harvest_arxiv", "schedule": crontab.from_string(settings.INTAKE_ARXIV_CRON)},
        "daily-trending-list": {"task": "tasks.intake.fetch_trending", "schedule": crontab.from_string(settings.INTAKE_TRENDING_CRON)},
        "refresh-trending": {"task": "tasks.catalogue.refresh_trending", "schedule": float(settings.TRENDING_REFRESH_SECONDS)},
    }
