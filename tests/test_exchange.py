"""The exchange-format readers and writers (no database)."""

import json
from datetime import date, datetime, timezone

import pytest

from recommender.engine.exchange import (
    DatasetError,
    InteractionRecord,
    PaperRecord,
    read_interactions_csv,
    read_papers,
    read_papers_jsonl,
    read_papers_text,
    slug,
    write_interactions_csv,
    write_papers_jsonl,
)
from tests.conftest import REPO

HEADER = "user,paper,kind,value,timestamp\n"


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_bundled_demo_catalogue_reads_119_papers_without_the_subscribe_prefix():
    papers = read_papers(REPO / "data" / "trending_papers.txt")
    assert len(papers) == 119
    assert papers[0].title == "LookupViT: Compressing visual information to a limited number of tokens"
    assert papers[0].id == "lookupvit-compressing-visual-information-to-a-limited-number-of-tokens"
    assert papers[0].abstract.startswith("Vision Transformers (ViT) have emerged")
    assert len({p.id for p in papers}) == 119
    assert papers[0].line == 3 and papers[1].line == 5


def test_text_dump_keeps_a_real_title_that_starts_with_subscribe(tmp_path):
    path = write(tmp_path, "t.txt", "h1\nh2\nSubscribers and churn\nAbstract one.\nSecond\nAbstract two.\n\n")
    papers = read_papers_text(path)
    assert [p.title for p in papers] == ["Subscribers and churn", "Second"]


def test_text_dump_with_a_title_and_no_abstract_names_the_line(tmp_path):
    path = write(tmp_path, "t.txt", "h1\nh2\nTitle one\nAbstract one.\nDangling title\n")
    with pytest.raises(DatasetError, match=r"t.txt, line 5: title without an abstract"):
        read_papers_text(path)


def test_text_dump_with_an_empty_abstract_line_names_it(tmp_path):
    path = write(tmp_path, "t.txt", "h1\nh2\nTitle one\n\nTitle two\nAbstract.\n")
    with pytest.raises(DatasetError, match=r"line 4: empty abstract line"):
        read_papers_text(path)


def test_jsonl_reads_all_fields(tmp_path):
    obj = {
        "id": "2401.00001",
        "title": "  A   title ",
        "abstract": "Text.",
        "authors": ["A. B", "C. D"],
        "published": "2024-01-02",
        "url": "https://x.org/1",
    }
    papers = read_papers(write(tmp_path, "papers.jsonl", json.dumps(obj) + "\n\n"))
    assert papers == [
        PaperRecord(
            id="2401.00001",
            title="A title",
            abstract="Text.",
            authors=("A. B", "C. D"),
            published=date(2024, 1, 2),
            url="https://x.org/1",
            line=1,
        )
    ]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"title": "t"}', "'id' must be"),
        ('{"id": "has space", "title": "t"}', "'id' must be"),
        ('{"id": "p1", "title": ""}', "'title' must be"),
        ('{"id": "p1", "title": "t", "authors": "A. B"}', "'authors' must be a list"),
        ('{"id": "p1", "title": "t", "published": "2024-13-01"}', "'published' must be a date"),
        ('{"id": "p1", "title": "t", "published": "yesterday"}', "'published' must be a date"),
        ('{"id": "p1", "title": "t", "url": "javascript:alert(1)"}', "'url' must be"),
    ],
)
def test_jsonl_bad_lines_name_line_and_reason(tmp_path, line, reason):
    good = '{"id": "p0", "title": "fine"}\n'
    path = write(tmp_path, "papers.jsonl", good + line + "\n")
    with pytest.raises(DatasetError) as caught:
        read_papers_jsonl(path)
    assert caught.value.line == 2
    assert reason in str(caught.value)
    assert "papers.jsonl, line 2" in str(caught.value)


def test_a_json_file_with_another_name_is_still_read_as_json(tmp_path):
    path = write(tmp_path, "catalogue.txt", '{"id": "p1", "title": "One"}\n')
    assert [p.id for p in read_papers(path)] == ["p1"]


def test_json_in_a_text_dump_is_refused_not_imported_as_titles(tmp_path):
    path = write(tmp_path, "dump.txt", 'header one\nheader two\n{"id": "p1", "title": "One"}\nabstract\n')
    with pytest.raises(DatasetError, match="looks like JSON"):
        read_papers(path)


def test_a_boolean_id_is_refused(tmp_path):
    with pytest.raises(DatasetError, match="'id' must be"):
        read_papers_jsonl(write(tmp_path, "papers.jsonl", '{"id": true, "title": "t"}\n'))


def test_jsonl_duplicate_id_is_refused(tmp_path):
    path = write(tmp_path, "papers.jsonl", '{"id": "p0", "title": "a"}\n{"id": "p0", "title": "b"}\n')
    with pytest.raises(DatasetError, match=r"line 2: paper id 'p0' already appeared on line 1"):
        read_papers_jsonl(path)


def test_interactions_read_every_kind(tmp_path):
    text = HEADER + "u1,p1,read,,2024-05-01T10:00:00Z\nu1,p1,rate,4,\nu2,p1,dismiss,,2024-05-01T10:00:00\n"
    records = read_interactions_csv(write(tmp_path, "i.csv", text))
    assert records[0] == InteractionRecord("u1", "p1", "read", None, datetime(2024, 5, 1, 10, tzinfo=timezone.utc), 2)
    assert records[1].value == 4 and records[1].timestamp is None
    assert records[2].timestamp.tzinfo is not None  # naive times are taken as UTC


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("u1,p1,rate,0,", "1 to 5 stars, not '0'"),
        ("u1,p1,rate,6,", "1 to 5 stars, not '6'"),
        ("u1,p1,rate,abc,", "1 to 5 stars, not 'abc'"),
        ("u1,p1,rate,,", "1 to 5 stars, not ''"),
        ("u1,p1,like,3,", "only 'rate' rows carry a value"),
        ("u1,p1,love,,", "unknown kind 'love'"),
        ("u1,p1,like,,last tuesday", "not ISO 8601"),
        (",p1,like,,", "empty user"),
        ("u1,,like,,", "empty paper"),
        ("u1,p1,like", "expected 5 columns, found 3"),
    ],
)
def test_interactions_bad_rows_name_line_and_reason(tmp_path, row, reason):
    path = write(tmp_path, "i.csv", HEADER + "u0,p0,like,,\n" + row + "\n")
    with pytest.raises(DatasetError) as caught:
        read_interactions_csv(path)
    assert caught.value.line == 3
    assert reason in caught.value.reason


