"""Collections: a reader's named sets of papers with their own feeds, through the API and the pages; only the owner
reads or changes one, and a shared link shows that collection alone until it is revoked."""

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from recommender.models import Collection, Interaction
from recommender.selectors.feed import feed_for_user
from recommender.services.collections import collection_create, collection_paper_add, collection_share, collection_unshare
from recommender.services.training import retrain
from tests.factories import PaperFactory

pytestmark = pytest.mark.django_db


def api_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_a_reader_makes_a_collection_fills_it_and_reads_its_feed_through_the_api(community):
    papers, readers = community
    retrain()
    carol = readers["lang0"]  # a reader of compilers who starts a reading group on astronomy
    api = api_for(carol)
    made = api.post("/api/collections/", {"name": "Reading group: galaxies"}, format="json")
    assert made.status_code == 201 and made.json()["name"] == "Reading group: galaxies" and made.json()["size"] == 0
    pk = made.json()["id"]
    for paper in papers["astro"][:3]:
        assert api.post(f"/api/collections/{pk}/papers/", {"paper": paper.external_id}, format="json").status_code == 201
    again = api.post(f"/api/collections/{pk}/papers/", {"paper": papers["astro"][0].external_id}, format="json")
    assert again.status_code == 200  # already there: nothing added twice
    listed = api.get("/api/collections/").json()
    assert [(c["id"], c["size"], c["shared"]) for c in listed] == [(pk, 3, False)]
    in_it = [p["id"] for p in api.get(f"/api/collections/{pk}/papers/").json()]
    assert in_it == [p.external_id for p in reversed(papers["astro"][:3])]  # the newest added first

    feed = api.get(f"/api/collections/{pk}/feed/", {"limit": 5}).json()["results"]
    ids = [item["paper"]["id"] for item in feed]
    assert len(ids) == 5 and not set(ids) & {p.external_id for p in papers["astro"][:3]}  # its own papers are not offered
    assert sum(i.startswith("astro-") for i in ids) >= 4  # profiled on the collection, not on its owner's compilers
    assert any("put in this collection" in item["reason"] for item in feed)

    assert api.patch(f"/api/collections/{pk}/", {"name": "Galaxies"}, format="json").json()["name"] == "Galaxies"
    gone = papers["astro"][1].external_id
    assert api.delete(f"/api/collections/{pk}/papers/{gone}").status_code == 204
    assert api.delete(f"/api/collections/{pk}/papers/{gone}").status_code == 404
    assert Interaction.objects.filter(user=carol, paper=papers["astro"][1], kind="save").exists()  # taken out, still saved
    assert api.delete(f"/api/collections/{pk}/").status_code == 204 and not Collection.objects.exists()


def test_a_paper_put_in_a_collection_is_saved_and_leaves_the_personal_feed(community):
    papers, readers = community
    retrain()
    reader = readers["astro0"]
    offered = feed_for_user(user=reader, limit=3)[0].paper
    collection_paper_add(collection=collection_create(owner=reader, name="Thesis"), paper=offered)
    assert Interaction.objects.filter(user=reader, paper=offered, kind="save").exists()
    assert offered not in [item.paper for item in feed_for_user(user=reader, limit=20)]


def test_another_reader_can_neither_read_nor_change_nor_fill_your_collection(community, alice, bob):
    papers, _ = community
    mine = collection_create(owner=alice, name="Private")
    collection_paper_add(collection=mine, paper=papers["bio"][0])
    intruder = api_for(bob)
    base = f"/api/collections/{mine.pk}/"
    assert intruder.get(base).status_code == 404
    assert intruder.get(base + "papers/").status_code == 404
    assert intruder.get(base + "feed/").status_code == 404
    assert intruder.patch(base, {"name": "Mine now"}, format="json").status_code == 404
    assert intruder.post(base + "papers/", {"paper": papers["bio"][1].external_id}, format="json").status_code == 404
    assert intruder.delete(base + f"papers/{papers['bio'][0].external_id}").status_code == 404
    assert intruder.delete(base).status_code == 404
    assert intruder.get("/api/collections/").json() == []
    mine.refresh_from_db()
    assert mine.name == "Private" and list(mine.papers.all()) == [papers["bio"][0]]
    assert APIClient().get("/api/collections/").status_code in (401, 403)  # and nobody signed out


