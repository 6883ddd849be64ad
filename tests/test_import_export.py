"""Import and export commands: all-or-nothing, idempotent, round trip, errors that name the line."""

import json

import pytest
from django.core.management import CommandError, call_command

from accounts.models import User
from recommender.models import Interaction, Paper
from tests.conftest import REPO

pytestmark = pytest.mark.django_db
HEADER = "user,paper,kind,value,timestamp\n"


def papers_file(tmp_path, *objects, name="papers.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(o) + "\n" for o in objects), encoding="utf-8")
    return str(path)


def interactions_file(tmp_path, text, name="interactions.csv"):
    path = tmp_path / name
    path.write_text(HEADER + text, encoding="utf-8")
    return str(path)


def snapshot():
    papers = sorted(Paper.objects.values_list("external_id", "title", "abstract", "authors", "published", "url"))
    interactions = sorted(Interaction.objects.values_list("user__username", "paper__external_id", "kind", "value", "created"))
    return papers, interactions


@pytest.fixture
def two_papers(tmp_path):
    call_command(
        "import_papers",
        papers_file(
            tmp_path,
            {"id": "p1", "title": "One", "abstract": "First."},
            {"id": "p2", "title": "Two", "abstract": "Second.", "published": "2024-03-01"},
        ),
    )


def test_bundled_catalogue_imports_once(capsys):
    call_command("import_papers", str(REPO / "data" / "trending_papers.txt"))
    assert "119 papers created" in capsys.readouterr().out
    assert Paper.objects.count() == 119
    before = snapshot()
    call_command("import_papers", str(REPO / "data" / "trending_papers.txt"))
    assert "0 papers created, 0 updated, 119 unchanged" in capsys.readouterr().out
    assert snapshot() == before


def test_a_changed_paper_is_updated(tmp_path, two_papers, capsys):
    call_command("import_papers", papers_file(tmp_path, {"id": "p1", "title": "One, revised", "abstract": "First."}))
    assert "0 papers created, 1 updated, 0 unchanged" in capsys.readouterr().out
    assert Paper.objects.get(external_id="p1").title == "One, revised"


def test_a_bad_paper_line_names_file_and_line_and_changes_nothing(tmp_path, two_papers):
    before = snapshot()
    path = papers_file(
        tmp_path, {"id": "p1", "title": "One, changed"}, {"id": "p9", "title": "New"}, {"id": "p3", "title": ""}, name="more.jsonl"
    )
    with pytest.raises(CommandError, match=r"more.jsonl, line 3: 'title' must be a non-empty string. Nothing was imported."):
        call_command("import_papers", path)
    assert snapshot() == before


def test_a_papers_file_with_a_byte_order_mark_imports(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"id": "p1", "title": "One"}).encode() + b"\n")
    call_command("import_papers", str(path))
    assert list(Paper.objects.values_list("external_id", flat=True)) == ["p1"]


def test_bad_utf8_names_the_line(tmp_path):
    path = tmp_path / "papers.jsonl"
    path.write_bytes(b'{"id": "p1", "title": "One"}\n{"id": "p2", "title": "T\xff"}\n')
    with pytest.raises(CommandError, match="line 2: not valid UTF-8"):
        call_command("import_papers", str(path))
    assert not Paper.objects.exists()


def test_a_missing_file_is_a_clear_error():
    with pytest.raises(CommandError, match="cannot read the file"):
        call_command("import_papers", "/no/such/papers.jsonl")


def test_interactions_create_users_and_are_idempotent(tmp_path, two_papers, capsys):
    path = interactions_file(
        tmp_path,
        "u1,p1,read,,2024-05-01T10:00:00+00:00\nu1,p1,like,,2024-05-01T10:05:00+00:00\n"
        "u1,p2,rate,4,\nu2,p2,save,,\nu2,p1,dismiss,,\nu2,p1,read,,\nu2,p1,read,,\n",
    )
    call_command("import_interactions", path)
    out = capsys.readouterr().out
    assert "6 interactions created, 0 updated, 1 unchanged; 2 users created" in out
    assert set(User.objects.values_list("username", flat=True)) == {"u1", "u2"}
    assert not User.objects.get(username="u1").has_usable_password()
    before = snapshot()
    call_command("import_interactions", path)
    assert "0 interactions created, 0 updated, 7 unchanged" in capsys.readouterr().out
    assert snapshot() == before


def test_a_new_rating_in_a_later_import_replaces_the_old_one(tmp_path, two_papers):
    call_command("import_interactions", interactions_file(tmp_path, "u1,p1,rate,2,\n"))
    call_command("import_interactions", interactions_file(tmp_path, "u1,p1,rate,5,\n", name="later.csv"))
    assert list(Interaction.objects.values_list("value", flat=True)) == [5]
    call_command("import_interactions", interactions_file(tmp_path, "u1,p1,rate,1,2001-01-01T00:00:00+00:00\n", name="old.csv"))
    assert list(Interaction.objects.values_list("value", flat=True)) == [5]  # an older rating does not replace a newer one


