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
