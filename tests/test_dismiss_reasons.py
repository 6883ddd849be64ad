"""'Not interested', with an optional reason: just this paper, less on this topic, or less from an author."""

import re

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from recommender.models import Interaction
from recommender.selectors.feed import feed_for_user
from recommender.services.feedback import feedback_set
from recommender.services.training import retrain
from tests.factories import PaperFactory, UserFactory
from tests.test_feed import client_for, topics

pytestmark = pytest.mark.django_db


@pytest.fixture
def reader(community):
    """A reader who likes papers of every topic (two on biology), so every topic is in their feed."""
    papers, _ = community
    charlie = UserFactory(username="charlie")
    for paper in [papers["astro"][0], papers["bio"][0], papers["bio"][1], papers["lang"][0]]:
        feedback_set(user=charlie, paper=paper, kind="like", on=True)
    return charlie


def test_less_on_this_topic_pushes_the_topic_out_of_the_feed(community, reader):
    papers, _ = community
    before = topics(feed_for_user(user=reader, limit=6))
    assert before.count("bio") >= 1
    dismissed = next(item.paper for item in feed_for_user(user=reader, limit=6) if item.paper.external_id.startswith("bio"))
    feedback_set(user=reader, paper=dismissed, kind="dismiss", on=True, reason="topic")
    after = feed_for_user(user=reader, limit=12)
    assert "bio" not in topics(after)  # 14 papers on the other two topics come first
    assert dismissed not in [item.paper for item in after]


def test_just_this_paper_removes_only_that_paper(community, reader):
    dismissed = next(item.paper for item in feed_for_user(user=reader, limit=6) if item.paper.external_id.startswith("bio"))
    feedback_set(user=reader, paper=dismissed, kind="dismiss", on=True)
    after = feed_for_user(user=reader, limit=12)
    assert dismissed not in [item.paper for item in after]
    assert "bio" in topics(after)  # the topic is weakened, not gone


def test_less_from_an_author_hides_all_their_papers(community, reader):
    papers, _ = community
    for paper in papers["astro"][2:6]:
        paper.authors = ["Vera Rubin", "Ada Lovelace"]
        paper.save()
    shown = [item.paper for item in feed_for_user(user=reader, limit=24)]
    assert any("Vera Rubin" in p.authors for p in shown)
    feedback_set(user=reader, paper=papers["astro"][2], kind="dismiss", on=True, reason="author", author="Vera Rubin")
    shown = [item.paper for item in feed_for_user(user=reader, limit=24)]
    assert shown and not any("Vera Rubin" in p.authors for p in shown)
    assert any("Ada Lovelace" in p.authors for p in shown)  # only the named author is muted


def test_undoing_the_dismissal_brings_the_topic_back(community, reader):
    dismissed = next(item.paper for item in feed_for_user(user=reader, limit=6) if item.paper.external_id.startswith("bio"))
    feedback_set(user=reader, paper=dismissed, kind="dismiss", on=True, reason="topic")
    feedback_set(user=reader, paper=dismissed, kind="dismiss", on=False)
    assert "bio" in topics(feed_for_user(user=reader, limit=12))


@pytest.mark.parametrize(
    "kind, reason, author, message",
    [
        ("like", "topic", "", "Only 'not interested' takes a reason"),
        ("dismiss", "mood", "", "Unknown reason"),
        ("dismiss", "author", "Someone Else", "is not an author of this paper"),
        ("dismiss", "topic", "Ada Lovelace", "only with the reason 'author'"),
    ],
)
def test_a_reason_that_does_not_fit_is_refused(alice, kind, reason, author, message):
    paper = PaperFactory()
    with pytest.raises(ValidationError, match=message):
        feedback_set(user=alice, paper=paper, kind=kind, on=True, reason=reason, author=author)
    assert not Interaction.objects.exists()


def test_the_database_refuses_a_reason_on_anything_but_a_dismissal(alice):
    with transaction.atomic(), pytest.raises(IntegrityError):
        Interaction.objects.create(user=alice, paper=PaperFactory(), kind="like", reason="topic")


