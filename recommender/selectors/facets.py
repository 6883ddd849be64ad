"""A reader's interests (facets) as the feed uses them: each facet's wanted papers in the served model's columns.

Stored facets (``models.Facet``) hold the papers they were found with; papers the reader wanted since join the facet
whose centre (its papers' mean factor direction in the served model) is nearest, so the same feedback always gives
the same facets. When they are stale (another model, or the reader's wanted papers doubled) they are found again
(``services.facets.facets_found``: a k-means of at most a few hundred vectors, once per reader and model).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from recommender.engine import facets as engine
from recommender.engine.facets import MIN_PAPERS_TO_SPLIT
from recommender.model_store import ServedModel, store
from recommender.models import Facet


@dataclass(frozen=True)
class FacetPart:
    """One of a reader's facets in the served model: its wanted papers' columns."""

    facet: Facet
    columns: np.ndarray

    @property
    def label(self) -> str:
        return self.facet.label


def stored_facets(user_ids: list[int]) -> dict[int, list[Facet]]:
    """Each reader's stored facets, in their order (one query for all)."""
    found: dict[int, list[Facet]] = {user_id: [] for user_id in user_ids}
    for facet in Facet.objects.filter(owner_id__in=user_ids).order_by("owner_id", "position", "id"):
        found[facet.owner_id].append(facet)
    return found


def facet_parts(served: ServedModel, wanted: np.ndarray, stored: list[Facet]) -> tuple[list[FacetPart], int]:
    """The reader's facets over their wanted columns ``wanted``: each stored facet's papers still wanted, and the
    others added to the facet with the nearest centre; also how many were added so (to tell a stale split)."""
    wanted = np.asarray(wanted, dtype=np.int64)
    if not stored or len(wanted) == 0:
        return [], len(wanted)
    facet_of = np.full(len(wanted), -1, dtype=np.int64)
    pk_to_facet = {pk: i for i, facet in enumerate(stored) for pk in facet.papers}
    for position, pk in enumerate(served.paper_pks[wanted].tolist()):
        facet_of[position] = pk_to_facet.get(pk, -1)
    unplaced = facet_of < 0
    placed = ~unplaced
    if unplaced.any() and placed.any():
        factors = served.catalogue.factors(wanted)
        centres = engine.centroids(factors[placed], facet_of[placed], len(stored))
        facet_of[unplaced] = engine.nearest(factors[unplaced], centres)
    elif unplaced.any():  # none of their papers is wanted any more (a reset): one point until they are found again
        return [], len(wanted)
    parts = [FacetPart(facet, wanted[facet_of == i]) for i, facet in enumerate(stored)]
    return [part for part in parts if len(part.columns)], int(unplaced.sum())


def is_stale(served: ServedModel, stored: list[Facet], wanted: int, added: int) -> bool:
    """Whether a reader's facets should be found again: none yet for a reader with enough papers, found with another
    model, or at least as many papers added since as they were found with."""
    if not served.version or wanted < MIN_PAPERS_TO_SPLIT:
        return False
    if not stored:
        return True
    return any(f.model_version != served.version for f in stored) or added >= max(MIN_PAPERS_TO_SPLIT, wanted - added)


def reader_facets(served: ServedModel, user_id: int, wanted: np.ndarray, stored: list[Facet]) -> list[FacetPart]:
    """The reader's facets for the feed (found again first when stale)."""
    from recommender.services.facets import facets_found

    parts, added = facet_parts(served, wanted, stored)
    if is_stale(served, stored, len(wanted), added):
        parts, _ = facet_parts(served, wanted, facets_found(served=served, user_id=user_id, wanted=wanted))
    return parts


def facets_of(*, user) -> list[tuple[Facet, int]]:
    """The reader's facets and how many of their wanted papers each holds, for their settings and the API (found
    first when stale); their stored papers when no model is served."""
    from recommender.selectors.feed import readers_feedback

    served = store.current()
    if served is None:
        return [(facet, len(facet.papers)) for facet in stored_facets([user.pk])[user.pk]]
    feedback = readers_feedback(
        served, [user.pk], time.time(), feed_settings={user.pk: (user.taste_since, user.cf_balance)}, with_facets=True
    )
    return [(part.facet, len(part.columns)) for part in feedback.facets[0]]
