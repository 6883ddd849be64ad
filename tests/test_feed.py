"""The personalised feed: fallback, fold-in on every like, dismissals, reasons, pages and API."""

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from recommender.model_store import store
from recommender.models import Interaction, Paper, TrainingRun
from recommender.selectors.feed import feed_for_user
from recommender.selectors.neighbours import paper_neighbours
from recommender.services.feedback import feedback_set, rating_set
from recommender.services.training import retrain
from tests.arrays import memory_mapped
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def topics(items):
    return [item.paper.external_id.split("-")[0] for item in items]


@pytest.fixture
def newcomer(db):
    return UserFactory(username="charlie")


def client_for(user) -> Client:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def test_with_no_model_a_new_reader_gets_popular_papers_not_an_error(community, newcomer):
    assert not TrainingRun.objects.exists()
    items = feed_for_user(user=newcomer, limit=5)
    assert len(items) == 5
    assert all(item.reason == "New and popular" and item.source == "popular" for item in items)
    assert store.current().version == ""


def test_with_no_model_a_like_already_personalises_by_content(community, newcomer):
    papers, _ = community
    feedback_set(user=newcomer, paper=papers["bio"][0], kind="like", on=True)
    items = feed_for_user(user=newcomer, limit=5)
    assert topics(items) == ["bio"] * 5
    assert items[0].reason.startswith("Similar to “Bio study 0")
    assert items[0].because == papers["bio"][0]


@pytest.mark.parametrize("trained", [False, True])
def test_a_like_changes_the_very_next_feed(community, newcomer, trained):
    papers, _ = community
    if trained:
        retrain()
    feedback_set(user=newcomer, paper=papers["astro"][0], kind="like", on=True)
    assert set(topics(feed_for_user(user=newcomer, limit=4))) == {"astro"}
    for paper in papers["lang"][:3]:
        feedback_set(user=newcomer, paper=paper, kind="like", on=True)
    after = topics(feed_for_user(user=newcomer, limit=4))
    assert after.count("lang") >= 2


def test_read_and_library_papers_are_left_out(community, newcomer):
    papers, _ = community
    retrain()
    feedback_set(user=newcomer, paper=papers["astro"][0], kind="like", on=True)
    feedback_set(user=newcomer, paper=papers["astro"][1], kind="save", on=True)
    rating_set(user=newcomer, paper=papers["astro"][2], stars=5)
    Interaction.objects.create(user=newcomer, paper=papers["astro"][3], kind="read")
    shown = {item.paper.pk for item in feed_for_user(user=newcomer, limit=24)}
    assert not shown & {p.pk for p in papers["astro"][:4]}


def test_a_dismissed_paper_never_returns_and_similar_ones_drop(community, newcomer):
    papers, _ = community
    retrain()
    for paper in (papers["astro"][0], papers["bio"][0]):
        feedback_set(user=newcomer, paper=paper, kind="like", on=True)
    before = feed_for_user(user=newcomer, limit=24)
    bio_before = [i for i, item in enumerate(before) if item.paper.external_id.startswith("bio")]
    dismissed = papers["bio"][1]
    feedback_set(user=newcomer, paper=dismissed, kind="dismiss", on=True)
    after = feed_for_user(user=newcomer, limit=24)
    assert dismissed.pk not in {item.paper.pk for item in after}
    bio_after = [i for i, item in enumerate(after) if item.paper.external_id.startswith("bio")]
    assert sum(bio_after) / len(bio_after) > sum(bio_before) / len(bio_before)  # biology papers moved down


def test_a_low_rating_counts_against_a_paper_and_its_topic(community, newcomer):
    papers, _ = community
    retrain()
    for paper in (papers["astro"][0], papers["lang"][0]):
        feedback_set(user=newcomer, paper=paper, kind="like", on=True)
    rated = papers["lang"][1]
    others = {paper.pk for paper in papers["lang"][2:]}

    def places_of_the_others() -> list[int]:
        return [i for i, item in enumerate(feed_for_user(user=newcomer, limit=24)) if item.paper.pk in others]

    before = places_of_the_others()
    rating_set(user=newcomer, paper=rated, stars=1)
    after = places_of_the_others()
    assert rated.pk not in {item.paper.pk for item in feed_for_user(user=newcomer, limit=24)}
    # Leaving the rated paper out alone would move the other language papers up; the low rating moves them down.
    assert sum(after) / len(after) > sum(before) / len(before)