def test_the_feed_page_offers_the_reasons_and_the_dismissal_takes_effect_at_once(community, reader):
    client = client_for(reader)
    page = client.get("/feed/").content.decode()
    assert "Less on this topic" in page and "Less from Ada Lovelace" in page
    dismissed = next(item.paper for item in feed_for_user(user=reader, limit=6) if item.paper.external_id.startswith("bio"))
    response = client.post(f"/feedback/{dismissed.external_id}", {"kind": "dismiss", "on": "1", "reason": "topic"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "Hidden: less on this topic." in response.content.decode()
    assert response["HX-Trigger"] == "feedback-changed"
    shown = re.findall(r'data-paper="(\w+)-\d+"', client.get("/feed/", HTTP_HX_REQUEST="true").content.decode())
    assert "bio" not in shown[:12] and len(shown) > 12  # the other topics' 14 papers come first


def test_the_paper_page_says_why_it_was_dismissed_and_offers_undo(community, reader):
    papers, _ = community
    paper = papers["astro"][3]
    client = client_for(reader)
    client.post(f"/feedback/{paper.external_id}", {"kind": "dismiss", "on": "1", "reason": "author", "author": "Alan Turing"})
    page = client.get(paper.get_absolute_url()).content.decode()
    assert "Not interested (less from Alan Turing) · undo" in page


def test_a_bad_reason_from_the_site_is_a_400_with_a_message(community, reader):
    paper = community[0]["astro"][3]
    response = client_for(reader).post(
        f"/feedback/{paper.external_id}", {"kind": "dismiss", "on": "1", "reason": "author", "author": "Nobody"}
    )
    assert response.status_code == 400 and "is not an author of this paper" in response.content.decode()


def test_the_api_takes_a_reason(community, reader):
    paper = community[0]["bio"][4]
    client = client_for(reader)
    response = client.post(
        f"/api/papers/{paper.external_id}/feedback/", {"kind": "dismiss", "reason": "topic"}, content_type="application/json"
    )
    assert response.status_code == 200 and response.json()["dismiss"] is True
    assert Interaction.objects.get(user=reader, paper=paper, kind="dismiss").reason == "topic"
    response = client.post(
        f"/api/papers/{paper.external_id}/feedback/", {"kind": "like", "reason": "topic"}, content_type="application/json"
    )
    assert response.status_code == 400 and "reason" in response.json()


def test_muted_authors_cost_one_query_however_many_there_are(community, reader, django_assert_num_queries):
    from tests.test_feed import FEED_PAGE_QUERIES, client_for

    papers, _ = community
    for n, paper in enumerate(papers["astro"][:4]):
        paper.authors = [f"Astronomer {n}", "Ada Lovelace"]
        paper.save()
    for n in range(3):
        feedback_set(user=reader, paper=papers["astro"][n], kind="dismiss", on=True, reason="author", author=f"Astronomer {n}")
    retrain()
    reader.refresh_from_db()
    client = client_for(reader)
    client.get("/feed/")
    with django_assert_num_queries(FEED_PAGE_QUERIES + 1):
        page = client.get("/feed/").content.decode()
    assert "Astro study 3" in page  # by Astronomer 3, whom nobody muted


def test_the_menus_author_button_sends_only_the_name_and_mutes_that_author(community, reader):
    paper = community[0]["astro"][3]
    client = client_for(reader)
    feed = client.get("/feed/").content.decode()
    assert 'name="author" value="Ada Lovelace"' in feed  # one form per menu: the button carries the name, no reason
    response = client.post(
        f"/feedback/{paper.external_id}",
        {"kind": "dismiss", "on": "1", "author": paper.authors[0], "next": "/feed/"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200 and f"Hidden: less from {paper.authors[0]}." in response.content.decode()
    assert Interaction.objects.get(user=reader, paper=paper, kind="dismiss").reason == "author"
