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