def test_every_item_has_a_reason_naming_a_paper_the_reader_liked(community):
    _, readers = community
    retrain()
    reader = readers["lang2"]
    liked = set(Interaction.objects.filter(user=reader, kind="like").values_list("paper_id", flat=True))
    items = feed_for_user(user=reader, limit=3)  # the three language papers the reader has not seen
    assert len(items) == 3
    for item in items:
        assert item.source in ("content", "collaborative")
        assert item.because.pk in liked
        assert item.because.title in item.reason


def test_a_web_process_notices_a_new_model_without_a_restart(community, newcomer, settings):
    first = retrain()
    assert store.current().version == first.version
    second = retrain()
    assert store.current().version == second.version
    settings.MODEL_CHECK_SECONDS = 3600
    third = retrain()
    assert store.current().version == second.version  # checked recently: no database look-up yet
    store.expire()
    assert store.current().version == third.version


def test_home_is_the_feed_for_readers_and_the_catalogue_for_visitors(community, client):
    _, readers = community
    retrain()
    page = client_for(readers["bio1"]).get(reverse("home"))
    assert page.status_code == 200 and "Your feed" in page.text
    assert "Readers who liked" in page.text or "Similar to" in page.text
    assert "Catalogue" in client.get(reverse("home")).text


def test_feed_page_reloads_itself_after_feedback(community):
    papers, readers = community
    retrain()
    client = client_for(readers["astro1"])
    page = client.get(reverse("feed"))
    assert 'hx-trigger="feedback-changed from:body"' in page.text
    response = client.post(
        reverse("paper_feedback", args=[papers["bio"][4].external_id]), {"kind": "like", "on": "1"}, HTTP_HX_REQUEST="true"
    )
    assert response["HX-Trigger"] == "feedback-changed"
    partial = client.get(reverse("feed"), HTTP_HX_REQUEST="true")
    assert partial.text.lstrip().startswith('<div id="feed"')
    assert 'data-paper="bio-4"' not in partial.text  # liked now, so it left the feed ...
    assert "Bio study 4: folding" in partial.text  # ... and it is the reason for what replaced it


def test_api_feed(community, client):
    _, readers = community
    run = retrain()
    assert client.get("/api/feed/").status_code == 401
    client = client_for(readers["astro1"])
    body = client.get("/api/feed/", {"limit": 3}).json()
    assert body["model"] == run.version and len(body["results"]) == 3
    first = body["results"][0]
    assert set(first) == {"paper", "score", "reason", "source", "because"}
    assert first["paper"]["id"].startswith("astro") and first["because"].startswith("astro")
    bad = client.get("/api/feed/", {"limit": 0})
    assert bad.status_code == 400 and "limit" in bad.json()


def test_paper_page_shows_similar_papers_and_what_its_readers_also_liked(community, client):
    papers, _ = community
    retrain()
    neighbours = paper_neighbours(paper=papers["bio"][2])
    assert neighbours.similar and all(p.external_id.startswith("bio") for p in neighbours.similar)
    assert neighbours.also_liked and all(p.external_id.startswith("bio") for p in neighbours.also_liked)
    page = client.get(papers["bio"][2].get_absolute_url()).text
    assert "Similar papers" in page and "Readers who liked this also liked" in page


def test_a_paper_deleted_after_the_model_loaded_is_skipped_not_an_error(community, settings):
    papers, readers = community
    retrain()
    settings.MODEL_CHECK_SECONDS = 3600  # the loaded model (and its paper map) stays in memory
    reader = readers["bio1"]
    first = feed_for_user(user=reader, limit=3)
    first[0].paper.delete()
    again = feed_for_user(user=reader, limit=3)
    assert first[0].paper.external_id not in {i.paper.external_id for i in again}
    assert client_for(reader).get("/feed/").status_code == 200


def test_a_reader_with_only_dismissals_gets_their_effect(community, newcomer):
    papers, _ = community
    retrain()
    baseline = feed_for_user(user=newcomer, limit=24)
    for paper in papers["astro"][:3]:
        feedback_set(user=newcomer, paper=paper, kind="dismiss", on=True)
    after = feed_for_user(user=newcomer, limit=24)

    def astro_scores(items):
        return {item.paper.pk: item.score for item in items if item.paper.external_id.startswith("astro")}

    assert not {p.pk for p in papers["astro"][:3]} & {item.paper.pk for item in after}  # the dismissed papers are gone
    assert len(astro_scores(after)) == 5
    # And the rest of their topic sinks: each scores far lower (scores, not places: papers tied in popularity take
    # their places among themselves in no set order).
    before, now = astro_scores(baseline), astro_scores(after)
    assert all(now[pk] < before[pk] - 0.5 for pk in now), (before, now)


