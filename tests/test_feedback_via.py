"""Feedback remembers where it was given: on the reader's own, or acting on a recommendation (the gate's truth is
only the former)."""

import pytest

from recommender.models import Interaction

pytestmark = pytest.mark.django_db


def test_feedback_from_the_feed_and_from_a_paper_page_reached_through_it_is_marked_feed(alice, alice_client, paper):
    alice_client.get(f"{paper.get_absolute_url()}?via=feed")
    page = alice_client.get(f"{paper.get_absolute_url()}?via=feed").content.decode()
    assert page.count('name="via" value="feed"') >= 3  # like, save and the rating keep where the reader came from
    alice_client.post(f"/feedback/{paper.external_id}", {"kind": "like", "on": "1", "via": "feed"})
    alice_client.post(f"/feedback/{paper.external_id}", {"kind": "rate", "stars": "5", "via": "feed"})
    assert dict(Interaction.objects.filter(user=alice).values_list("kind", "via")) == {"read": "feed", "like": "feed", "rate": "feed"}


def test_feedback_found_on_ones_own_is_unmarked_and_unknown_places_are_ignored(alice, alice_client, paper):
    alice_client.get(paper.get_absolute_url())
    alice_client.post(f"/feedback/{paper.external_id}", {"kind": "save", "on": "1", "via": "<script>"})
    assert set(Interaction.objects.filter(user=alice).values_list("via", flat=True)) == {""}


def test_the_feed_page_marks_its_links_and_buttons(alice, alice_client, community):
    from recommender.services.training import retrain

    Interaction.objects.create(user=alice, paper=community[0]["astro"][0], kind="like")
    retrain()
    page = alice_client.get("/feed/").content.decode()
    assert "?via=feed" in page and 'name="via" value="feed"' in page


def test_the_api_takes_where_feedback_was_given(alice, alice_client, paper):
    response = alice_client.post(
        f"/api/papers/{paper.external_id}/feedback/", {"kind": "like", "via": "email"}, content_type="application/json"
    )
    assert response.status_code == 200 and Interaction.objects.get(user=alice).via == "email"
    bad = alice_client.post(
        f"/api/papers/{paper.external_id}/feedback/", {"kind": "save", "via": "elsewhere"}, content_type="application/json"
    )
    assert bad.status_code == 400 and "via" in bad.json()
