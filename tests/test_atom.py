"""The personal Atom feed at a secret, revocable address."""

import xml.etree.ElementTree as ET

import pytest

from accounts.models import FeedLink

pytestmark = pytest.mark.django_db
ATOM = "{http://www.w3.org/2005/Atom}"


def make_link(client) -> str:
    client.post("/accounts/settings/atom/")
    page = client.get("/accounts/settings/").text
    return page.split('<code id="atom-url">')[1].split("</code>")[0].replace("http://testserver", "")


def test_the_atom_feed_lists_my_picks_with_reasons(community, client):
    papers, readers = community
    client.force_login(readers["bio1"], backend="django.contrib.auth.backends.ModelBackend")
    url = make_link(client)
    anonymous = client.__class__()
    response = anonymous.get(url)
    assert response.status_code == 200 and response["Content-Type"].startswith("application/atom+xml")
    root = ET.fromstring(response.content)
    entries = root.findall(f"{ATOM}entry")
    assert len(entries) > 0
    first = entries[0]
    assert first.find(f"{ATOM}title").text.startswith("Bio study")
    assert "Similar to" in first.find(f"{ATOM}summary").text or "Readers who liked" in first.find(f"{ATOM}summary").text


def test_another_readers_address_shows_their_feed_not_mine(community):
    from django.test import Client

    papers, readers = community
    mine, theirs = Client(), Client()
    mine.force_login(readers["bio1"], backend="django.contrib.auth.backends.ModelBackend")
    theirs.force_login(readers["lang2"], backend="django.contrib.auth.backends.ModelBackend")
    their_url = make_link(theirs)
    titles = [e.find(f"{ATOM}title").text for e in ET.fromstring(Client().get(their_url).content).findall(f"{ATOM}entry")]
    assert titles and all(not t.startswith("Bio study") for t in titles[:3])
    assert "bio1" not in Client().get(their_url).text


def test_a_new_address_revokes_the_old_and_turning_off_revokes_all(alice_client, alice):
    old = make_link(alice_client)
    assert alice_client.get(old).status_code == 200
    new = make_link(alice_client)
    assert new != old and alice_client.get(old).status_code == 404
    alice_client.post("/accounts/settings/atom/", {"action": "remove"})
    assert alice_client.get(new).status_code == 404 and not FeedLink.objects.exists()
    assert alice_client.get("/atom/made-up/").status_code == 404


def test_control_characters_in_stored_papers_do_not_break_the_feed(community, client):
    from recommender.models import Paper

    papers, readers = community
    Paper.objects.filter(pk__in=[p.pk for p in papers["bio"]]).update(
        title="Bio\u0007 study\u001b", abstract="Bell\u0007 and escape\u001b."
    )
    client.force_login(readers["bio1"], backend="django.contrib.auth.backends.ModelBackend")
    response = client.get(make_link(client))
    assert response.status_code == 200
    titles = [e.find(f"{ATOM}title").text for e in ET.fromstring(response.content).findall(f"{ATOM}entry")]
    assert "Bio study" in titles and not any("\u0007" in t or "\u001b" in t for t in titles)