def test_bad_names_and_unknown_papers_are_clear_400s(alice, paper):
    api = api_for(alice)
    assert api.post("/api/collections/", {"name": "  "}, format="json").status_code == 400
    assert api.post("/api/collections/", {"name": "x" * 101}, format="json").status_code == 400
    assert api.post("/api/collections/", {"name": "a\x00b"}, format="json").status_code == 400
    pk = api.post("/api/collections/", {"name": "Vision"}, format="json").json()["id"]
    taken = api.post("/api/collections/", {"name": "Vision"}, format="json")
    assert taken.status_code == 400 and "already have a collection" in str(taken.json())
    unknown = api.post(f"/api/collections/{pk}/papers/", {"paper": "no-such-paper"}, format="json")
    assert unknown.status_code == 400 and "no paper with this id" in str(unknown.json())
    assert api.post(f"/api/collections/{pk}/papers/", {}, format="json").status_code == 400


def test_a_shared_link_shows_that_collection_alone_and_stops_when_revoked(community, alice, client):
    papers, _ = community
    shared = collection_create(owner=alice, name="Lab feed")
    private = collection_create(owner=alice, name="Secret project")
    collection_paper_add(collection=shared, paper=papers["astro"][0])
    collection_paper_add(collection=private, paper=papers["bio"][0])
    token = collection_share(collection=shared)
    page = client.get(reverse("collection_shared", args=[token]))
    assert page.status_code == 200 and "Lab feed" in page.text
    listed = page.text.split("In this collection")[1]
    assert papers["astro"][0].title in listed and papers["bio"][0].title not in listed
    assert "Secret project" not in page.text
    assert "Take out of this collection" not in page.text and "Revoke" not in page.text  # read-only
    assert client.get(reverse("collection_shared_atom", args=[token])).status_code == 200
    collection_unshare(collection=shared)
    assert client.get(reverse("collection_shared", args=[token])).status_code == 404
    assert client.get(reverse("collection_shared_atom", args=[token])).status_code == 404
    assert collection_share(collection=shared) != token  # a new link, the old one stays dead


def test_the_collection_pages_add_from_a_card_share_and_export(community, alice_client, alice):
    papers, _ = community
    retrain()
    paper = papers["lang"][2]
    made = alice_client.post(reverse("collections"), {"name": "Compilers"})
    collection = Collection.objects.get(owner=alice)
    assert made.status_code == 302 and made.url == reverse("collection_detail", args=[collection.pk])
    added = alice_client.post(reverse("collection_add"), {"collection": collection.pk, "paper": paper.external_id}, HTTP_HX_REQUEST="true")
    assert added.status_code == 200 and "Compilers" in added.text and list(collection.papers.all()) == [paper]
    detail = alice_client.get(reverse("collection_detail", args=[collection.pk]))
    assert detail.status_code == 200 and paper.title in detail.text and "For this collection" in detail.text
    bibtex = alice_client.get(reverse("collection_bibtex", args=[collection.pk]))
    assert bibtex.status_code == 200 and paper.external_id in bibtex.text and bibtex["Content-Type"].startswith("application/x-bibtex")
    shared = alice_client.post(reverse("collection_share", args=[collection.pk]), {"share": "on"})
    collection.refresh_from_db()
    assert shared.status_code == 302 and collection.share_token
    alice_client.post(reverse("collection_share", args=[collection.pk]), {"share": "off"})
    collection.refresh_from_db()
    assert collection.share_token is None
    other = PaperFactory(external_id="2401.00001", title="Ids pasted in")
    imported = alice_client.post(reverse("collection_import", args=[collection.pk]), {"text": "arXiv:2401.00001"})
    assert imported.status_code == 302 and other in collection.papers.all()


