"""A reader's interests (facets): found by splitting the papers they want (``engine.facets``), kept stable, and
renamed, merged or hidden by the reader.

A facet stores the pks of its papers when it was found. Papers the reader wanted since join the facet whose centre
is nearest (``selectors.facets``), so a like never reshuffles the facets. They are found again only when the served
model changes (the nightly retrain) or the reader's wanted papers have doubled since; a facet found again keeps the
name, rename and hidden flag of the old facet it overlaps most.
"""

from __future__ import annotations

import numpy as np
from django.db import transaction

from accounts.models import User
from recommender.engine import facets as engine
from recommender.model_store import ServedModel
from recommender.models import Facet

MOST_PAPERS_SPLIT = 500  # the wanted papers a split looks at, at most (the others join the nearest facet)
REFRESH_BATCH = 200  # readers whose facets are found again together after a retrain


class FacetError(ValueError):
    """A facet change the reader asked for cannot be made (the message says why)."""


class FacetNotFound(FacetError):
    """The reader has no facet of that id."""


def facets_found(*, served: ServedModel, user_id: int, wanted: np.ndarray) -> list[Facet]:
    """Split the reader's wanted papers (columns ``wanted``) into facets and store them in place of their old ones:
    each new facet continues the old one it overlaps most (its id, name, rename and hidden flag), and parts of a
    facet the reader made by merging stay together. A reader with more than MOST_PAPERS_SPLIT papers is split on
    that many, and the others join the nearest facet (every wanted paper is stored, so the split stays fresh)."""
    wanted = np.asarray(wanted, dtype=np.int64)
    factors = served.catalogue.factors(wanted)
    labels = engine.split(factors[:MOST_PAPERS_SPLIT]) if len(wanted) else np.zeros(0, dtype=np.int64)
    if len(wanted) > MOST_PAPERS_SPLIT:
        centres = engine.centroids(factors[:MOST_PAPERS_SPLIT], labels, int(labels.max()) + 1)
        labels = np.concatenate([labels, engine.nearest(factors[MOST_PAPERS_SPLIT:], centres)])
    terms = served.artifact.encoder.terms if served.artifact.encoder.terms is not None else np.array([], dtype=str)
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user_id).first()  # one refresh of a reader at a time
        old = list(Facet.objects.select_for_update().filter(owner_id=user_id).order_by("position", "id"))  # as they are now
        groups = _merged_kept_whole([wanted[labels == facet] for facet in range(int(labels.max()) + 1 if len(labels) else 0)], served, old)
        new_pks = [set(served.paper_pks[group].tolist()) - {-1} for group in groups]
        continues = engine.matched([set(f.papers) for f in old], new_pks)
        kept = {old[before].pk for before in continues if before is not None}
        Facet.objects.filter(owner_id=user_id).exclude(pk__in=kept).delete()
        found = []
        for position, (group, pks, before) in enumerate(zip(groups, new_pks, continues)):
            facet = old[before] if before is not None else Facet(owner_id=user_id)
            facet.name = facet.name or engine.name_of(served.catalogue.vectors(group), terms)[:200]
            facet.position, facet.papers, facet.model_version = position, sorted(pks), served.version
            if facet.pk is None:
                facet.save()
            else:  # the reader's own choices (rename, hidden, merged) are theirs to change, not the split's
                facet.save(update_fields=["name", "position", "papers", "model_version", "updated"])
            found.append(facet)
        return found


def facets_refresh_after_retrain(*, on_progress=lambda done, total: None) -> int:
    """Find again, in the worker, the facets of every reader who has some but found with an older model (after the
    nightly retrain), so that their next feed request does not pay for the split. Returns how many readers."""
    import time

    from recommender.model_store import store
    from recommender.selectors.feed import readers_feedback

    store.expire()  # the model this retrain activated, not the one this process loaded before
    served = store.current()
    if served is None or not served.version:
        return 0
    stale = sorted(set(Facet.objects.exclude(model_version=served.version).values_list("owner_id", flat=True)))
    for start in range(0, len(stale), REFRESH_BATCH):
        readers_feedback(served, stale[start : start + REFRESH_BATCH], time.time(), with_facets=True)  # finds the stale ones again
        on_progress(min(start + REFRESH_BATCH, len(stale)), len(stale))
    return len(stale)


def _merged_kept_whole(groups: list[np.ndarray], served: ServedModel, old: list[Facet]) -> list[np.ndarray]:
    """``groups`` (columns) with those whose papers are mostly in one old facet the reader merged joined together."""
    out: list[np.ndarray] = []
    slot_of: dict[int, int] = {}  # an old merged facet -> its group's place in ``out``
    for group in groups:
        pks = set(served.paper_pks[group].tolist())
        overlaps = [len(pks & set(facet.papers)) for facet in old]
        best = int(np.argmax(overlaps)) if overlaps and 2 * max(overlaps) > len(pks) else None
        if best is not None and old[best].kept_whole:
            if best in slot_of:
                out[slot_of[best]] = np.concatenate([out[slot_of[best]], group])
                continue
            slot_of[best] = len(out)
        out.append(group)
    return out


def facet_rename(*, user: User, facet_id: int, name: str) -> Facet:
    """Give one of the reader's facets their own name (blank: the found name again)."""
    name = " ".join((name or "").split())
    if len(name) > 100:
        raise FacetError("A name has at most 100 characters.")
    facet = _own_facet(user, facet_id)
    facet.custom_name = name
    facet.save(update_fields=["custom_name", "updated"])
    return facet


def facet_hide(*, user: User, facet_id: int, hidden: bool = True) -> Facet:
    """Hide one of the reader's facets from the feed and the email (its papers stay in the library), or show it."""
    facet = _own_facet(user, facet_id)
    facet.hidden = hidden
    facet.save(update_fields=["hidden", "updated"])
    return facet


def facets_merge(*, user: User, facet_id: int, into_id: int) -> Facet:
    """Make two of the reader's facets one: ``facet_id``'s papers join ``into_id``, which keeps its name."""
    with transaction.atomic():
        facet, into = _own_facet(user, facet_id, lock=True), _own_facet(user, into_id, lock=True)
        if facet.pk == into.pk:
            raise FacetError("Pick two different interests to merge.")
        into.papers = sorted(set(into.papers) | set(facet.papers))
        into.kept_whole = True
        into.save(update_fields=["papers", "kept_whole", "updated"])
        facet.delete()
    return into


def _own_facet(user: User, facet_id, *, lock: bool = False) -> Facet:
    raw = str(facet_id).strip()
    if not (raw.isascii() and raw.isdecimal() and len(raw) < 12):
        raise FacetNotFound("No such interest of yours.")
    facets = Facet.objects.filter(owner=user, pk=int(raw))
    facet = (facets.select_for_update() if lock else facets).first()
    if facet is None:
        raise FacetNotFound("No such interest of yours.")
    return facet
