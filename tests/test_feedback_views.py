"""Every kind of feedback through the site, with htmx and without, and every bad input."""

import pytest
from django.test import Client
from django.urls import reverse

from recommender.models import Interaction

Kind = Interaction.Kind
pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def feedback_url(paper):
    return reverse("paper_feedback", args=[paper.external_id])


def stored(user, paper):
    return sorted(Interaction.objects.filter(user=user, paper=paper).exclude(kind=Kind.READ).values_list("kind", "value"))


@pytest.mark.parametrize("kind", ["like", "save", "dismiss"])
def test_toggle_on_and_off_with_htmx_returns_the_panel(alice_client, alice, paper, kind):
    response = alice_client.post(feedback_url(paper), {"kind": kind, "on": "1"}, **HTMX)
    assert response.status_code == 200
    assert 'id="feedback"' in response.text and 'aria-pressed="true"' in response.text
    assert stored(alice, paper) == [(kind, None)]
    response = alice_client.post(feedback_url(paper), {"kind": kind, "on": "0"}, **HTMX)
    assert response.status_code == 200 and 'aria-pressed="true"' not in response.text
    assert stored(alice, paper) == []


def test_like_without_javascript_redirects_back_with_a_message(alice_client, alice, paper):
    response = alice_client.post(feedback_url(paper), {"kind": "like", "on": "1"}, follow=True)
    assert response.redirect_chain[-1][0] == paper.get_absolute_url()
    assert "Liked." in response.text
    assert stored(alice, paper) == [("like", None)]


def test_rating_and_rerating_and_clearing(alice_client, alice, paper):
    alice_client.post(feedback_url(paper), {"kind": "rate", "stars": "2"}, **HTMX)
    response = alice_client.post(feedback_url(paper), {"kind": "rate", "stars": "4"}, **HTMX)
    assert "Rated 4 stars." in response.text
    assert response.text.count('class="star on"') == 4
    assert stored(alice, paper) == [("rate", 4)]
    alice_client.post(feedback_url(paper), {"kind": "rate", "stars": ""}, **HTMX)
    assert stored(alice, paper) == []


@pytest.mark.parametrize("stars", ["0", "6", "abc", "3.5", "-2"])
@pytest.mark.parametrize("htmx", [True, False])
def test_bad_stars_get_400_with_a_message_and_change_nothing(alice_client, alice, paper, stars, htmx):
    alice_client.post(feedback_url(paper), {"kind": "rate", "stars": "3"})
    response = alice_client.post(feedback_url(paper), {"kind": "rate", "stars": stars}, **(HTMX if htmx else {}))
    assert response.status_code == 400
    assert "1 to 5" in response.text
    assert stored(alice, paper) == [("rate", 3)]


@pytest.mark.parametrize(
    ("data", "message"),
    [({"kind": "love"}, "Unknown feedback"), ({"kind": "like", "on": "maybe"}, "must be 1 or 0"), ({}, "Unknown feedback")],
)
def test_malformed_feedback_is_a_400(alice_client, alice, paper, data, message):
    response = alice_client.post(feedback_url(paper), data, **HTMX)
    assert response.status_code == 400 and message in response.text
    assert stored(alice, paper) == []


def test_unknown_paper_is_a_404_and_nothing_stored_changes(alice_client, alice, paper):
    alice_client.post(feedback_url(paper), {"kind": "like", "on": "1"})
    response = alice_client.post(reverse("paper_feedback", args=["no-such-paper"]), {"kind": "like", "on": "1"})
    assert response.status_code == 404
    assert stored(alice, paper) == [("like", None)]
    assert Interaction.objects.exclude(kind=Kind.READ).count() == 1


def test_missing_csrf_token_is_refused_with_403(alice, paper):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice, backend="django.contrib.auth.backends.ModelBackend")
    response = client.post(feedback_url(paper), {"kind": "like", "on": "1"})
    assert response.status_code == 403
    assert "security token" in response.text
    assert not Interaction.objects.exists()


def test_csrf_token_from_the_page_is_accepted(alice, paper):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice, backend="django.contrib.auth.backends.ModelBackend")
    client.get(paper.get_absolute_url())
    token = client.cookies["csrftoken"].value
    response = client.post(feedback_url(paper), {"kind": "like", "on": "1"}, HTTP_X_CSRFTOKEN=token, **HTMX)
    assert response.status_code == 200
    assert stored(alice, paper) == [("like", None)]


def test_get_never_changes_state(alice_client, alice, paper):
    assert alice_client.get(feedback_url(paper), {"kind": "like", "on": "1"}).status_code == 405
    assert alice_client.get(reverse("paper_open", args=[paper.external_id])).status_code == 405
    assert alice_client.get(reverse("settings"), {"weekly_digest": "on"}).status_code == 200
    assert not Interaction.objects.exists()
    alice.refresh_from_db()
    assert not alice.weekly_digest


