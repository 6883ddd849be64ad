"""A reader's interests (facets): found in their papers, stable under a new like, one for a one-topic reader,
renamed, merged and hidden by the reader, kept across a retrain, and given their share of the feed."""

import numpy as np
import pytest
from rest_framework.test import APIClient

from recommender.engine import facets as engine
from recommender.models import Facet
from recommender.selectors.facets import facets_of
from recommender.selectors.feed import feed_for_user
from recommender.services.facets import FacetError, facet_hide, facet_rename, facets_merge
from recommender.services.feedback import feedback_set
from recommender.services.training import retrain

pytestmark = pytest.mark.django_db


def like(user, papers):
    for paper in papers:
        feedback_set(user=user, paper=paper, kind="like", on=True)


def topic_of(facet: Facet) -> set[str]:
    from recommender.models import Paper

    return {external_id.split("-")[0] for external_id in Paper.objects.filter(pk__in=facet.papers).values_list("external_id", flat=True)}


@pytest.fixture
def two_topics(community, alice):
    """Alice likes five astronomy papers and four on biology; the model is trained with her."""
    papers, _ = community
    like(alice, papers["astro"][:5] + papers["bio"][:4])
    retrain()
    return papers


def api_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_the_split_finds_two_directions_and_keeps_one_blob_whole():
    rng = np.random.default_rng(0)
    two = np.vstack([[1, 0, 0] + 0.05 * rng.standard_normal((7, 3)), [0, 1, 0] + 0.05 * rng.standard_normal((4, 3))])
    labels = engine.split(two)
    assert labels.tolist() == [0] * 7 + [1] * 4  # largest first
    one = [1, 1, 0] + 0.05 * rng.standard_normal((12, 3))
    assert set(engine.split(one).tolist()) == {0}
    assert set(engine.split(two[:4]).tolist()) == {0}  # too few papers to split
    pairs = np.repeat(np.eye(4), 2, axis=0) + 0.01 * rng.standard_normal((8, 4))  # four topics of two papers each
    assert np.bincount(engine.split(pairs)).min() >= engine.MIN_FACET_PAPERS  # no interest of one or two papers


def test_a_new_facet_continues_the_old_one_it_overlaps_most():
    assert engine.matched([{1, 2, 3}, {7, 8}], [{7, 8, 9}, {1, 2}, {5}]) == [1, 0, None]


def test_each_facet_large_enough_is_sure_of_its_best_papers_on_the_first_page():
    order = np.arange(10)  # papers 0..9, best first
    bests = [np.array([0, 1]), np.array([8, 9]), np.array([7, 6])]
    floored, placed = engine.page_floor(order, bests, [10, 4, 1], page=4)
    assert floored.tolist() == [0, 1, 8, 9, 2, 3, 4, 5, 6, 7]  # the third facet is too small for places of its own
    assert placed == {8: 1, 9: 1}
    assert engine.page_floor(order, bests[:1], [10], page=4)[0].tolist() == order.tolist()
    same, placed = engine.page_floor(order, [np.array([0]), np.array([1])], [5, 5], page=4)
    assert same.tolist() == order.tolist() and placed == {}  # both already on the page


def test_a_reader_of_two_topics_gets_two_named_facets_and_a_new_like_joins_one_without_reshuffling(two_topics, alice):
    found = facets_of(user=alice)
    assert [size for _, size in found] == [5, 4]
    assert [topic_of(facet) for facet, _ in found] == [{"astro"}, {"bio"}]
    astro, bio = (facet for facet, _ in found)
    assert any(word in astro.name for word in "galaxy star telescope cosmology redshift".split()), astro.name
    assert astro.name != bio.name

    like(alice, [two_topics["astro"][5]])
    after = facets_of(user=alice)
    assert [(facet.pk, facet.name, size) for facet, size in after] == [(astro.pk, astro.name, 6), (bio.pk, bio.name, 4)]
    assert Facet.objects.filter(owner=alice).count() == 2


def test_a_one_topic_reader_gets_one_facet_and_no_interest_in_the_reasons(community, alice):
    papers, _ = community
    like(alice, papers["lang"][:7])
    retrain()
    found = facets_of(user=alice)
    assert len(found) == 1 and found[0][1] == 7
    assert not any("interest" in item.reason for item in feed_for_user(user=alice, limit=10))


