"""Personal API tokens: created and revoked on the settings page, used by scripts without CSRF."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import ApiToken
from recommender.models import Interaction

pytestmark = pytest.mark.django_db


def create_token(client: Client, name: str = "my script") -> str:
    page = client.post("/accounts/settings/tokens/", {"name": name})
    assert page.status_code == 200 and "not shown again" in page.text
    return page.context["new_token"]


def test_a_token_is_shown_once_and_stored_only_as_a_hash(alice_client, alice):
    token = create_token(alice_client)
    row = ApiToken.objects.get(user=alice)
    assert token.startswith("pf_") and row.prefix == token[:10]
    assert token not in row.key_hash and token not in alice_client.get("/accounts/settings/").text


def test_a_script_uses_the_token_without_a_session_or_csrf(alice_client, alice, paper):
    token = create_token(alice_client)
    script = APIClient(enforce_csrf_checks=True)
    script.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert script.get("/api/feed/").status_code == 200
    response = script.post(f"/api/papers/{paper.external_id}/feedback/", {"kind": "like"}, format="json")
    assert response.status_code == 200 and response.json()["like"] is True
    assert Interaction.objects.filter(user=alice, kind="like").count() == 1
    assert ApiToken.objects.get(user=alice).last_used_at is not None


def test_a_revoked_or_made_up_token_is_refused(alice_client, alice, bob):
    token = create_token(alice_client)
    row = ApiToken.objects.get(user=alice)
    bob_client = Client()
    bob_client.force_login(bob, backend="django.contrib.auth.backends.ModelBackend")
    assert bob_client.post(f"/accounts/settings/tokens/{row.pk}/revoke/").status_code == 404  # not bob's to revoke
    assert ApiToken.objects.filter(pk=row.pk).exists()
    alice_client.post(f"/accounts/settings/tokens/{row.pk}/revoke/")
    for bad in (token, "pf_made-up-token", "not-one-of-ours"):
        script = APIClient()
        script.credentials(HTTP_AUTHORIZATION=f"Bearer {bad}")
        for url in ("/api/feed/", "/api/papers/"):  # refused even where no log-in is needed
            response = script.get(url)
            assert response.status_code == 401 and "Unknown or revoked" in response.json()["detail"]
            assert response["WWW-Authenticate"] == "Bearer"
    missing = APIClient().get("/api/feed/")
    assert (
        missing.status_code == 401
        and missing["WWW-Authenticate"] == "Bearer"
        and "credentials were not provided" in missing.json()["detail"]
    )


def test_rate_limits_are_per_reader_not_shared(alice, bob, monkeypatch):
    from django.core.cache import cache
    from rest_framework.throttling import SimpleRateThrottle

    from accounts.tokens import api_token_create

    cache.clear()
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"anon": "3/min", "user": "5/min"})
    scripts = {}
    for user in (alice, bob):
        scripts[user.username] = APIClient()
        scripts[user.username].credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=user, name='script')[1]}")
    assert [scripts["alice"].get("/api/feed/").status_code for _ in range(6)] == [200] * 5 + [429]
    assert scripts["bob"].get("/api/feed/").status_code == 200  # bob has his own allowance
    refused = scripts["alice"].get("/api/feed/")
    assert refused.status_code == 429 and refused["Content-Type"] == "application/json"
    cache.clear()