def test_a_paper_added_after_training_reaches_feeds_through_its_content(community, newcomer):
    from tests.factories import PaperFactory

    papers, _ = community
    retrain()
    for paper in papers["lang"][:3]:
        feedback_set(user=newcomer, paper=paper, kind="like", on=True)
    before = store.current()
    fresh = PaperFactory(
        external_id="lang-new", title="A new grammar for type inference", abstract="compiler parser grammar type inference, freshly written"
    )
    items = feed_for_user(user=newcomer, limit=6)  # the five unseen language papers and the new one
    assert fresh.pk in {i.paper.pk for i in items}
    item = next(i for i in items if i.paper.pk == fresh.pk)
    assert item.source == "content" and item.because in papers["lang"][:3]
    after = store.current()
    assert after.version == before.version  # still the trained model, with the new paper in its side block
    assert after.n_items == before.n_items + 1 and after.model.n_items == before.model.n_items
    assert after.model.item_factors is before.model.item_factors  # the model's arrays are not copied: they stay shared
    assert memory_mapped(after.model.item_factors) and memory_mapped(after.model.content.data)
    assert len(after.catalogue.side_factors) == 1 and after.paper_pks[-1] == fresh.pk
    second = PaperFactory(external_id="lang-newer", title="Grammar and parser", abstract="compiler parser grammar, another one")
    newer = store.current()  # read incrementally: only the new paper's row
    assert len(newer.catalogue.side_factors) == 2 and newer.column_of[second.pk] == newer.n_items - 1
    assert newer.column_of[fresh.pk] == after.column_of[fresh.pk]
    assert paper_neighbours(paper=fresh).similar[0].external_id.startswith("lang")


def test_the_new_this_week_window(community, newcomer):
    from datetime import timedelta

    from django.utils import timezone

    from recommender.models import Paper

    papers, _ = community
    retrain()
    Paper.objects.update(added_at=timezone.now() - timedelta(days=30))
    recent = papers["bio"][3]
    Paper.objects.filter(pk=recent.pk).update(added_at=timezone.now() - timedelta(days=2))
    store.clear()
    feedback_set(user=newcomer, paper=papers["astro"][0], kind="like", on=True)
    week = feed_for_user(user=newcomer, limit=10, within_days=7)
    assert [item.paper.pk for item in week] == [recent.pk]
    client = client_for(newcomer)
    page = client.get(reverse("feed"), {"window": "week"})
    assert "<strong>new this week</strong>" in page.text and recent.title in page.text
    assert client.get("/api/feed/", {"window": "week"}).json()["results"][0]["paper"]["id"] == recent.external_id
    assert client.get("/api/feed/", {"window": "month"}).status_code == 400


def test_reset_personalisation_forgets_the_taste_but_keeps_the_library(community, newcomer):
    papers, _ = community
    retrain()
    for paper in papers["lang"][:3]:
        feedback_set(user=newcomer, paper=paper, kind="like", on=True)
    assert topics(feed_for_user(user=newcomer, limit=3)) == ["lang"] * 3
    client = client_for(newcomer)
    client.post("/accounts/settings/reset-taste/")
    newcomer.refresh_from_db()  # as the next request would load the reader
    after = feed_for_user(user=newcomer, limit=5)
    assert all(item.reason == "New and popular" for item in after)
    assert not {p.pk for p in papers["lang"][:3]} & {item.paper.pk for item in after}  # liked papers are still not re-recommended
    assert len(client.get("/library/").context["liked"]) == 3
    feedback_set(user=newcomer, paper=papers["bio"][0], kind="like", on=True)
    assert topics(feed_for_user(user=newcomer, limit=3)) == ["bio"] * 3  # a new taste, from the next like on


def test_the_reader_leans_the_feed_to_content_or_to_readers(community):
    papers, readers = community
    retrain()
    reader = readers["bio2"]
    client = client_for(reader)
    client.post("/feed/balance/", {"balance": "content"})
    reader.refresh_from_db()  # as the next request would load the reader
    assert {item.source for item in feed_for_user(user=reader, limit=3)} == {"content"}
    page = client.get(reverse("feed"))
    assert 'value="content" class="toggle on"' in page.text
    client.post("/feed/balance/", {"balance": "readers"})
    reader.refresh_from_db()
    assert {item.source for item in feed_for_user(user=reader, limit=3)} == {"collaborative"}
    client.post("/feed/balance/", {"balance": "blend"})
    reader.refresh_from_db()
    assert reader.cf_balance is None
    assert client.post("/feed/balance/", {"balance": "everything"}).status_code == 400


