"""Reading collections: a reader's own (by id, only theirs), a shared one (by its link's secret), their papers newest
first, and a collection's feed: the personal feed's candidates and blend, profiled on the collection's papers."""

from __future__ import annotations

import time

import numpy as np
from django.db.models import Count, QuerySet

from accounts.models import User
from recommender.model_store import store
from recommender.models import Collection, Interaction, Paper
from recommender.selectors.feed import FeedItem, explained_papers, feedback_of_papers, popular_items, rank_readers


def collections_of(*, user: User) -> QuerySet[Collection]:
    """The reader's collections by name, each with ``size`` (its papers)."""
    return Collection.objects.filter(owner=user).annotate(size=Count("entries"))


def collections_to_pick(*, user: User) -> list[Collection]:
    """The reader's collections, names only, for a card's "+ Collection" (none for a visitor)."""
    return list(Collection.objects.filter(owner=user).only("pk", "name")) if user.is_authenticated else []


def collection_of(*, user: User, collection_id: int) -> Collection:
    """The reader's own collection ``collection_id``; Collection.DoesNotExist for anyone else's (so: a 404)."""
    return Collection.objects.get(pk=collection_id, owner=user)


def collection_shared(*, token: str) -> Collection | None:
    """The collection a read-only link opens, None once revoked (or never made, or its owner's account is closed)."""
    if not token or len(token) > 64:
        return None
    return Collection.objects.filter(share_token=token, owner__is_active=True).select_related("owner").first()


def collection_papers(*, collection: Collection, limit: int = 50, offset: int = 0) -> list[Paper]:
    """The collection's papers, the newest added first (by the entries' own index)."""
    entries = collection.entries.select_related("paper").order_by("-added_at", "-id")[offset : offset + limit]
    return [entry.paper for entry in entries]


def collection_feed(
    *, collection: Collection, limit: int = 20, offset: int = 0, for_owner: bool = True, leave_out: set[int] = frozenset()
) -> list[FeedItem]:
    """Papers for ``collection``: ranked as a reader who saved exactly its papers (collaborative signal included),
    leaving out its papers, the pks ``leave_out`` and, when the owner looks (``for_owner``), everything the owner gave
    feedback on."""
    entries = list(collection.entries.values_list("paper_id", "added_at"))
    in_it = {pk for pk, _ in entries}
    served = store.current()
    owner_seen = set(Interaction.objects.filter(user_id=collection.owner_id).values_list("paper_id", flat=True)) if for_owner else set()
    owner_seen |= set(leave_out)
    if served is None or not entries:
        return popular_items(exclude=in_it | owner_seen, limit=limit, offset=offset)
    now = time.time()
    seen = np.array(sorted(c for pk in owner_seen if (c := served.column_of.get(pk)) is not None), dtype=np.int64)
    feedback = feedback_of_papers(served, entries, now, verb="put in this collection", seen=seen)
    picks = rank_readers(served, feedback, limit=limit, offset=offset, now=now)
    return explained_papers(served, feedback, picks)[0]