def test_user_names_match_existing_users_regardless_of_case(tmp_path, two_papers, alice):
    call_command("import_interactions", interactions_file(tmp_path, "Alice,p1,like,,\nALICE,p2,like,,\n"))
    assert list(User.objects.values_list("username", flat=True)) == ["alice"]
    assert Interaction.objects.filter(user=alice).count() == 2


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("u9,nope,like,,", "line 3: unknown paper 'nope'"),
        ("u9,p1,rate,6,", "line 3: a rating needs a value of 1 to 5 stars, not '6'"),
        ("u 9,p1,like,,", "line 3: user 'u 9' is not a valid user name"),
    ],
)
def test_a_bad_interaction_line_changes_nothing_at_all(tmp_path, two_papers, row, message):
    call_command("import_interactions", interactions_file(tmp_path, "u0,p2,rate,3,\n", name="first.csv"))
    before = snapshot(), list(User.objects.values_list("username", flat=True))
    path = interactions_file(tmp_path, "u0,p2,rate,5,\n" + row + "\n")
    with pytest.raises(CommandError, match=message):
        call_command("import_interactions", path)
    assert (snapshot(), list(User.objects.values_list("username", flat=True))) == before


def test_export_then_import_into_an_empty_database_round_trips(tmp_path, two_papers):
    call_command(
        "import_interactions",
        interactions_file(
            tmp_path,
            "u1,p1,read,,2024-05-01T10:00:00+00:00\nu1,p1,like,,2024-05-01T10:05:00+00:00\nu1,p2,rate,4,2024-05-02T00:00:00+00:00\n",
        ),
    )
    Paper.objects.filter(external_id="p1").update(authors=["Ada Lovelace"], url="https://example.org/p1")
    out = tmp_path / "export"
    call_command("export_dataset", str(out))
    call_command("export_dataset", str(tmp_path / "again"))
    for name in ("papers.jsonl", "interactions.csv"):  # the same database exports byte for byte the same
        assert (tmp_path / "again" / name).read_text() == (out / name).read_text()
    papers, interactions = snapshot()
    Interaction.objects.all().delete()
    User.objects.all().delete()
    Paper.objects.all().delete()
    call_command("import_papers", str(out / "papers.jsonl"))
    call_command("import_interactions", str(out / "interactions.csv"))
    (pseudonym,) = User.objects.values_list("username", flat=True)
    assert snapshot() == (papers, [(pseudonym, *rest) for _, *rest in interactions])  # everything but the reader's name


def test_the_export_leaves_out_readers_who_keep_their_feedback_private_and_names_nobody(tmp_path, two_papers, alice, bob):
    from recommender.services.datasets import reader_pseudonym

    for reader in (alice, bob):
        Interaction.objects.create(user=reader, paper=Paper.objects.get(external_id="p1"), kind="like")
    User.objects.filter(pk=bob.pk).update(share_feedback=False)
    call_command("export_dataset", str(tmp_path / "out"))
    text = (tmp_path / "out" / "interactions.csv").read_text()
    assert text.splitlines()[1:] == [f"{reader_pseudonym(alice.pk)},p1,like,,{Interaction.objects.get(user=alice).created.isoformat()}"]
    assert "alice" not in text and "bob" not in text and reader_pseudonym(bob.pk) not in text
    assert reader_pseudonym(alice.pk) != reader_pseudonym(bob.pk)


def test_a_slice_of_citeulike_imports():
    """The first 300 papers of citeulike-a and their first 2,000 library additions, shipped in tests/data
    (the whole data set lives outside the repository, where a fresh clone may not find it)."""
    source = REPO / "tests" / "data" / "citeulike-a-slice"
    rows = (source / "interactions.csv").read_text().splitlines()[1:]
    call_command("import_papers", str(source / "papers.jsonl"))
    call_command("import_interactions", str(source / "interactions.csv"))
    assert Paper.objects.count() == 300
    assert Interaction.objects.count() == len(set(rows))


def test_a_nul_in_a_papers_file_is_reported_by_line_and_nothing_is_imported(tmp_path):
    path = tmp_path / "papers.jsonl"
    path.write_text('{"id": "p1", "title": "Fine"}\n{"id": "p2", "title": "Nul\\u0000here"}\n', encoding="utf-8")
    with pytest.raises(CommandError, match=r"papers.jsonl, line 2: 'title' contains a NUL character .*Nothing was imported"):
        call_command("import_papers", str(path))
    raw = tmp_path / "raw.txt"
    raw.write_bytes(b"header\nheader\nA title\nAn abstract\x00 with a raw NUL byte\n")
    with pytest.raises(CommandError, match=r"raw.txt, line 4: 'abstract' contains a NUL character"):
        call_command("import_papers", str(raw))
    assert not Paper.objects.exists()
