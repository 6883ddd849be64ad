"""The nightly retrain chooses its parameters: a search on the first night, reused after, searched again weekly or
when the feedback has grown; values pinned in the environment are kept."""

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from recommender.models import Interaction, TrainingRun
from recommender.services.synthetic import synthetic_community_create
from recommender.services.training import retrain
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def site(settings):
    """300 readers, 150 papers and 9,000 events of a synthetic community; the search gets a minute."""
    settings.TUNING_BUDGET_SECONDS = 60
    settings.TUNING_READERS = 300
    synthetic_community_create(users=300, papers=150, interactions=9_000, seed=5)


def test_the_first_night_searches_and_records_its_choice(site, admin_client):
    run = retrain()
    assert run.status == TrainingRun.Status.ACTIVATED
    tuning = run.tuning
    assert tuning["searched"] is True and tuning["why"] == "no search yet" and tuning["started_from"] == "settings"
    assert tuning["validation"]["readers"] >= 100 and "start" in tuning["validation"] and "chosen" in tuning["validation"]
    assert tuning["trials"][0]["trial"] == "start" and tuning["seconds"] <= tuning["budget_seconds"] * 1.5 + 1
    chosen = tuning["chosen"]
    assert run.parameters["als"]["factors"] == chosen["als.factors"]
    assert run.parameters["graph"]["neighbours"] == chosen["graph.neighbours"]
    assert run.parameters["blend"]["graph_share"] == chosen["blend.graph_share"]
    assert "tuning" in run.timings
    assert tuning["warm_start_iterations"] in (5, 10)  # tonight's fit went on from the search's fit: a third or two of 15
    page = admin_client.get(reverse("admin:recommender_trainingrun_change", args=[run.pk])).content.decode()
    assert "How the parameters were chosen" in page and "Searched because no search yet" in page
    listing = admin_client.get(reverse("admin:recommender_trainingrun_changelist")).content.decode()
    assert "searched: validation recall@20" in listing


def test_later_nights_reuse_the_choice_until_a_week_has_passed(site):
    first = retrain()
    second = retrain()
    assert second.tuning["searched"] is False and first.version in second.tuning["reason"]
    assert second.tuning["chosen"] == first.tuning["chosen"]
    assert "trials" not in second.tuning  # nothing was searched
    TrainingRun.objects.filter(pk=first.pk).update(started_at=timezone.now() - timedelta(days=8))
    third = retrain()
    assert third.tuning["searched"] is True and "days old" in third.tuning["why"]
    assert third.tuning["started_from"] == second.version  # the search starts from the last choice


def test_a_grown_community_is_searched_again(site, settings):
    first = retrain()
    settings.TUNING_GROWTH = 0.1
    newcomers = [UserFactory(username=f"newcomer{i}") for i in range(40)]
    papers = list(Interaction.objects.values_list("paper_id", flat=True).distinct()[:30])
    Interaction.objects.bulk_create([Interaction(user=u, paper_id=p, kind="like") for u in newcomers for p in papers])
    second = retrain()
    assert second.tuning["searched"] is True and "grew from" in second.tuning["why"]
    assert second.sizes["trained_interactions"] > first.sizes["trained_interactions"] * 1.1


def test_values_pinned_in_the_environment_are_used_and_not_searched(site, settings):
    settings.ALS_FACTORS, settings.GRAPH_NEIGHBOURS = 5, 30
    settings.TUNING_PINNED = frozenset({"als.factors", "graph.neighbours"})
    run = retrain()
    assert run.tuning["searched"] is True and run.tuning["pinned"] == ["als.factors", "graph.neighbours"]
    assert run.tuning["chosen"]["als.factors"] == 5 and run.parameters["als"]["factors"] == 5
    assert run.parameters["graph"]["neighbours"] == 30
    assert not any("als.factors=" in t["trial"] or "graph.neighbours=" in t["trial"] for t in run.tuning["trials"])
    # A pin set after a search wins over the search's choice on the nights that reuse it.
    settings.ALS_FACTORS = 7
    settings.TUNING_PINNED = frozenset({"als.factors"})
    later = retrain()
    assert later.tuning["searched"] is False and later.parameters["als"]["factors"] == 7


def test_no_search_when_the_budget_is_zero(site, settings):
    settings.TUNING_BUDGET_SECONDS = 0
    run = retrain()
    assert run.tuning["searched"] is False and "searching is off" in run.tuning["reason"]
    assert run.parameters["als"]["factors"] == settings.ALS_FACTORS


def test_a_setting_given_in_the_environment_is_pinned(settings):
    code = "import django; django.setup(); from django.conf import settings; print(sorted(settings.TUNING_PINNED))"
    env = {name: value for name, value in os.environ.items() if name not in settings.TUNABLE_SETTINGS}
    env |= {"DJANGO_SETTINGS_MODULE": "config.settings", "ALS_FACTORS": "64", "BLEND_GRAPH_SHARE": "0.3", "GRAPH_BETA": ""}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "['als.factors', 'blend.graph_share']"  # an empty value pins nothing