# session, user, the active model, the catalogue key, the reader's feedback, their interests, the papers shown, their collections
FEED_PAGE_QUERIES = 8


@pytest.mark.parametrize(("likes", "page_size"), [(0, 20), (1, 20), (6, 20), (6, 2), (6, 12)])
def test_the_feed_page_takes_a_fixed_number_of_queries_whatever_the_reader_did_and_the_page_size(
    community, newcomer, likes, page_size, settings, django_assert_num_queries
):
    papers, _ = community
    retrain()
    settings.FEED_PAGE_SIZE = page_size
    for paper in papers["astro"][:likes]:
        feedback_set(user=newcomer, paper=paper, kind="like", on=True)
    client = client_for(newcomer)
    client.get("/feed/")  # the served model is loaded once per process, not per request
    with django_assert_num_queries(FEED_PAGE_QUERIES):
        response = client.get("/feed/")
    assert response.status_code == 200 and len(response.context["items"]) == min(page_size, 24 - likes)


def test_a_paper_often_saved_with_one_you_liked_is_explained_by_the_graph(community, newcomer, settings):
    """Ten readers save an astronomy paper and a compiler paper together (nothing alike in their texts): after liking
    the first, a newcomer is shown the second because the two are so often saved together."""
    papers, _ = community
    settings.BLEND_GRAPH_SHARE = 1.0
    astro, lang = papers["astro"][0], papers["lang"][7]
    for n in range(10):
        pair_reader = UserFactory(username=f"pair{n}")
        for paper in (astro, lang):
            Interaction.objects.create(user=pair_reader, paper=paper, kind="save")
    run = retrain()
    assert run.parameters["blend"]["graph_share"] == 1.0
    feedback_set(user=newcomer, paper=astro, kind="like", on=True)
    items = feed_for_user(user=newcomer, limit=5)
    pick = next(item for item in items if item.paper == lang)
    assert pick.source == "graph" and pick.because == astro
    assert pick.reason == f"Often saved together with “{astro.title}”, which you liked"
    # The paper page's "readers who liked this also liked" lists it from the same neighbours.
    assert lang in paper_neighbours(paper=astro).also_liked


def test_between_catalogue_counts_new_papers_are_found_by_one_index_lookup(community, newcomer, settings, django_assert_num_queries):
    """Counting the papers (to notice withdrawn or deleted ones) is a pass over the table, so it is done every
    CATALOGUE_CHECK_SECONDS; in between, a look for new papers is one query on the primary key."""
    from tests.factories import PaperFactory

    retrain()
    settings.CATALOGUE_CHECK_SECONDS = 3600
    served = store.current()
    with django_assert_num_queries(2):  # the active model, the newest paper's pk
        assert store.current() is served
    fresh = PaperFactory(external_id="lang-quick", title="Grammar", abstract="compiler parser grammar type inference")
    grown = store.current()
    assert grown.column_of[fresh.pk] == grown.n_items - 1 and grown.catalogue_key.papers == served.catalogue_key.papers + 1
    Paper.objects.filter(pk=fresh.pk).update(withdrawn_at=timezone.now())
    assert store.current().recommendable[grown.column_of[fresh.pk]]  # not counted yet
    store.expire()  # the next look counts (as after CATALOGUE_CHECK_SECONDS)
    assert not store.current().recommendable[grown.column_of[fresh.pk]]


def test_papers_added_after_training_are_explained_by_their_content_even_far_down_the_feed(community, newcomer, settings):
    """Papers in the side block have no graph neighbours and only mapped factors: whatever their scores, a reason from
    their content (or none), never from the graph (whose rows they are not in)."""
    from tests.factories import PaperFactory

    papers, _ = community
    settings.BLEND_GRAPH_SHARE = 1.0
    retrain()
    feedback_set(user=newcomer, paper=papers["astro"][0], kind="like", on=True)
    fresh = [PaperFactory(external_id=f"chem-{n}", title=f"Chemistry {n}", abstract="molecule reaction catalyst") for n in range(4)]
    items = feed_for_user(user=newcomer, limit=40)  # every paper, the new ones far down
    new_items = [item for item in items if item.paper in fresh]
    assert len(new_items) == 4 and all(item.source in ("content", "popular") for item in new_items)
