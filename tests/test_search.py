"""Search by the full-text index (PostgreSQL tsvector, SQLite FTS5): relevance, phrases, authors, filters, hostile and
empty queries, snippets, the capped count, the index following edits, and the first page's nudge by a reader's taste."""

import re
from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from recommender.models import Paper
from recommender.selectors.search import COUNT_LIMIT, SearchFilters, papers_search
from tests.factories import PaperFactory

pytestmark = pytest.mark.django_db


def found(query: str, **kwargs) -> list[str]:
    return [hit.paper.title for hit in papers_search(query=query, **kwargs).hits]


def test_a_title_match_comes_before_words_found_only_in_abstracts():
    PaperFactory(title="A survey", abstract="Sparse attention, sparse attention and more sparse attention in transformers.")
    PaperFactory(title="Sparse attention kernels", abstract="GPU work.")
    PaperFactory(title="Unrelated", abstract="Robots walking.")
    assert found("sparse attention") == ["Sparse attention kernels", "A survey"]


def test_words_are_stemmed_and_all_must_match():
    PaperFactory(title="Graph neural network pruning", abstract="We prune.")
    PaperFactory(title="Neural rendering", abstract="Light fields.")
    assert found("networks") == ["Graph neural network pruning"]
    assert found("neural pruned") == ["Graph neural network pruning"]
    assert set(found("neural")) == {"Graph neural network pruning", "Neural rendering"}


def test_quoted_phrases_or_and_minus():
    PaperFactory(title="Language models that reason", abstract="Chains of thought.")
    PaperFactory(title="Models of language acquisition", abstract="Children learn.")
    PaperFactory(title="Vision models", abstract="Pixels.")
    assert found('"language models"') == ["Language models that reason"]
    assert set(found("language models")) == {"Language models that reason", "Models of language acquisition"}
    assert set(found("pixels or children")) == {"Vision models", "Models of language acquisition"}
    assert found("models -language") == ["Vision models"]


def test_authors_are_searchable():
    PaperFactory(title="On computable numbers", authors=["Alan Mathison Turing"], abstract="An application to the problem.")
    PaperFactory(title="Notes on the engine", authors=["Ada Lovelace"], abstract="Bernoulli numbers.")
    assert found("Turing") == ["On computable numbers"]
    assert found("lovelace numbers") == ["Notes on the engine"]


def test_filters_by_category_and_year():
    PaperFactory(title="Diffusion for images", categories=["cs.CV", "cs.LG"], published=date(2023, 5, 1))
    PaperFactory(title="Diffusion for molecules", categories=["q-bio.BM"], published=date(2024, 2, 1))
    assert found("diffusion", filters=SearchFilters(category="cs.LG")) == ["Diffusion for images"]  # cross-listed counts
    assert found("diffusion", filters=SearchFilters(year=2024)) == ["Diffusion for molecules"]
    assert found("diffusion", filters=SearchFilters(category="cs.CV", year=2024)) == []


def test_withdrawn_papers_are_not_found(paper):
    from django.utils import timezone

    assert found("LookupViT") == [paper.title]
    paper.withdrawn_at = timezone.now()
    paper.save()
    assert found("LookupViT") == []


def test_the_index_follows_edits_and_deletions(paper):
    paper.title = "Renamed entirely: quokka tokens"
    paper.save()
    assert found("quokka") == [paper.title] and found("LookupViT") == []
    Paper.objects.filter(pk=paper.pk).update(abstract="Now about wombats.")  # a bulk update, not save()
    assert found("wombats") == [paper.title]
    paper.delete()
    assert found("quokka") == []


