"""The admin lists papers, interactions and users with search and filters."""

import pytest

from tests.factories import InteractionFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(root, backend="django.contrib.auth.backends.ModelBackend")
    return client


@pytest.mark.parametrize(
    ("url", "count"),
    [
        ("/admin/recommender/paper/?q=LookupViT", 1),
        ("/admin/recommender/paper/?q=nothing-like-this", 0),
        ("/admin/recommender/interaction/?kind__exact=like&q=alice", 1),
        ("/admin/recommender/interaction/?kind__exact=save&q=alice", 0),
        ("/admin/accounts/user/?weekly_digest__exact=1&q=ali", 1),
        ("/admin/accounts/user/?weekly_digest__exact=0&q=ali", 0),
    ],
)
def test_admin_changelists_search_and_filter(admin_client, alice, paper, url, count):
    alice.weekly_digest = True
    alice.save()
    InteractionFactory(user=alice, paper=paper)
    response = admin_client.get(url)
    assert response.status_code == 200
    assert response.context["cl"].result_count == count


def test_admin_interaction_search_finds_by_user_and_paper(admin_client, alice, bob, paper):
    InteractionFactory(user=alice, paper=paper)
    InteractionFactory(user=bob, paper=paper)
    response = admin_client.get("/admin/recommender/interaction/", {"q": "alice"})
    assert response.context["cl"].result_count == 1
    assert admin_client.get("/admin/recommender/interaction/", {"q": "LookupViT"}).context["cl"].result_count == 2
    assert admin_client.get("/admin/recommender/interaction/", {"q": "2407.12753"}).context["cl"].result_count == 2


def test_admin_needs_staff(client, alice):
    client.force_login(alice, backend="django.contrib.auth.backends.ModelBackend")
    assert client.get("/admin/recommender/paper/").status_code == 302


def test_training_runs_are_listed_read_only(admin_client, community):
    from recommender.services.training import retrain

    run = retrain()
    listing = admin_client.get("/admin/recommender/trainingrun/")
    assert listing.status_code == 200 and run.version in listing.text
    assert admin_client.get(f"/admin/recommender/trainingrun/{run.pk}/change/").status_code == 200
    assert admin_client.get("/admin/recommender/trainingrun/add/").status_code == 403


def test_staff_see_the_model_health_over_time_as_charts(admin_client, community, settings):
    from recommender.models import DigestLog, IntakeRun, Interaction
    from recommender.services.training import retrain

    settings.GATE_READER_SHARE, settings.ACTIVATION_MIN_HOLDOUT_USERS = 0.5, 3
    retrain()
    settings.ACTIVATION_TOLERANCE = -1.0
    refused = retrain()
    IntakeRun.objects.create(source="arxiv", status="succeeded", created=42)
    papers, readers = community
    DigestLog.objects.create(user=readers["astro0"], week="2026-11-23", status="sent")
    Interaction.objects.create(user=readers["astro0"], paper=papers["bio"][7], kind="like", via="email")
    page = admin_client.get("/admin/recommender/trainingrun/health/").content.decode()
    assert page.count("<svg viewBox") == 7 and "Nightly hold-out recall@20" in page
    assert (
        "Power of the gate" in page
        and "Hold-out readers used" in page
        and f"{refused.started_at:%d %b}: used {refused.metrics['holdout']['readers']}" in page
    )
    assert f"{refused.version}: rejected" in page and 'fill="#b3261e"' in page  # the refused night, marked red
    assert "Papers taken in per day" in page and ": papers 42" in page and "Weekly emails sent" in page
    assert admin_client.get("/admin/recommender/trainingrun/").content.decode().count("/admin/recommender/trainingrun/health/") == 1


def test_the_model_health_page_is_for_staff_only(alice_client):
    assert alice_client.get("/admin/recommender/trainingrun/health/").status_code == 302


def test_the_paper_admin_at_scale_counts_a_capped_range_and_searches_by_the_index(admin_client, paper):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for url in ("/admin/recommender/paper/", "/admin/recommender/paper/?q=LookupViT", "/admin/recommender/interaction/?q=LookupViT"):
        with CaptureQueriesContext(connection) as queries:
            assert admin_client.get(url).status_code == 200
        sql = " ".join(q["sql"].upper() for q in queries.captured_queries)
        assert "DISTINCT" not in sql and "LIKE '%" not in sql, url  # no filter of distinct values, no scan of text
        assert "IN (SELECT" not in sql, url  # matches are a bounded list of ids, never a subquery ORed per row
        counts = [q["sql"].upper() for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
        assert counts and all("LIMIT" in count for count in counts), url  # counted up to the cap, never the whole table
    assert admin_client.get("/admin/recommender/paper/", {"q": "LookupViT"}).context["cl"].result_count == 1