def test_the_feed_names_the_interest_behind_each_card_and_shows_both(two_topics, alice):
    items = feed_for_user(user=alice, limit=6)
    labels = {facet.label for facet, _ in facets_of(user=alice)}
    assert {item.interest for item in items} == labels
    assert all(item.reason.startswith(f"For your interest in “{item.interest}”: ") for item in items)


def test_hiding_a_facet_takes_it_out_of_the_feed_and_renames_and_hiding_survive_a_retrain(two_topics, alice):
    astro, bio = (facet for facet, _ in facets_of(user=alice))
    facet_hide(user=alice, facet_id=bio.pk)
    facet_rename(user=alice, facet_id=astro.pk, name="  Stars   and galaxies ")
    items = feed_for_user(user=alice, limit=5)
    assert [item.paper.external_id.split("-")[0] for item in items[:3]] == ["astro"] * 3
    assert not any("interest" in item.reason for item in items)  # one visible interest left: no facet named

    retrain()  # another model: the facets are found again, and keep what the reader chose
    again = facets_of(user=alice)
    expected = [(astro.pk, "Stars and galaxies", False), (bio.pk, bio.name, True)]
    assert [(facet.pk, facet.label, facet.hidden) for facet, _ in again] == expected
    assert {facet.model_version for facet, _ in again} != {astro.model_version}


def test_merged_facets_stay_one_after_a_retrain(two_topics, alice):
    astro, bio = (facet for facet, _ in facets_of(user=alice))
    merged = facets_merge(user=alice, facet_id=bio.pk, into_id=astro.pk)
    assert [(facet.pk, size) for facet, size in facets_of(user=alice)] == [(merged.pk, 9)]
    retrain()
    assert [(facet.label, size) for facet, size in facets_of(user=alice)] == [(astro.name, 9)]


def test_another_reader_cannot_see_or_change_your_facets(two_topics, alice, bob):
    astro, bio = (facet for facet, _ in facets_of(user=alice))
    for change in (
        lambda: facet_hide(user=bob, facet_id=astro.pk),
        lambda: facet_rename(user=bob, facet_id=astro.pk, name="mine"),
        lambda: facets_merge(user=bob, facet_id=astro.pk, into_id=bio.pk),
    ):
        with pytest.raises(FacetError):
            change()
    client = api_for(bob)
    assert client.get("/api/facets/").json() == []
    assert client.patch(f"/api/facets/{astro.pk}/", {"hidden": True}, format="json").status_code == 404
    assert client.post(f"/api/facets/{astro.pk}/merge/", {"into": bio.pk}, format="json").status_code == 404
    assert not Facet.objects.get(pk=astro.pk).hidden


def test_the_facets_api_lists_renames_hides_and_merges(two_topics, alice):
    client = api_for(alice)
    listed = client.get("/api/facets/").json()
    assert [(f["size"], f["hidden"]) for f in listed] == [(5, False), (4, False)]
    astro, bio = listed
    renamed = client.patch(f"/api/facets/{astro['id']}/", {"name": "Cosmology", "hidden": False}, format="json").json()
    assert (renamed["name"], renamed["found_name"]) == ("Cosmology", astro["name"])
    assert client.patch(f"/api/facets/{astro['id']}/", {"name": "x" * 101}, format="json").status_code == 400
    assert client.post(f"/api/facets/{astro['id']}/merge/", {"into": astro["id"]}, format="json").status_code == 400
    merged = client.post(f"/api/facets/{bio['id']}/merge/", {"into": astro["id"]}, format="json").json()
    assert (merged["name"], merged["size"]) == ("Cosmology", 9)
    assert client.get("/api/facets/", HTTP_AUTHORIZATION="").status_code == 200
    assert APIClient().get("/api/facets/").status_code in (401, 403)


