"""The read-only papers API."""

import pytest

from tests.factories import PaperFactory

pytestmark = pytest.mark.django_db


def test_paper_list_pages_by_keys(client, settings):
    for _ in range(25):
        PaperFactory()
    body = client.get("/api/papers/").json()
    assert set(body) == {"count", "count_exact", "next", "previous", "results"}
    assert body["count"] == 25 and body["count_exact"] is True and len(body["results"]) == 20
    assert body["previous"] is None and "/api/papers/?older=" in body["next"]
    second = client.get(body["next"]).json()
    assert len(second["results"]) == 5 and second["next"] is None
    assert {p["id"] for p in second["results"]}.isdisjoint(p["id"] for p in body["results"])
    back = client.get(second["previous"]).json()
    assert [p["id"] for p in back["results"]] == [p["id"] for p in body["results"]] and back["previous"] is None


def test_paper_detail_by_external_id(client, paper):
    body = client.get(f"/api/papers/{paper.external_id}/").json()
    assert body["id"] == "2407.12753"
    assert body["title"].startswith("LookupViT")
    assert body["authors"] == ["Ada Lovelace", "Alan Turing"]
    assert body["url"] == "https://arxiv.org/abs/2407.12753"
    assert body["link"] == "http://testserver/papers/2407.12753/"


def test_unknown_paper_is_a_json_404_and_a_bad_page_key_a_400(client, paper):
    response = client.get("/api/papers/nope/")
    assert response.status_code == 404 and "detail" in response.json()
    response = client.get("/api/papers/", {"older": "not-a-key"})
    assert response.status_code == 400 and "not one of ours" in response.json()["older"]


def test_the_api_is_read_only(alice_client, paper):
    assert alice_client.post("/api/papers/", {"id": "x", "title": "y"}).status_code == 405
    assert alice_client.delete(f"/api/papers/{paper.external_id}/").status_code == 405


def test_the_openapi_schema_validates_and_names_every_endpoint(client):
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert schema["openapi"].startswith("3.")
    assert {"/api/papers/", "/api/papers/{id}/", "/api/feed/"} <= set(schema["paths"])
    feed = schema["paths"]["/api/feed/"]["get"]
    assert {p["name"] for p in feed["parameters"]} == {"limit", "offset", "window"}


def test_the_documentation_page_needs_no_outside_network(client):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    assert "swagger-ui" in page.text and "cdn" not in page.text.lower() and "/static/drf_spectacular_sidecar/" in page.text


def test_an_unexpected_api_error_is_json_not_an_html_page():
    from rest_framework.test import APIRequestFactory

    from recommender.api import json_exception_handler

    request = APIRequestFactory().get("/api/feed/")
    response = json_exception_handler(RuntimeError("boom"), {"view": object(), "request": request})
    assert response.status_code == 500 and response.data == {"detail": "Internal server error. It has been logged."}


def test_api_requests_are_rate_limited_per_client_with_a_json_429(client, paper, monkeypatch):
    from django.core.cache import cache
    from rest_framework.throttling import SimpleRateThrottle

    cache.clear()
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"anon": "3/min", "user": "5/min"})
    codes = [client.get("/api/papers/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    refused = client.get("/api/papers/")
    assert "throttled" in refused.json()["detail"].lower() and int(refused["Retry-After"]) > 0
    cache.clear()


def api_client_for(user):
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    client.get("/")  # a page sets the CSRF cookie, as in a browser
    return client, {"HTTP_X_CSRFTOKEN": client.cookies["csrftoken"].value}


def test_feedback_through_the_api_and_undo(alice, paper):
    from recommender.models import Interaction

    client, csrf = api_client_for(alice)
    url = f"/api/papers/{paper.external_id}/feedback/"
    assert client.post(url, {"kind": "like"}, format="json", **csrf).json()["like"] is True
    state = client.post(url, {"kind": "rate", "stars": 4}, format="json", **csrf).json()
    assert state["stars"] == 4 and state["like"] is True
    assert client.post(url, {"kind": "read"}, format="json", **csrf).json()["reads"] == 1
    assert client.delete(url + "?kind=like", **csrf).status_code == 204
    assert client.delete(url + "?kind=rate", **csrf).status_code == 204
    assert set(Interaction.objects.filter(user=alice).values_list("kind", flat=True)) == {"read"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "rate", "stars": 6}, "stars"),
        ({"kind": "rate", "stars": 0}, "stars"),
        ({"kind": "rate"}, "stars"),
        ({"kind": "love"}, "kind"),
        ({}, "kind"),
    ],
)
def test_bad_feedback_is_a_json_400_and_changes_nothing(alice, paper, body, field):
    from recommender.models import Interaction

    client, csrf = api_client_for(alice)
    response = client.post(f"/api/papers/{paper.external_id}/feedback/", body, format="json", **csrf)
    assert response.status_code == 400 and field in response.json()
    assert not Interaction.objects.exists()


def test_feedback_needs_a_reader_and_csrf_and_a_real_paper(client, alice, paper):
    from rest_framework.test import APIClient

    anonymous = client.post(f"/api/papers/{paper.external_id}/feedback/", {"kind": "like"})
    assert anonymous.status_code == 401 and anonymous["WWW-Authenticate"] == "Bearer"
    no_csrf = APIClient(enforce_csrf_checks=True)
    no_csrf.force_login(alice, backend="django.contrib.auth.backends.ModelBackend")
    refused = no_csrf.post(f"/api/papers/{paper.external_id}/feedback/", {"kind": "like"}, format="json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    api, csrf = api_client_for(alice)
    missing = api.post("/api/papers/no-such-paper/feedback/", {"kind": "like"}, format="json", **csrf)
    assert missing.status_code == 404 and "detail" in missing.json()
    assert api.delete(f"/api/papers/{paper.external_id}/feedback/?kind=read", **csrf).status_code == 400


def test_similar_papers_are_labelled_lists(community, client):
    papers, _ = community
    body = client.get(f"/api/papers/{papers['bio'][2].external_id}/similar/").json()
    assert set(body) == {"similar", "also_liked"}
    assert body["similar"] and all(p["id"].startswith("bio") for p in body["similar"])


def test_search_api(community, client):
    body = client.get("/api/search/", {"q": "grammar parser"}).json()
    assert body["count"] >= 1 and all(p["id"].startswith("lang") for p in body["results"])
    assert client.get("/api/search/").status_code == 400
    assert client.get("/api/search/", {"q": "x" * 201}).status_code == 400


def test_ids_with_slashes_work_for_detail_and_actions(alice):
    odd = PaperFactory(external_id="10.1145/3292500")
    from rest_framework.test import APIClient

    client = APIClient()
    assert client.get("/api/papers/10.1145/3292500/").json()["id"] == "10.1145/3292500"
    assert client.get("/api/papers/10.1145/3292500/similar/").status_code == 200
    api, csrf = api_client_for(alice)
    assert api.post("/api/papers/10.1145/3292500/feedback/", {"kind": "save"}, format="json", **csrf).json()["save"] is True
    assert odd.interactions.count() == 1
