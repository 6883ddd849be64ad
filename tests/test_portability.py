"""Export my data, delete my account, keep my feedback out of the shared model."""

import json

import pytest

from accounts.models import User
from recommender.models import Interaction, TrainingRun
from recommender.services.feedback import feedback_set, rating_set
from recommender.services.training import retrain
from tests.conftest import PASSWORD
from tests.factories import PaperFactory

pytestmark = pytest.mark.django_db


def test_export_my_feedback_as_json(alice_client, alice, bob, paper):
    feedback_set(user=alice, paper=paper, kind="like", on=True)
    rating_set(user=alice, paper=paper, stars=5)
    feedback_set(user=bob, paper=paper, kind="save", on=True)
    response = alice_client.get("/me/export.json")
    assert response["Content-Disposition"].startswith("attachment")
    data = json.loads(response.content)
    assert data["user"] == "alice"
    assert sorted((f["kind"], f["stars"]) for f in data["feedback"]) == [("like", None), ("rate", 5)]


def test_export_my_library_as_bibtex(alice_client, alice):
    odd = PaperFactory(
        external_id="2401.00001",
        title="Braces {and} back\\slashes",
        authors=["Ada Lovelace", "Alan Turing"],
        url="https://arxiv.org/abs/2401.00001",
    )
    other = PaperFactory(external_id="2401.00002", title="Saved one", authors=[])
    ignored = PaperFactory(external_id="2401.00003", title="Dismissed one")
    feedback_set(user=alice, paper=odd, kind="like", on=True)
    feedback_set(user=alice, paper=other, kind="save", on=True)
    feedback_set(user=alice, paper=ignored, kind="dismiss", on=True)
    text = alice_client.get("/me/library.bib").content.decode()
    assert text.count("@misc{") == 2 and "Dismissed one" not in text
    assert "title = {Braces \\{and\\} back\\\\slashes}" in text
    assert "author = {Ada Lovelace and Alan Turing}" in text and "url = {https://arxiv.org/abs/2401.00001}" in text


def test_deleting_my_account_needs_my_password_and_removes_everything(alice_client, alice, paper):
    feedback_set(user=alice, paper=paper, kind="like", on=True)
    wrong = alice_client.post("/accounts/delete/", {"password": "not it"})
    assert wrong.status_code == 400 and User.objects.filter(pk=alice.pk).exists()
    done = alice_client.post("/accounts/delete/", {"password": PASSWORD}, follow=True)
    assert "and all its feedback are deleted" in done.text
    assert not User.objects.filter(pk=alice.pk).exists() and not Interaction.objects.exists()


def test_a_reader_who_keeps_feedback_private_is_left_out_of_training(community, alice_client, alice):
    papers, _ = community
    alice_client.post("/accounts/settings/", {"weekly_digest": "", "share_feedback": ""})
    alice.refresh_from_db()
    assert alice.share_feedback is False
    for paper in papers["astro"][:4]:
        feedback_set(user=alice, paper=paper, kind="like", on=True)
    run = retrain()
    assert run.sizes["users"] == 18 and run.sizes["interactions"] == 90  # the community only
    assert TrainingRun.objects.get(is_active=True).pk == run.pk
    from recommender.selectors.feed import feed_for_user

    assert all(item.paper.external_id.startswith("astro") for item in feed_for_user(user=alice, limit=3))  # her own feed still uses it


def test_braces_in_a_url_cannot_break_out_of_the_bibtex_field(alice_client, alice):
    import bibtexparser

    evil = PaperFactory(
        external_id="2401.00009", title="Closing } brace", url="https://example.org/a}, author = {Mallory}, x = {b\\c", authors=["Ada"]
    )
    feedback_set(user=alice, paper=evil, kind="like", on=True)
    text = alice_client.get("/me/library.bib").content.decode()
    library = bibtexparser.parse_string(text)
    (entry,) = library.entries
    assert not library.failed_blocks
    fields = {field.key: field.value for field in entry.fields}
    assert fields["author"] == "Ada" and "x" not in fields
    assert fields["url"] == "https://example.org/a%7D, author = %7BMallory%7D, x = %7Bb%5Cc"