def test_anonymous_like_is_sent_to_log_in_and_back(client, paper):
    response = client.post(feedback_url(paper), {"kind": "like", "on": "1"})
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next=%2Fpapers%2F{paper.external_id}%2F"
    response = client.post(feedback_url(paper), {"kind": "like", "on": "1"}, **HTMX)
    assert response["HX-Redirect"] == f"/accounts/login/?next=%2Fpapers%2F{paper.external_id}%2F"
    assert not Interaction.objects.exists()


def test_after_logging_in_the_reader_comes_back_to_the_paper(client, alice, paper):
    login_url = client.post(feedback_url(paper), {"kind": "like", "on": "1"})["Location"]
    page = client.get(login_url)
    assert f'name="next" value="/papers/{paper.external_id}/"' in page.text
    response = client.post(
        login_url, {"username": "alice", "password": "correct horse battery staple", "next": f"/papers/{paper.external_id}/"}
    )
    assert response.status_code == 302 and response["Location"] == paper.get_absolute_url()


def test_opening_a_paper_page_records_a_read(alice_client, alice, paper, client):
    response = alice_client.get(paper.get_absolute_url())
    assert response.status_code == 200 and paper.title in response.text
    assert Interaction.objects.filter(user=alice, paper=paper, kind=Kind.READ).count() == 1
    client.get(paper.get_absolute_url())  # anonymous visitors are not recorded
    assert Interaction.objects.count() == 1


def test_following_the_link_records_a_read_and_redirects(alice_client, alice, paper):
    response = alice_client.post(reverse("paper_open", args=[paper.external_id]))
    assert response.status_code == 302 and response["Location"] == paper.url
    assert Interaction.objects.filter(user=alice, kind=Kind.READ).count() == 1


def test_paper_page_shows_current_state(alice_client, alice, paper):
    alice_client.post(feedback_url(paper), {"kind": "save", "on": "1"})
    alice_client.post(feedback_url(paper), {"kind": "rate", "stars": "5"})
    page = alice_client.get(paper.get_absolute_url()).text
    assert "✓ Saved" in page and page.count('class="star on"') == 5
    alice_client.post(feedback_url(paper), {"kind": "save", "on": "0"})
    assert "✓ Saved" not in alice_client.get(paper.get_absolute_url()).text


def test_ids_with_dots_and_slashes_work_in_urls(alice_client, alice):
    from tests.factories import PaperFactory

    for external_id in ("hep-th/9901001.v2", "10.1145/open", "weird/feedback/"):
        odd = PaperFactory(external_id=external_id)
        assert alice_client.get(odd.get_absolute_url()).status_code == 200
        alice_client.post(feedback_url(odd), {"kind": "like", "on": "1"})
        assert stored(alice, odd) == [("like", None)]


def test_a_visitor_who_likes_a_paper_is_asked_to_log_in_and_the_like_is_recorded_after(client, paper, bob):
    from tests.conftest import PASSWORD

    bob.set_password(PASSWORD)
    bob.save()
    response = client.post(f"/feedback/{paper.external_id}", {"kind": "like", "on": "1"}, follow=True)
    assert "Log in to like this paper" in response.content.decode() and response.redirect_chain[-1][0].startswith("/accounts/login/")
    assert not Interaction.objects.exists()
    landed = client.post("/accounts/login/", {"username": "bob", "password": PASSWORD, "next": paper.get_absolute_url()}, follow=True)
    assert landed.redirect_chain[-1][0] == paper.get_absolute_url() and "Liked." in landed.content.decode()
    assert Interaction.objects.filter(user=bob, paper=paper, kind="like").count() == 1
    client.get(paper.get_absolute_url())
    assert Interaction.objects.filter(user=bob, paper=paper, kind="like").count() == 1  # done once


def test_a_visitor_who_signs_up_to_save_a_paper_finds_it_saved(client, paper):
    client.post(f"/feedback/{paper.external_id}", {"kind": "save", "on": "1"})
    client.post(
        "/accounts/signup/",
        {
            "username": "dora",
            "email": "dora@example.org",
            "password1": "a long enough password 42",
            "password2": "a long enough password 42",
            "next": paper.get_absolute_url(),
        },
        follow=True,
    )
    assert Interaction.objects.filter(user__username="dora", paper=paper, kind="save").exists()


def test_feedback_from_the_feed_says_what_happened_with_an_undo(alice, alice_client, paper):
    headers = {"HX-Request": "true"}
    response = alice_client.post(
        f"/feedback/{paper.external_id}",
        {"kind": "dismiss", "on": "1", "reason": "topic", "next": "/feed/", "via": "feed"},
        headers=headers,
    )
    page = response.content.decode()
    assert response.status_code == 200 and response["HX-Trigger"] == "feedback-changed"
    assert 'id="toast"' in page and 'hx-swap-oob="true"' in page and "Hidden: less on this topic." in page
    assert 'name="on" value="0"' in page and ">Undo</button>" in page and 'name="kind" value="dismiss"' in page
    undone = alice_client.post(f"/feedback/{paper.external_id}", {"kind": "dismiss", "on": "0", "next": "/feed/"}, headers=headers)
    assert "Not-interested mark removed." in undone.content.decode() and ">Undo</button>" not in undone.content.decode()
    assert not Interaction.objects.filter(user=alice, kind="dismiss").exists()
