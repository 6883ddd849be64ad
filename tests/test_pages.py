"""Catalogue, trending, search and library pages."""

import re
from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from recommender.models import Interaction, Paper
from recommender.selectors.papers import EXACT_COUNT_BELOW, paper_cursor, papers_count, papers_listed, papers_newest_page
from recommender.services.feedback import feedback_set, rating_set
from recommender.services.trending import trending_refresh
from tests.factories import InteractionFactory, PaperFactory, UserFactory

Kind = Interaction.Kind
pytestmark = pytest.mark.django_db


def titles(response):
    if "results" in response.context:
        return [hit.paper.title for hit in response.context["results"].hits]
    page = response.context["page"] if "page" in response.context else response.context["papers"]
    return [p.title for p in getattr(page, "papers", page)]


def link(response, rel: str) -> str:
    href = re.search(rf'href="([^"]*)"[^>]*>{rel}', response.text).group(1).replace("&amp;", "&")
    return response.request["PATH_INFO"] + href if href.startswith("?") else href


def test_catalogue_is_newest_first_and_paginated(client, settings):
    settings.FEED_PAGE_SIZE = 2
    now = timezone.now()
    PaperFactory(title="Old, dated", published=date(2020, 1, 1), added_at=now)
    PaperFactory(title="New, dated", published=date(2024, 1, 1), added_at=now - timedelta(days=9))
    PaperFactory(title="Undated, added today", published=None, added_at=now)
    first = client.get(reverse("catalogue"))
    assert titles(first) == ["New, dated", "Old, dated"]
    assert "3 papers, newest first" in first.text and "Newer" not in first.text
    second = client.get(link(first, "Older"))
    assert titles(second) == ["Undated, added today"] and "Older" not in second.text
    assert titles(client.get(link(second, "← Newer"))) == ["New, dated", "Old, dated"]
    assert client.get(reverse("home")).status_code == 200


def test_catalogue_pages_by_keys_that_survive_new_papers_and_refuse_forged_ones(client, settings):
    settings.FEED_PAGE_SIZE = 2
    day = date(2024, 3, 1)
    now = timezone.now()
    for n in range(5):  # one day, so the key's later parts (when added, then the id) order them
        PaperFactory(title=f"Paper {n}", published=day, added_at=now - timedelta(minutes=n))
    first = client.get(reverse("catalogue"))
    assert titles(first) == ["Paper 0", "Paper 1"]
    PaperFactory(title="Arrived meanwhile", published=date(2024, 3, 2))  # newer than everything: page 2 stays as it was
    second = client.get(link(first, "Older"))
    assert titles(second) == ["Paper 2", "Paper 3"]
    assert titles(client.get(link(second, "Older"))) == ["Paper 4"]
    assert titles(client.get(link(second, "← Newer"))) == ["Paper 0", "Paper 1"]
    for forged in ("1", "20240301.x.1", "99999999.1.1", "20241301.5.5", "' OR 1=1 --"):
        response = client.get(reverse("catalogue"), {"older": forged})
        assert response.status_code == 400 and "not one of ours" in response.text, forged


def test_trending_counts_recent_likes_and_reads(client):
    hot, warm, stale = PaperFactory(title="Hot"), PaperFactory(title="Warm"), PaperFactory(title="Stale")
    long_ago = timezone.now() - timedelta(days=60)
    for name in ("alice", "bob", "charlie"):
        InteractionFactory(user=UserFactory(username=name), paper=hot, kind=Kind.LIKE)
    InteractionFactory(user=UserFactory(username="alice"), paper=warm, kind=Kind.READ)
    for name in ("dana", "erin", "frank", "grace"):
        InteractionFactory(user=UserFactory(username=name), paper=stale, kind=Kind.LIKE, created=long_ago)
    assert client.get(reverse("trending")).context["papers"] == []  # not counted yet
    trending_refresh()
    response = client.get(reverse("trending"))
    assert titles(response) == ["Hot", "Warm"]
    assert "3 likes, saves or good ratings" in response.text


def test_trending_is_counted_again_as_feedback_changes(client, alice, bob):
    first, second = PaperFactory(title="First"), PaperFactory(title="Second")
    feedback_set(user=alice, paper=first, kind=Kind.LIKE, on=True)
    trending_refresh()
    assert titles(client.get(reverse("trending"))) == ["First"]
    feedback_set(user=alice, paper=first, kind=Kind.LIKE, on=False)  # changed her mind
    for reader in (alice, bob):
        rating_set(user=reader, paper=second, stars=5)
    trending_refresh()
    assert titles(client.get(reverse("trending"))) == ["Second"]
    second.withdrawn_at = timezone.now()
    second.save()
    assert titles(client.get(reverse("trending"))) == []  # a withdrawn paper leaves the list at once


def test_the_trending_page_reads_the_list_not_the_feedback(client, django_assert_max_num_queries):
    for n in range(30):
        InteractionFactory(user=UserFactory(), paper=PaperFactory(title=f"P{n}"), kind=Kind.LIKE)
    trending_refresh()
    with django_assert_max_num_queries(4):  # session-free visitor: the list and its papers in one query
        assert len(titles(client.get(reverse("trending")))) == 20


def test_search_matches_every_word_in_title_or_abstract_title_first(client):
    PaperFactory(title="Sparse attention kernels", abstract="GPU work.")
    PaperFactory(title="A survey", abstract="We review sparse attention for transformers.")
    PaperFactory(title="Dense attention", abstract="Nothing sparse here? Well.")
    PaperFactory(title="Unrelated", abstract="Robots.")
    response = client.get(reverse("search"), {"q": "sparse ATTENTION"})
    assert titles(response)[0] == "Sparse attention kernels"
    assert set(titles(response)) == {"Sparse attention kernels", "A survey", "Dense attention"}
    assert "3 papers match" in response.text
    assert "No paper matches" in client.get(reverse("search"), {"q": "quantum"}).text


