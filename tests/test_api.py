"""The read-only papers API."""

import pytest

from tests.factories import PaperFactory

pytestmark = pytest.mark.django_db


def test_paper_list_is_paginated_in_the_standard_shape(client, settings):
    for _ in range(25):
        PaperFactory()
    body = client.get("/api/papers/").json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 25 and len(body["results"]) == 20
    assert body["previous"] is None and body["next"].endswith("/api/papers/?page=2")
    second = client.get(body["next"]).json()
    assert len(second["results"]) == 5 and second["next"] is None


def test_paper_detail_by_external_id(client, paper):
    body = client.get(f"/api/papers/{paper.external_id}/").json()
    assert body["id"] == "2407.12753"
    assert body["title"].startswith("LookupViT")
    assert body["authors"] == ["Ada Lovelace", "Alan Turing"]
    assert body["url"] == "https://arxiv.org/abs/2407.12753"
    assert body["link"] == "http://testserver/papers/2407.12753/"


def test_unknown_paper_and_bad_page_are_json_404s(client, paper):
    response = client.get("/api/papers/nope/")
    assert response.status_code == 404 and "detail" in response.json()
    response = client.get("/api/papers/", {"page": 99})
    assert response.status_code == 404 and "detail" in response.json()


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
    assert {p["name"] for p in feed["parameters"]} == {"limit", "offset"}


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