def test_the_interests_page_renames_hides_and_merges(two_topics, alice, alice_client):
    page = alice_client.get("/interests/")
    assert page.status_code == 200
    astro, bio = (facet for facet, _ in facets_of(user=alice))
    assert astro.name in page.content.decode() and bio.name in page.content.decode()
    feed = alice_client.get("/feed/").content.decode()
    assert "Your interests:" in feed and "/interests/" in feed
    assert alice_client.post("/interests/", {"facet": astro.pk, "action": "rename", "name": "<b>Sky</b>"}).status_code == 302
    assert "&lt;b&gt;Sky&lt;/b&gt;" in alice_client.get("/interests/").content.decode()
    assert alice_client.post("/interests/", {"facet": bio.pk, "action": "hide"}).status_code == 302
    assert Facet.objects.get(pk=bio.pk).hidden
    assert alice_client.post("/interests/", {"facet": bio.pk, "action": "explode"}).status_code == 400
    assert alice_client.post("/interests/", {"facet": bio.pk, "action": "merge", "into": astro.pk}).status_code == 302
    assert list(Facet.objects.filter(owner=alice).values_list("pk", flat=True)) == [astro.pk]


def test_pages_of_any_size_neither_repeat_nor_skip_a_paper(two_topics, alice, monkeypatch):
    import time

    moment = time.time()
    monkeypatch.setattr("recommender.selectors.feed.time.time", lambda: moment)  # freshness alike in every request: ties stay ties
    whole = [item.paper.pk for item in feed_for_user(user=alice, limit=12)]
    for size in (3, 5, 10):
        pages = [item.paper.pk for offset in range(0, 12, size) for item in feed_for_user(user=alice, limit=size, offset=offset)]
        assert pages[:12] == whole, size


def test_a_reader_with_more_papers_than_one_split_takes_is_split_once(two_topics, alice, monkeypatch):
    from recommender.services import facets as service

    monkeypatch.setattr(service, "MOST_PAPERS_SPLIT", 6)  # nine wanted papers: six split, three join the nearest
    Facet.objects.filter(owner=alice).delete()
    splits = []
    real = service.facets_found
    monkeypatch.setattr(service, "facets_found", lambda **kwargs: splits.append(1) or real(**kwargs))
    first = facets_of(user=alice)
    assert sum(size for _, size in first) == 9 and sum(len(facet.papers) for facet, _ in first) == 9
    for _ in range(3):
        assert [(f.pk, size) for f, size in facets_of(user=alice)] == [(f.pk, size) for f, size in first]
    assert len(splits) == 1


def test_a_hidden_interest_is_never_the_reason_shown(two_topics, alice):
    astro, bio = (facet for facet, _ in facets_of(user=alice))
    facet_hide(user=alice, facet_id=astro.pk)
    items = feed_for_user(user=alice, limit=12)
    assert all(item.because is None or item.because.pk not in astro.papers for item in items)
    assert any(item.because is not None and item.because.pk in bio.papers for item in items)


def test_odd_facet_ids_are_not_found_and_a_facet_never_merges_into_itself(two_topics, alice, alice_client):
    astro, _ = (facet for facet, _ in facets_of(user=alice))
    for odd in ("²", "", "9" * 30, "-1", "1.0"):
        with pytest.raises(FacetError):
            facets_merge(user=alice, facet_id=odd, into_id=astro.pk)
        assert alice_client.post("/interests/", {"facet": odd, "action": "hide"}).status_code == 400
    with pytest.raises(FacetError):  # the same interest written two ways
        facets_merge(user=alice, facet_id=f"0{astro.pk}", into_id=astro.pk)
    assert Facet.objects.filter(pk=astro.pk, hidden=False).exists()


def test_after_a_retrain_the_worker_finds_the_interests_again_before_any_request(two_topics, alice):
    from recommender.services.facets import facets_refresh_after_retrain

    before = {facet.pk: facet.model_version for facet, _ in facets_of(user=alice)}
    retrain()
    progress = []
    assert facets_refresh_after_retrain(on_progress=lambda done, total: progress.append((done, total))) == 1
    assert progress == [(1, 1)]
    after = dict(Facet.objects.filter(owner=alice).values_list("pk", "model_version"))
    assert set(after) == set(before) and set(after.values()) != set(before.values()) and len(set(after.values())) == 1
    assert facets_refresh_after_retrain() == 0  # nothing stale any more