def test_search_that_is_too_long_is_a_400(client):
    response = client.get(reverse("search"), {"q": "x" * 201})
    assert response.status_code == 400 and "at most 200 characters" in response.text


def test_library_shows_liked_saved_and_rated_papers(alice_client, alice, bob):
    liked, saved, rated, dismissed = (PaperFactory(title=t) for t in ("Liked one", "Saved one", "Rated one", "Dismissed one"))
    InteractionFactory(user=alice, paper=liked, kind=Kind.LIKE)
    InteractionFactory(user=alice, paper=saved, kind=Kind.SAVE)
    InteractionFactory(user=alice, paper=rated, kind=Kind.RATE, value=4)
    InteractionFactory(user=alice, paper=dismissed, kind=Kind.DISMISS)
    InteractionFactory(user=bob, paper=dismissed, kind=Kind.LIKE)
    response = alice_client.get(reverse("library"))
    assert [i.paper.title for i in response.context["liked"]] == ["Liked one"]
    assert [i.paper.title for i in response.context["saved"]] == ["Saved one"]
    assert [(i.paper.title, i.value) for i in response.context["rated"]] == [("Rated one", 4)]
    assert "Dismissed one" not in response.text
    assert "★★★★☆" in response.text


def test_library_needs_a_login(client):
    assert client.get(reverse("library"))["Location"] == "/accounts/login/?next=/library/"


def test_unknown_paper_page_is_a_friendly_404(client):
    response = client.get("/papers/nope/")
    assert response.status_code == 404 and "There is no such page or paper" in response.text


def test_a_visitor_is_told_what_paperfeed_does_and_shown_a_real_feed(client, community):
    from recommender.services.training import retrain

    retrain()
    page = client.get("/").content.decode()
    assert "Research papers worth your time" in page and "/accounts/signup/" in page
    assert "What a feed looks like" in page and "For a reader who liked" in page
    assert "Readers who liked" in page or "Similar to" in page  # the example's reasons are real ones


def test_a_search_of_only_spaces_says_what_to_type(client, db):
    page = client.get("/search/?q=%20%20%20").content.decode()
    assert "Type a word or two from a title, an abstract or an author’s name." in page


def test_durations_read_as_words():
    from datetime import timedelta

    from accounts.templatetags.durations import in_words

    assert in_words("PT15M") == "15 minutes" and in_words("PT1H30M") == "1 hour 30 minutes"
    assert in_words(timedelta(hours=2)) == "2 hours" and in_words(60) == "1 minute" and in_words("soon") == "soon"


def test_a_catalogue_page_is_a_range_of_the_index(db):
    """Deep or not, a page walks the index ``paper_listed_newest`` in its own order: no sort of the table."""
    PaperFactory(published=date(2024, 1, 2))
    only = papers_newest_page(size=1).papers[0]
    assert papers_newest_page(size=20, older_than=paper_cursor(only)).papers == []
    query = papers_listed().filter(listed_on__lte=date(2024, 1, 2)).order_by("-listed_on", "-added_at", "-id")[:21]
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table would be scanned; the question is whether it can not be
            cursor.execute("SET LOCAL enable_bitmapscan = off")  # (nor read by a bitmap and sorted)
            cursor.execute(f"EXPLAIN {sql}", params)
            plan = " ".join(row[0] for row in cursor.fetchall())
            assert "paper_listed_newest" in plan and "Sort" not in plan, plan
        else:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
            plan = " ".join(str(row) for row in cursor.fetchall())
            assert "paper_listed_newest" in plan and "TEMP B-TREE" not in plan, plan


def test_a_large_catalogue_is_counted_by_estimate(client):
    Paper.objects.bulk_create(Paper(external_id=f"bulk-{n}", title=f"Bulk {n}") for n in range(EXACT_COUNT_BELOW + 50))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE recommender_paper")  # what autovacuum does after a large import
    count = papers_count()
    assert not count.exact and abs(count.value - (EXACT_COUNT_BELOW + 50)) < 500
    with CaptureQueriesContext(connection) as queries:
        page = client.get(reverse("catalogue"))
    assert "About 10," in page.text
    if connection.vendor == "postgresql":
        assert all("LIMIT" in q["sql"].upper() for q in queries.captured_queries if "COUNT(" in q["sql"].upper())
    with CaptureQueriesContext(connection) as queries:  # SQLite counts once, then keeps the count a few minutes
        client.get(reverse("catalogue"))
    counts = [q["sql"].upper() for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert all("LIMIT" in count for count in counts)  # only the bounded look that the catalogue is large


def test_the_trending_list_is_counted_by_a_periodic_task_and_its_command(client, settings):
    from django.core.management import call_command

    from tasks.catalogue import refresh_trending
    from tasks.celery import app

    app.finalize()
    entry = app.conf.beat_schedule["refresh-trending"]
    assert entry["task"] == "tasks.catalogue.refresh_trending" and entry["schedule"] == float(settings.TRENDING_REFRESH_SECONDS)
    InteractionFactory(user=UserFactory(username="alice"), paper=PaperFactory(title="Liked"), kind=Kind.LIKE)
    assert refresh_trending() == 1
    call_command("refresh_trending")
    assert titles(client.get(reverse("trending"))) == ["Liked"]
