"""What readers see of a paper's metadata: authors (linked to their other papers), dates, the arXiv link;
followed categories; withdrawn papers."""

from datetime import date

import pytest
from django.utils import timezone

from recommender.models import Interaction
from recommender.selectors.feed import feed_for_user
from recommender.services.training import retrain
from tests.factories import PaperFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def arxiv_paper(db):
    return PaperFactory(
        external_id="2611.01234",
        title="Sparse Attention at Scale",
        authors=["María José García-López", "John A. Smith Jr"],
        published=date(2026, 11, 25),
        updated=date(2026, 11, 27),
        version=2,
        categories=["cs.LG", "stat.ML"],
        primary_category="cs.LG",
        url="https://arxiv.org/abs/2611.01234",
        doi="10.48550/arXiv.2611.01234",
        comments="12 pages",
    )


def test_the_paper_page_shows_authors_dates_and_arxiv_links(client, arxiv_paper):
    page = client.get(arxiv_paper.get_absolute_url()).content.decode()
    assert '<a href="/authors/Mar%C3%ADa%20Jos%C3%A9%20Garc%C3%ADa-L%C3%B3pez/">María José García-López</a>' in page
    assert "Submitted 25 Nov 2026, updated 27 Nov 2026 (v2)" in page and "cs.LG, stat.ML" in page
    assert 'href="https://arxiv.org/abs/2611.01234"' in page and 'href="https://arxiv.org/pdf/2611.01234"' in page
    assert "12 pages" in page and "doi.org/10.48550/arXiv.2611.01234" in page


def test_an_author_links_to_their_other_papers(client, arxiv_paper):
    other = PaperFactory(title="Another by Smith", authors=["John A. Smith Jr"])
    PaperFactory(title="Not by Smith", authors=["John A. Smith"])  # a different name: not theirs
    page = client.get("/authors/John%20A.%20Smith%20Jr/").content.decode()
    assert "Papers by John A. Smith Jr" in page and arxiv_paper.title in page and other.title in page
    assert "Not by Smith" not in page and "2 papers" in page


def test_catalogue_cards_show_authors_date_and_arxiv_id(client, arxiv_paper):
    page = client.get("/papers/").content.decode()
    assert "arXiv:2611.01234" in page and "25 Nov 2026" in page and "/authors/John%20A.%20Smith%20Jr/" in page


def test_a_reader_who_follows_categories_gets_papers_in_them(alice, alice_client):
    vision = [
        PaperFactory(title=f"Vision {n}", abstract="images pixels convolution", categories=["cs.CV"], primary_category="cs.CV")
        for n in range(4)
    ]
    language = [
        PaperFactory(title=f"Language {n}", abstract="words sentences parsing", categories=["cs.CL"], primary_category="cs.CL")
        for n in range(4)
    ]
    undated = PaperFactory(title="A paper without categories", abstract="images and words")
    Interaction.objects.create(user=alice, paper=vision[0], kind="like")
    response = alice_client.post("/accounts/settings/", {"weekly_digest": "", "share_feedback": "on", "categories": "cs.CL, cs.CL"})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.categories == ["cs.CL"]
    shown = {item.paper for item in feed_for_user(user=alice)}
    assert shown == {*language, undated}
    bad = alice_client.post("/accounts/settings/", {"weekly_digest": "", "categories": "cs.LG; DROP TABLE"})
    assert bad.status_code == 400 and "Not an arXiv category" in bad.content.decode()


def test_categories_can_be_chosen_at_onboarding(alice, alice_client):
    response = alice_client.post("/accounts/welcome/categories/", {"categories": "stat.ML cs.LG"})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.categories == ["cs.LG", "stat.ML"]
    assert 'value="cs.LG stat.ML"' in alice_client.get("/accounts/welcome/").content.decode()


def test_a_withdrawn_paper_is_no_longer_recommended_or_listed_but_its_feedback_stays(community, client):
    papers, readers = community
    retrain()
    reader = readers["astro0"]
    before = {item.paper for item in feed_for_user(user=reader)}
    gone = next(iter(before))
    gone.withdrawn_at = timezone.now()
    gone.save()
    assert gone not in {item.paper for item in feed_for_user(user=reader)}
    assert gone.title not in client.get("/papers/").content.decode()
    assert "withdrawn by its source" in client.get(gone.get_absolute_url()).content.decode()
    liked = Interaction.objects.filter(user=reader, kind="like").first().paper
    liked.withdrawn_at = timezone.now()
    liked.save()
    assert Interaction.objects.filter(user=reader, paper=liked).exists() and feed_for_user(user=reader)


def test_a_reader_we_know_nothing_about_sees_what_is_trending(alice, community):
    retrain()
    trending = PaperFactory(title="A paper everyone upvoted", abstract="nothing like the community's topics", upvotes=250)
    PaperFactory(title="A paper few upvoted", abstract="nothing like it either", upvotes=2)
    assert feed_for_user(user=alice)[0].paper == trending


def test_only_arxiv_categories_can_be_followed(alice_client):
    response = alice_client.post("/accounts/welcome/categories/", {"categories": "not a cs.LG"})
    assert response.status_code == 400 and "Not an arXiv category: a, not" in response.content.decode()


def test_pages_answer_a_head_request_and_it_records_no_read(alice, alice_client, arxiv_paper):
    for url in ("/", "/papers/", "/trending/", arxiv_paper.get_absolute_url()):
        assert alice_client.head(url).status_code == 200, url
    assert not Interaction.objects.filter(user=alice).exists()
