"""/status and the admin's system status."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from recommender.models import TrainingRun
from recommender.services.training import retrain
from tests.conftest import use_broker
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_status_reports_every_part_without_secrets(client, community, settings):
    settings.GATE_READER_SHARE = 0.5  # about nine of the eighteen readers are scored
    run = retrain()
    response = client.get("/status")
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    body = response.json()
    assert set(body) == {"ok", "time", "database", "broker", "workers", "model", "retrain", "intake"}
    assert body["intake"]["arxiv"] is None
    assert body["intake"]["schedule"]["arxiv"] == settings.INTAKE_ARXIV_CRON
    assert body["ok"] is True
    assert body["database"]["ok"] is True
    assert body["model"]["version"] == run.version
    assert body["model"]["metrics"]["users"] == run.metrics["users"] == run.sizes["holdout_users"] > 0
    assert body["retrain"]["last"]["status"] == "activated"
    assert body["retrain"]["schedule"] == settings.RETRAIN_CRON
    now = timezone.now()
    expected = now.replace(hour=3, minute=0, second=0, microsecond=0)
    expected = expected if expected > now else expected + timedelta(days=1)
    assert parse_datetime(body["retrain"]["next"]) == expected  # RETRAIN_CRON "0 3 * * *"
    text = json.dumps(body)
    assert settings.SECRET_KEY not in text and "redis://" not in text and "sqlite" not in text


def test_status_with_an_unreachable_broker_is_still_200(client, db):
    from tasks.celery import app

    before = app.conf.broker_url
    use_broker("redis://127.0.0.1:1/0")  # nothing listens on port 1
    try:
        body = client.get("/status").json()
    finally:
        use_broker(before)
    assert body["ok"] is True
    assert body["broker"]["ok"] is False
    assert body["workers"] == {"ok": False, "count": 0, "names": []}
    assert body["model"] is None


def test_admin_shows_status_and_queues_a_retrain(client, community):
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(root, backend="django.contrib.auth.backends.ModelBackend")
    page = client.get("/admin/recommender/trainingrun/")
    assert "System status" in page.text and "Retrain now" in page.text
    assert client.get("/admin/recommender/trainingrun/request/").status_code == 405
    response = client.post("/admin/recommender/trainingrun/request/", follow=True)
    assert "queued; the training worker will pick it up" in response.text
    assert TrainingRun.objects.get().status == TrainingRun.Status.QUEUED
    again = client.post("/admin/recommender/trainingrun/request/", follow=True)
    assert "already queued or running" in again.text and TrainingRun.objects.count() == 1


def test_status_shows_the_last_harvest_of_each_source(client, db):
    from recommender.models import IntakeRun

    IntakeRun.objects.create(source="arxiv", status="failed", pages=3, created=120, errors="page 4: the server answered 500")
    body = client.get("/status").json()
    assert body["intake"]["arxiv"]["status"] == "failed" and body["intake"]["arxiv"]["created"] == 120
    assert body["intake"]["arxiv"]["error"] == "page 4: the server answered 500" and body["intake"]["trending"] is None
