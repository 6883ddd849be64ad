"""A web process never checks, loads or builds a model in a request: a background thread does, the previous model serving
meanwhile, and before any model the pages serve the trending and newest papers. (Committed data, so that the loader's
own database connection sees it.)"""

import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from recommender.model_store import store
from recommender.services.training import retrain
from tests.conftest import wait_for
from tests.factories import PaperFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def web_process():
    """The store as a gunicorn worker has it (``post_worker_init``)."""
    store.load_in_background()
    yield store
    store.load_inline()
    store.wait(60)
    store.clear()


def loaded(version: str):
    def check():
        served = store.current()
        return served is not None and served.version == version

    return check


def test_a_new_model_is_loaded_beside_the_old_one_and_swapped_in_whole(community, web_process, client):
    first = retrain()
    wait_for(loaded(first.version), timeout=30, what="the first model")
    second = retrain()
    with CaptureQueriesContext(connection) as queries:
        served = store.current()  # the check is due (MODEL_CHECK_SECONDS is 0): it starts in the background
    assert served is not None and served.version in (first.version, second.version)
    assert len(queries) == 0  # not even the look-up of the active version happens in the caller
    wait_for(loaded(second.version), timeout=30, what="the second model")
    _, readers = community
    client.force_login(readers["astro0"], backend="django.contrib.auth.backends.ModelBackend")
    assert client.get(reverse("feed")).status_code == 200


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_requests_are_served_by_the_old_model_while_the_new_one_cannot_load(community, web_process, client):
    """The loader is held up (its query of the active model waits on a lock); every request meanwhile answers at once
    from the model already loaded."""
    from django.db import connections as all_connections

    first = retrain()
    wait_for(loaded(first.version), timeout=30, what="the first model")
    second = retrain()
    blocker = all_connections.create_connection("default")
    try:
        with blocker.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute("LOCK TABLE recommender_trainingrun IN ACCESS EXCLUSIVE MODE")
            store.current()  # starts the loader, which now waits on the lock
            _, readers = community
            client.force_login(readers["astro0"], backend="django.contrib.auth.backends.ModelBackend")
            for _ in range(3):
                assert client.get(reverse("feed")).status_code == 200
                assert store.current().version == first.version
            cursor.execute("COMMIT")
    finally:
        blocker.close()
    wait_for(loaded(second.version), timeout=30, what="the second model once the lock is gone")


def test_a_large_catalogue_without_a_model_serves_trending_and_newest_papers(settings, web_process, client, alice):
    settings.FALLBACK_MAX_PAPERS = 3  # "large": a web process does not build the fallback for more papers than this
    papers = [PaperFactory(title=f"Fresh paper {n}") for n in range(5)]
    store.wait(30)  # the check the fixture started may have begun before these papers (and served the empty catalogue)
    store.current()  # a check that sees them
    store.wait(30)
    assert store.current() is None  # nothing to serve from: the pages still answer
    home = client.get("/")
    assert home.status_code == 200 and "Fresh paper 4" in home.text
    client.force_login(alice, backend="django.contrib.auth.backends.ModelBackend")
    feed = client.get(reverse("feed"))
    assert feed.status_code == 200 and "New in the catalogue" in feed.text
    assert {item["paper"]["id"] for item in client.get("/api/feed/").json()["results"]} == {p.external_id for p in papers}
    assert client.get(papers[0].get_absolute_url()).status_code == 200
    assert client.get(reverse("search"), {"q": "fresh"}).status_code == 200
    assert client.get("/status").status_code == 200


def test_a_small_catalogue_without_a_model_gets_its_fallback_from_the_background(web_process, db):
    PaperFactory(title="Only paper")
    PaperFactory(title="Another paper")
    wait_for(loaded(""), timeout=30, what="the content-and-popularity fallback")


def test_one_loader_at_a_time_and_none_left_running(community, web_process):
    first = retrain()
    for _ in range(20):  # many requests at once start one check, not twenty
        store.current()
    assert sum(thread.name == "model-loader" and thread.is_alive() for thread in threading.enumerate()) <= 1
    wait_for(loaded(first.version), timeout=30, what="the first model")
    store.wait(30)
    assert not any(thread.name == "model-loader" and thread.is_alive() for thread in threading.enumerate())
