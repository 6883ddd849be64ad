"""Onboarding: sign up, seed the feed by search or paste, rate an informative round, land on a personal feed."""

import numpy as np
import pytest
from django.test import Client

from recommender.model_store import store
from recommender.models import Interaction
from recommender.selectors.feed import feed_for_user
from recommender.selectors.onboarding import onboarding_round
from recommender.services.training import retrain
from tests.conftest import PASSWORD
from tests.factories import PaperFactory, UserFactory
from tests.test_feed import client_for, topics

pytestmark = pytest.mark.django_db


def test_sign_up_leads_to_onboarding(db):
    client = Client()
    response = client.post(
        "/accounts/signup/", {"username": "dora", "email": "dora@example.org", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 302 and response["Location"] == "/accounts/welcome/"
    assert "Pick a few papers you liked" in client.get("/accounts/welcome/").content.decode()


def test_search_and_pick(community):
    charlie = UserFactory(username="charlie")
    client = client_for(charlie)
    page = client.get("/accounts/welcome/", {"q": "enzyme"}).content.decode()
    assert "Bio study 1: enzyme" in page and "Astro" not in page
    response = client.post("/accounts/welcome/", {"pick": "bio-1", "q": "enzyme"})
    assert response["Location"] == "/accounts/welcome/?q=enzyme"
    page = client.get("/accounts/welcome/", {"q": "enzyme"}).content.decode()
    assert "✓ picked" in page and "Your picks (1)" in page and "Picked “Bio study 1: enzyme”." in page
    assert Interaction.objects.filter(user=charlie, paper__external_id="bio-1", kind="like").exists()
    assert client.post("/accounts/welcome/", {"pick": "no-such-paper"}).status_code == 404


def test_pasting_ids_and_titles_picks_the_matches_and_shows_the_rest(community):
    charlie = UserFactory(username="charlie")
    paper = PaperFactory(
        external_id="2407.12753", title="LookupViT: Compressing visual information", url="https://arxiv.org/abs/2407.12753"
    )
    text = "arXiv:2407.12753v1\nastro-1\nAstro Study 2: Telescope\n9999.99999\nA paper we do not have at all"
    response = client_for(charlie).post("/accounts/welcome/", {"references": text})
    page = response.content.decode()
    assert response.status_code == 200
    assert "Found 3 papers; 2 not found." in page
    assert "<li>9999.99999</li>" in page and "<li>A paper we do not have at all</li>" in page
    liked = set(Interaction.objects.filter(user=charlie, kind="like").values_list("paper__external_id", flat=True))
    assert liked == {paper.external_id, "astro-1", "astro-2"}


def test_pasting_too_much_is_a_400_and_picks_nothing(community):
    charlie = UserFactory(username="charlie")
    response = client_for(charlie).post("/accounts/welcome/", {"references": "astro-1\n" * 501})
    assert response.status_code == 400 and "at most 500 references" in response.content.decode()
    assert not Interaction.objects.filter(user=charlie).exists()


def test_onboarding_needs_an_account(db):
    assert Client().get("/accounts/welcome/")["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("trained", [False, True])
def test_the_rating_round_spans_topics_and_avoids_what_was_picked(community, trained):
    papers, _ = community
    if trained:
        retrain()
    charlie = UserFactory(username="charlie")
    assert set(topics_of(onboarding_round(user=charlie, size=3))) == {"astro", "bio", "lang"}
    client_for(charlie).post("/accounts/welcome/", {"references": "bio-0\nbio-1"})
    round_ = onboarding_round(user=charlie, size=2)
    assert set(topics_of(round_)) == {"astro", "lang"}  # it asks about what we do not know yet
    assert not {p.external_id for p in round_} & {"bio-0", "bio-1"}


def test_the_round_is_not_just_the_most_popular(community):
    papers, readers = community
    for reader in list(readers.values())[:12]:  # astro's papers become by far the most popular
        for paper in papers["astro"]:
            Interaction.objects.get_or_create(user=reader, paper=paper, kind="like")
    retrain()
    charlie = UserFactory(username="charlie")
    popularity = store.current().model.popularity
    most_popular = np.argsort(-popularity)[:4]
    assert {store.current().paper_pks[c] for c in most_popular} <= {p.pk for p in papers["astro"]}
    assert len(set(topics_of(onboarding_round(user=charlie, size=4)))) == 3


def test_finishing_the_round_stores_the_ratings_and_the_feed_is_personal_at_once(community):
    papers, _ = community
    charlie = UserFactory(username="charlie")
    client = client_for(charlie)
    client.post("/accounts/welcome/", {"references": "lang-0\nlang-1"})
    round_ = onboarding_round(user=charlie, size=4)
    page = client.get("/accounts/welcome/rate/").content.decode()
    assert all(p.title in page for p in round_)
    rated = round_[0]
    answers = {f"stars-{p.pk}": "" for p in round_} | {f"stars-{rated.pk}": "5"}
    response = client.post("/accounts/welcome/rate/", answers, follow=True)
    assert response.redirect_chain[-1][0] == "/feed/"
    assert "Your feed is ready: it follows the 2 papers you picked and the 1 you rated." in response.content.decode()
    assert Interaction.objects.get(user=charlie, paper=rated, kind="rate").value == 5
    assert Interaction.objects.get(user=charlie, paper=rated, kind="rate").via == "round"  # we suggested it
    feed = feed_for_user(user=charlie, limit=6)
    assert set(topics(feed)) == {"lang", topics_of([rated])[0]}
    assert all(item.source != "popular" for item in feed)
    assert "Similar to" in response.content.decode()


def test_a_bad_rating_is_a_400_and_stores_nothing(community):
    charlie = UserFactory(username="charlie")
    papers, _ = community
    answers = {f"stars-{papers['astro'][0].pk}": "4", f"stars-{papers['bio'][0].pk}": "11"}
    response = client_for(charlie).post("/accounts/welcome/rate/", answers)
    assert response.status_code == 400 and "from 1 to 5" in response.content.decode()
    assert not Interaction.objects.filter(user=charlie).exists()


def test_a_new_reader_s_feed_points_to_onboarding_until_they_give_feedback(community):
    charlie = UserFactory(username="charlie")
    client = client_for(charlie)
    assert "Set up your feed in a minute" in client.get("/feed/").content.decode()
    client.post("/feedback/astro-1", {"kind": "like", "on": "1"})
    assert "Set up your feed in a minute" not in client.get("/feed/").content.decode()


def topics_of(papers):
    return [p.external_id.split("-")[0] for p in papers]


@pytest.mark.parametrize("field", ["stars-99999999999999999999", "stars-²", "stars-" + "9" * 5000])
def test_a_rating_for_an_impossible_paper_id_is_ignored_not_a_server_error(community, field):
    from urllib.parse import urlencode

    from recommender.models import Interaction

    charlie = UserFactory(username="charlie")
    response = client_for(charlie).post(
        "/accounts/welcome/rate/", urlencode({field: "3"}), content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 302 and not Interaction.objects.filter(user=charlie).exists()


def test_a_paste_of_many_titles_looks_up_a_bounded_number_and_lists_the_rest(community, django_assert_max_num_queries):
    from recommender.selectors.references import MAX_TITLE_LOOKUPS

    charlie = UserFactory(username="charlie")
    titles = [f"Astro Study {n % 8}: a title that is not quite right number {n}" for n in range(499)]
    text = "astro-1\n" + "\n".join(titles)
    with django_assert_max_num_queries(60 + 5 * MAX_TITLE_LOOKUPS):
        response = client_for(charlie).post("/accounts/welcome/", {"references": text})
    page = response.content.decode()
    assert response.status_code == 200
    cut = 499 - MAX_TITLE_LOOKUPS
    assert f"{cut} not looked up" in page and f"Not looked up: {cut} titles past the first {MAX_TITLE_LOOKUPS} of one paste" in page
    assert f"<li>{titles[-1]}</li>" in page and f"<li>{titles[MAX_TITLE_LOOKUPS]}</li>" in page
    assert Interaction.objects.filter(user=charlie, paper__external_id="astro-1").exists()  # ids are always looked up


def test_a_title_with_typos_is_found(community):
    from recommender.selectors.references import references_match

    PaperFactory(external_id="attn", title="Attention Is All You Need")
    found = references_match(text="Atention is all you ned\nSomething else entirely, not in the catalogue")
    assert [p.external_id for p in found.papers] == ["attn"] and found.unmatched == ["Something else entirely, not in the catalogue"]


def test_titles_are_looked_up_through_the_trigram_index(community):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the trigram index exists on PostgreSQL only")
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'paper_title_trgm'")
        assert "gin_trgm_ops" in cursor.fetchone()[0]
        cursor.execute("SET enable_seqscan = off")
        from recommender.models import Paper

        sql, params = Paper.objects.filter(title__trigram_similar="Atention is all you ned").query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        assert "paper_title_trgm" in " ".join(row[0] for row in cursor.fetchall())