def test_another_readers_collection_pages_are_404(alice_client, bob):
    theirs = collection_create(owner=bob, name="Bob's")
    for name in ("collection_detail", "collection_bibtex"):
        assert alice_client.get(reverse(name, args=[theirs.pk])).status_code == 404
    kept = PaperFactory()
    collection_paper_add(collection=theirs, paper=kept)
    for name in ("collection_share", "collection_import", "collection_edit", "collection_remove"):
        answer = alice_client.post(reverse(name, args=[theirs.pk]), {"share": "on", "text": "x", "delete": "1", "paper": kept.external_id})
        assert answer.status_code == 404
    paper = PaperFactory()
    assert alice_client.post(reverse("collection_add"), {"collection": theirs.pk, "paper": paper.external_id}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.share_token is None and list(theirs.papers.all()) == [kept] and Collection.objects.filter(pk=theirs.pk).exists()


def test_a_body_that_is_not_an_object_and_a_full_collection_are_400s_not_500s(alice, paper, monkeypatch):
    from recommender.services import collections as service

    api = api_for(alice)
    for body in ([1, 2], "abc", {"name": {"a": 1}}):
        assert api.post("/api/collections/", body, format="json").status_code == 400
    pk = api.post("/api/collections/", {"name": "Full"}, format="json").json()["id"]
    assert api.patch(f"/api/collections/{pk}/", [1], format="json").status_code == 400
    monkeypatch.setattr(service, "MAX_PAPERS", 1)
    assert api.post(f"/api/collections/{pk}/papers/", {"paper": paper.external_id}, format="json").status_code == 201
    assert api.post(f"/api/collections/{pk}/papers/", {"paper": paper.external_id}, format="json").status_code == 200  # there already
    other = PaperFactory(external_id="2401.00002")
    full = api.post(f"/api/collections/{pk}/papers/", {"paper": other.external_id}, format="json")
    assert full.status_code == 400 and "at most 1 papers" in str(full.json())


def test_a_paste_that_would_overfill_a_collection_adds_nothing(alice_client, alice, monkeypatch):
    from recommender.services import collections as service

    collection = collection_create(owner=alice, name="Small")
    PaperFactory(external_id="2401.00003")
    PaperFactory(external_id="2401.00004")
    monkeypatch.setattr(service, "MAX_PAPERS", 1)
    answer = alice_client.post(reverse("collection_import", args=[collection.pk]), {"text": "arXiv:2401.00003\narXiv:2401.00004"})
    assert answer.status_code == 400 and "at most 1 papers" in answer.text and not collection.papers.exists()


def test_a_name_typed_on_a_card_makes_a_new_collection_even_when_others_exist(alice_client, alice, paper):
    existing = collection_create(owner=alice, name="Old")
    answer = alice_client.post(reverse("collection_add"), {"collection": existing.pk, "name": "Fresh", "paper": paper.external_id})
    assert answer.status_code == 302
    assert not existing.papers.exists() and list(Collection.objects.get(owner=alice, name="Fresh").papers.all()) == [paper]


def test_a_collection_goes_into_the_weekly_email_from_its_page_and_the_api(alice_client, alice, bob):
    collection = collection_create(owner=alice, name="Reading group")
    assert alice_client.post(reverse("collection_digest", args=[collection.pk]), {"in_digest": "on"}).status_code == 302
    collection.refresh_from_db()
    assert collection.in_digest
    assert "Leave it out of the weekly email" in alice_client.get(reverse("collection_detail", args=[collection.pk])).content.decode()
    api = api_for(alice)
    assert api.patch(f"/api/collections/{collection.pk}/", {"in_digest": False}, format="json").json()["in_digest"] is False
    assert api.patch(f"/api/collections/{collection.pk}/", {"name": "Group"}, format="json").json()["name"] == "Group"
    assert api_for(bob).patch(f"/api/collections/{collection.pk}/", {"in_digest": True}, format="json").status_code == 404
    bob_client = Client()
    bob_client.force_login(bob)
    assert bob_client.post(reverse("collection_digest", args=[collection.pk]), {"in_digest": "on"}).status_code == 404
    collection.refresh_from_db()
    assert not collection.in_digest and collection.name == "Group"