def test_the_index_exists_after_every_migration():
    """A later migration that rebuilds the paper table on SQLite would drop the index's triggers with it."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'paper_search_gin'")
            assert "gin (search_vector)" in cursor.fetchone()[0]
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'recommender_paper'")
            assert {row[0] for row in cursor.fetchall()} == {"paper_fts_insert", "paper_fts_delete", "paper_fts_update"}


@pytest.mark.parametrize(
    "query",
    ['"); DROP TABLE recommender_paper; --', "*", "NEAR(a b", "{title}: x", "AND", "a OR", "- -", '"', "title:x^2", "ω≈ç√", "!!&|::"],
)
def test_hostile_queries_are_only_words(client, paper, query):
    response = client.get(reverse("search"), {"q": query})
    assert response.status_code == 200
    assert Paper.objects.filter(pk=paper.pk).exists()
    api = client.get("/api/search/", {"q": query})
    assert api.status_code == 200 and isinstance(api.json()["results"], list)


def test_empty_and_too_long_queries_and_bad_filters(client, db):
    assert "Type a word or two" in client.get(reverse("search"), {"q": "  "}).text
    assert client.get(reverse("search"), {"q": "x" * 201}).status_code == 400
    bad_year = client.get(reverse("search"), {"q": "x", "year": "20x4"})
    assert bad_year.status_code == 400 and "four digits" in bad_year.text
    bad_category = client.get("/api/search/", {"q": "x", "category": "cs.LG;--"})
    assert bad_category.status_code == 400 and "arXiv category" in str(bad_category.json())


def test_snippets_mark_the_words_and_escape_the_text(client):
    PaperFactory(title="Escapes", abstract="Before <script>alert(1)</script> the quokka & friends after.")
    page = client.get(reverse("search"), {"q": "quokka"}).text
    assert "<mark>quokka</mark>" in page and "<script>alert" not in page and "&amp; friends" in page  # (PostgreSQL drops tags)
    body = client.get("/api/search/", {"q": "quokka"}).json()
    assert "<mark>quokka</mark>" in body["results"][0]["snippet"] and "<script>" not in body["results"][0]["snippet"]


def test_a_common_word_is_counted_only_up_to_the_cap_and_paged(client):
    Paper.objects.bulk_create(Paper(external_id=f"common-{n}", title=f"Common word {n}", abstract="") for n in range(COUNT_LIMIT + 5))
    results = papers_search(query="common")
    assert results.count == COUNT_LIMIT + 1 and results.count_capped and results.has_next
    page = client.get(reverse("search"), {"q": "common"})
    assert "More than 1,000 papers match" in page.text
    second = client.get(re.search(r'href="([^"]*)" rel="next"', page.text).group(1).replace("&amp;", "&"))
    first_titles = {hit.paper.title for hit in page.context["results"].hits}
    second_titles = {hit.paper.title for hit in second.context["results"].hits}
    assert len(second_titles) == 20 and first_titles.isdisjoint(second_titles)
    body = client.get("/api/search/", {"q": "common", "page": 2}).json()
    assert body["count_capped"] is True and len(body["results"]) == 20 and "page=3" in body["next"] and "page=1" in body["previous"]


def test_a_search_is_a_few_queries_whatever_it_finds(client):
    Paper.objects.bulk_create(Paper(external_id=f"p-{n}", title=f"Entropy {n}", abstract="entropy") for n in range(300))
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("search"), {"q": "entropy"}).status_code == 200
    sql = [q["sql"] for q in queries.captured_queries if not q["sql"].upper().startswith(("SAVEPOINT", "RELEASE", "SET LOCAL"))]
    assert len(sql) <= 6, sql  # the ranked page (two on SQLite), the capped count, the papers, their snippets
    assert not any("LIKE" in s.upper() for s in sql)


def test_the_index_is_what_a_search_reads():
    """The plan of a search reads the full-text index, never the papers table alone."""
    PaperFactory(title="Indexed")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table would be scanned; the question is whether it can not be
            cursor.execute("EXPLAIN SELECT id FROM recommender_paper WHERE search_vector @@ websearch_to_tsquery('english', 'indexed')")
            assert "paper_search_gin" in " ".join(row[0] for row in cursor.fetchall())
        else:
            cursor.execute("EXPLAIN QUERY PLAN SELECT rowid FROM paper_fts WHERE paper_fts MATCH '\"indexed\"'")
            assert "VIRTUAL TABLE INDEX" in " ".join(str(row) for row in cursor.fetchall())


def test_the_first_page_is_nudged_by_the_readers_taste(community, client):
    from recommender.services.training import retrain

    papers, readers = community
    galaxies = PaperFactory(title="Survey: galaxy telescope redshift", abstract="galaxy star telescope cosmology")
    proteins = PaperFactory(title="Survey: protein enzyme genome", abstract="protein enzyme cell genome")
    retrain()
    visitor = [hit.paper for hit in papers_search(query="survey").hits]
    assert set(visitor) == {galaxies, proteins}
    astronomer, biologist = readers["astro0"], readers["bio0"]
    assert [hit.paper for hit in papers_search(query="survey", user=astronomer).hits] == [galaxies, proteins]
    assert [hit.paper for hit in papers_search(query="survey", user=biologist).hits] == [proteins, galaxies]
    assert papers_search(query="survey", user=astronomer).personal
    assert not papers_search(query="survey", user=astronomer, page=2).personal  # deeper pages follow relevance alone
    client.force_login(astronomer, backend="django.contrib.auth.backends.ModelBackend")
    assert "with a nudge from your taste" in client.get(reverse("search"), {"q": "survey"}).text


def test_the_nudge_never_lifts_a_paper_above_a_title_match(community):
    from recommender.services.training import retrain

    papers, readers = community
    in_title = PaperFactory(title="Quasar catalogue", abstract="protein enzyme genome")
    abstract_only = PaperFactory(title="Galaxy star telescope redshift", abstract="quasar galaxy star telescope cosmology")
    retrain()
    assert [hit.paper for hit in papers_search(query="quasar", user=readers["astro0"]).hits] == [in_title, abstract_only]


def test_a_query_matching_very_many_papers_is_ranked_among_its_newest_matches(monkeypatch):
    from recommender.selectors import search

    monkeypatch.setattr(search, "RANKED_AT_MOST", 3)
    monkeypatch.setattr(search, "COUNT_LIMIT", 2)  # more matches than counted: ranked among the newest
    oldest = PaperFactory(title="Entropy entropy entropy", abstract="entropy")
    newer = [PaperFactory(title=f"Note {n}", abstract="entropy") for n in range(4)]
    results = papers_search(query="entropy")
    assert [hit.paper for hit in results.hits] == newer[:0:-1]  # the three newest matches, the oldest not ranked
    assert results.count_capped and oldest not in results.papers


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_a_search_the_database_cannot_answer_in_time_asks_for_more_words(client, settings):
    Paper.objects.bulk_create(Paper(external_id=f"slow-{n}", title=f"Slow {n}", abstract="slow " * 50) for n in range(3000))
    settings.SEARCH_TIMEOUT_MS = 1  # ranking two thousand matches takes longer than a millisecond
    page = client.get(reverse("search"), {"q": "slow"})
    assert page.status_code == 200 and "matches too much to answer quickly" in page.text
    assert client.get("/api/search/", {"q": "slow"}).json()["too_broad"] is True
    settings.SEARCH_TIMEOUT_MS = 3000
    assert papers_search(query="slow").count == COUNT_LIMIT + 1  # the connection is fine afterwards
