"""The rating round a new reader is asked: the papers whose answers teach the model the most."""

from __future__ import annotations

import time

import numpy as np

from accounts.models import User
from recommender.engine.blend import diversify, standardize
from recommender.model_store import store
from recommender.models import Paper
from recommender.selectors.feed import closeness, readers_feedback

ONBOARDING_POOL = 300  # the most-known papers the rating round is drawn from
ONBOARDING_NOVELTY = 3.0  # how strongly the round avoids topics the reader already picked
ONBOARDING_SPREAD = 3.0  # diversity trade-off within the round (the feed's is BLEND_DIVERSITY)


def onboarding_round(*, user: User, size: int = 8) -> list[Paper]:
    """Papers worth asking a new reader to rate: each answer should teach us the most.

    Papers many readers have feedback on (the collaborative model knows them well: the model's most popular),
    spread over topics unlike each other and unlike what the reader has already picked, so the round
    is not just the most popular papers of one field.
    """
    served = store.current()
    if served is None:
        return []
    catalogue = served.catalogue
    feedback = readers_feedback(served, [user.pk], time.time())
    popular = catalogue.index.popular[: 4 * ONBOARDING_POOL]
    candidates = np.setdiff1d(popular[served.recommendable[popular]], feedback.seen[0])
    if len(candidates) == 0:
        return []
    popularity = standardize(catalogue.popularity(candidates)[None, :].astype(np.float64))[0]  # of log(1 + readers)
    picked = np.array(sorted(feedback.verbs[0]), dtype=np.int64)
    if len(picked):
        popularity -= ONBOARDING_NOVELTY * closeness(catalogue, candidates, picked)
    order = np.argsort(-popularity, kind="stable")[: min(len(candidates), ONBOARDING_POOL)]
    pool = candidates[order]
    chosen = pool[diversify(np.arange(len(pool)), popularity[order], catalogue.vectors(pool), size, ONBOARDING_SPREAD)]
    papers = Paper.objects.in_bulk([int(served.paper_pks[c]) for c in chosen])
    return [papers[int(served.paper_pks[c])] for c in chosen if int(served.paper_pks[c]) in papers]
