"""Input no client should send is refused with a 4xx and a message, and stores nothing (config/middleware.py, the API's parser)."""

import json

import pytest
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.tokens import api_token_create
from recommender.models import Interaction

pytestmark = pytest.mark.django_db
NUL_MESSAGE = "contains a NUL character"


@pytest.mark.parametrize(
    ("url", "where"),
    [
        ("/search/?q=a%00b", "query string"),
        ("/papers/a%00b/", "address"),
        ("/api/search/?q=a%00b", "query string"),
        ("/api/papers/a%00b/", "address"),
        ("/accounts/welcome/?q=%00", "query string"),
    ],
)
def test_a_nul_in_the_address_or_query_is_a_400_with_a_message(alice_client, paper, url, where):
    response = alice_client.get(url)
    assert response.status_code == 400
    text = response.json()["detail"] if url.startswith("/api/") else response.text
    assert f"its {where} {NUL_MESSAGE}" in text


def test_a_nul_in_a_form_stores_nothing(alice_client, alice, paper):
    response = alice_client.post("/accounts/settings/tokens/", {"name": "my\x00script"})
    assert response.status_code == 400 and f"its form {NUL_MESSAGE}" in response.text
    assert not ApiToken.objects.exists()
    response = alice_client.post("/accounts/welcome/", {"references": f"{paper.external_id}\nA title\x00"})
    assert response.status_code == 400 and not Interaction.objects.exists()
    response = alice_client.post(
        f"/feedback/{paper.external_id}", {"kind": "dismiss", "reason": "author", "author": "Ada\x00"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 400 and NUL_MESSAGE in response.text and not Interaction.objects.exists()


def test_a_nul_in_a_log_in_or_a_header_or_cookie_is_a_400(client, alice):
    from axes.models import AccessAttempt

    assert client.post("/accounts/login/", {"username": "ali\x00ce", "password": "x"}).status_code == 400
    assert not AccessAttempt.objects.exists()
    assert client.get("/", HTTP_USER_AGENT="probe\x00").status_code == 400
    client.cookies["sessionid"] = "abcdefgh\x00ijk"
    assert client.get("/").status_code == 400


@pytest.fixture
def script(alice):
    script = APIClient()
    script.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=alice, name='script')[1]}")
    return script


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (json.dumps({"kind": "dismiss", "reason": "author", "author": "Ada\u0000"}), 400, "NUL character"),
        (json.dumps({"kind\u0000": "like"}), 400, "NUL character"),
        ("[" * 100_000 + "]" * 100_000, 400, "nested more than"),
        ('{"kind": "like", "x": ' + "[" * 25 + "]" * 25 + "}", 400, "nested more than"),
        (json.dumps({"kind": "like", "author": "x" * 3_000_000}), 413, "larger than the limit of 2,621,440 bytes"),
    ],
)
def test_json_bodies_that_would_break_the_server_are_refused_and_store_nothing(script, paper, body, status, message):
    response = script.post(f"/api/papers/{paper.external_id}/feedback/", body, content_type="application/json")
    assert response.status_code == status and message in response.json()["detail"]
    assert not Interaction.objects.exists()


def test_a_form_over_the_size_limit_is_a_413_with_a_message(alice_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = alice_client.post("/accounts/welcome/", {"references": "x" * 2000})
    assert response.status_code == 413 and "larger than the limit of 1,000 bytes" in response.text
    assert not Interaction.objects.exists()


@pytest.mark.parametrize("page", ["²", "9" * 5000, "99999999999999999999"])
def test_odd_numbers_in_the_query_are_not_server_errors(alice_client, script, page):
    assert alice_client.get("/feed/", {"page": page}).status_code == 200
    assert script.get("/api/feed/", {"limit": page}).status_code == 400