def test_interactions_wrong_header_is_refused(tmp_path):
    with pytest.raises(DatasetError, match="line 1: expected the header user,paper,kind,value,timestamp"):
        read_interactions_csv(write(tmp_path, "i.csv", "user,item,rating\nu,p,5\n"))


def test_writers_round_trip(tmp_path):
    papers = [PaperRecord("p1", "T", "A", ("X",), date(2020, 2, 2), "https://e.org", line=1), PaperRecord("p2", "U", line=2)]
    interactions = [
        InteractionRecord("u", "p1", "rate", 5, datetime(2024, 1, 1, tzinfo=timezone.utc), line=2),
        InteractionRecord("u", "p2", "like", None, None, line=3),
    ]
    write_papers_jsonl(tmp_path / "papers.jsonl", papers)
    write_interactions_csv(tmp_path / "interactions.csv", interactions)
    assert read_papers(tmp_path / "papers.jsonl") == papers
    assert read_interactions_csv(tmp_path / "interactions.csv") == interactions
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_failed_write_leaves_the_old_file(tmp_path):
    target = tmp_path / "papers.jsonl"
    target.write_text("old\n")

    def broken():
        yield PaperRecord("p1", "T")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        write_papers_jsonl(target, broken())
    assert target.read_text() == "old\n"
    assert not list(tmp_path.glob(".*.tmp"))


def test_slug():
    assert slug("M^3ViT: Mixture-of-Experts ViT!") == "m-3vit-mixture-of-experts-vit"
    assert len(slug("word " * 100)) <= 100


def test_clean_text_refuses_nul_and_lone_surrogates_and_strips_other_control_characters():
    from recommender.engine.exchange import UnsafeText, clean_text

    assert clean_text(" A\ttitle\r\nover\x01 two\x1b lines\x7f ", field="title") == "A title over two lines"
    assert clean_text("First line.\r\n  Second\x0c  line\t here.\n", field="abstract", multiline=True) == "First line.\nSecond line here."
    with pytest.raises(UnsafeText, match=r"'title' contains a NUL character"):
        clean_text("bad\x00title", field="title")
    with pytest.raises(UnsafeText, match=r"'abstract' contains a lone surrogate"):
        clean_text("bad \ud800", field="abstract", multiline=True)


@pytest.mark.parametrize(
    ("obj", "reason"),
    [
        ({"id": "p1", "title": "Nul\u0000title"}, "line 2: 'title' contains a NUL character"),
        ({"id": "p\u00001", "title": "T"}, "line 2: 'id' contains a NUL character"),
        ({"id": "p1", "title": "T", "abstract": "a\u0000b"}, "line 2: 'abstract' contains a NUL character"),
        ({"id": "p1", "title": "T", "authors": ["A\u0000"]}, "line 2: 'authors' contains a NUL character"),
        ({"id": "p\u00071", "title": "T"}, "line 2: 'id' must be a non-empty string without spaces"),
        ({"id": "p1", "title": "T", "url": "https://x.org/\u0007"}, "line 2: 'url' must be an http"),
    ],
)
def test_jsonl_with_nul_or_control_characters_in_the_wrong_place_names_the_line(tmp_path, obj, reason):
    path = write(tmp_path, "p.jsonl", json.dumps({"id": "ok", "title": "Fine"}) + "\n" + json.dumps(obj) + "\n")
    with pytest.raises(DatasetError, match=reason):
        read_papers_jsonl(path)


def test_control_characters_in_titles_abstracts_and_authors_are_removed_at_import(tmp_path):
    obj = {"id": "p1", "title": "Bell\u0007 and\ttab\nnewline", "abstract": "One\u000b.\r\nTwo.", "authors": ["Ada\u001b Lovelace"]}
    (paper,) = read_papers_jsonl(write(tmp_path, "p.jsonl", json.dumps(obj) + "\n"))
    assert paper.title == "Bell and tab newline" and paper.abstract == "One.\nTwo." and paper.authors == ("Ada Lovelace",)


def test_the_text_dump_names_the_line_of_a_nul_and_strips_control_characters(tmp_path):
    path = write(tmp_path, "t.txt", "h1\nh2\nTitle\u0007 one\nAbstract one.\nTitle two\nAbstract\u0000 two.\n")
    with pytest.raises(DatasetError, match=r"t.txt, line 6: 'abstract' contains a NUL character"):
        read_papers_text(path)
    path = write(tmp_path, "t.txt", "h1\nh2\nTitle\u0007 one\nAbstract\u001b one.\n")
    (paper,) = read_papers_text(path)
    assert paper.title == "Title one" and paper.abstract == "Abstract one."


def test_interactions_with_a_nul_name_the_line(tmp_path):
    path = write(tmp_path, "i.csv", HEADER + "alice,p1,like,,\nbob\u0000,p1,like,,\n")
    with pytest.raises(DatasetError, match=r"line 3: contains a NUL character"):
        read_interactions_csv(path)
