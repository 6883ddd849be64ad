"""What a visitor is shown of Paperfeed before signing up: a real feed, with its reasons, for an example reader."""

from __future__ import annotations

import time

import numpy as np
from django.core.cache import cache
from scipy import sparse

from config.ratelimit import CACHE_ERRORS
from recommender.model_store import store
from recommender.models import Paper
from recommender.selectors.feed import SHORT_LIST_BREADTH, FeedItem, ReaderFeedback, explained_papers, rank_readers

EXAMPLE_CACHE_SECONDS = 600


def example_feed(*, limit: int = 3) -> tuple[Paper | None, list[FeedItem]]:
    """The feed of a reader who liked the catalogue's best-known paper (that paper, and the top ``limit`` items with
    their reasons), ranked by the served model exactly as a reader's feed is. Cached for a few minutes."""
    served = store.current()
    if served is None:  # no model loaded yet (a web process starting): the page shows the newest papers alone
        return None, []
    catalogue = served.catalogue_key
    key = "example-feed:" + "-".join(map(str, (served.version or "none", catalogue.papers, catalogue.newest, catalogue.withdrawn, limit)))
    try:
        found = cache.get(key)
    except CACHE_ERRORS:  # Redis down: rank it afresh, the page still answers
        return _example(served, limit)
    if found is None:
        found = _example(served, limit)
        try:
            cache.set(key, found, EXAMPLE_CACHE_SECONDS)
        except CACHE_ERRORS:
            pass
    return found


def _example(served, limit: int) -> tuple[Paper | None, list[FeedItem]]:
    popular = served.catalogue.index.popular
    popular = popular[served.recommendable[popular]]
    if served.n_items < 2 or len(popular) == 0:
        return None, []
    seed = int(popular[0])
    weights = sparse.csr_matrix(([served.weights.like], ([0], [seed])), shape=(1, served.n_items), dtype=np.float32)
    empty = np.zeros(0, dtype=np.int64)
    feedback = ReaderFeedback([0], weights, np.array([np.nan]), [np.array([seed])], [{seed: "liked"}], [empty], [empty])
    picks = rank_readers(served, feedback, limit=limit, now=time.time(), breadth=SHORT_LIST_BREADTH)
    liked = Paper.objects.filter(pk=int(served.paper_pks[seed])).first()
    return liked, explained_papers(served, feedback, picks)[0]
