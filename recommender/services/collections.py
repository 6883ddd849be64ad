"""Collections: a reader's named sets of papers, each with its own feed, shareable read-only by a link.

Putting a paper in a collection also saves it ("saved" is the default set): the reader's own feed learns from it and
stops offering it. Taking it out of a collection leaves it saved.
"""

import secrets

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import User
from recommender.engine.exchange import UnsafeText, clean_text
from recommender.models import Collection, CollectionPaper, Paper
from recommender.selectors.references import references_match
from recommender.services.feedback import feedback_set

MAX_COLLECTIONS = 50  # per reader
MAX_PAPERS = 5000  # per collection


def _clean_name(name: str) -> str:
    try:
        name = clean_text(str(name), field="name").strip()
    except UnsafeText as exc:
        raise ValidationError(str(exc)) from None
    if not name or len(name) > 100:
        raise ValidationError("A collection's name is 1 to 100 characters.")
    return name


def collection_create(*, owner: User, name: str) -> Collection:
    """A new, empty collection of ``owner``'s; ValidationError for a bad or taken name, or one too many."""
    name = _clean_name(name)
    if Collection.objects.filter(owner=owner).count() >= MAX_COLLECTIONS:
        raise ValidationError(f"A reader has at most {MAX_COLLECTIONS} collections.")
    try:
        with transaction.atomic():
            return Collection.objects.create(owner=owner, name=name)
    except IntegrityError:
        raise ValidationError(f"You already have a collection called “{name}”.") from None


def collection_rename(*, collection: Collection, name: str) -> Collection:
    name = _clean_name(name)
    try:
        with transaction.atomic():
            collection.name = name
            collection.save(update_fields=["name"])
    except IntegrityError:
        raise ValidationError(f"You already have a collection called “{name}”.") from None
    return collection


def collection_delete(*, collection: Collection) -> None:
    """The collection and its list go; its papers stay saved."""
    collection.delete()


@transaction.atomic
def collection_paper_add(*, collection: Collection, paper: Paper) -> bool:
    """Put ``paper`` in ``collection`` (and save it for its owner); False when it was there already."""
    if collection.entries.filter(paper=paper).exists():
        return False
    if collection.entries.count() >= MAX_PAPERS:
        raise ValidationError(f"A collection holds at most {MAX_PAPERS} papers.")
    _, created = CollectionPaper.objects.get_or_create(collection=collection, paper=paper)
    feedback_set(user=collection.owner, paper=paper, kind="save", on=True)
    return created


def collection_paper_remove(*, collection: Collection, paper: Paper) -> bool:
    """Take ``paper`` out of ``collection`` (it stays saved); False when it was not there."""
    deleted, _ = CollectionPaper.objects.filter(collection=collection, paper=paper).delete()
    return bool(deleted)


def collection_import(*, collection: Collection, text: str) -> tuple[list[Paper], list[str]]:
    """Put the papers a pasted BibTeX file or list of arXiv ids names into ``collection`` (onboarding's parser and
    look-ups, all or nothing); returns the papers added and the references not found in the catalogue. Raises
    ReferencesTooLong, or ValidationError when the collection would hold more than MAX_PAPERS."""
    found = references_match(text=text)
    if collection.entries.count() + len(found.papers) > MAX_PAPERS:
        raise ValidationError(f"A collection holds at most {MAX_PAPERS} papers; this would make it more.")
    with transaction.atomic():
        for paper in found.papers:
            collection_paper_add(collection=collection, paper=paper)
    return found.papers, found.unmatched


def collection_share(*, collection: Collection) -> str:
    """A read-only link's secret for ``collection`` (the same one until revoked)."""
    if not collection.share_token:
        collection.share_token = secrets.token_urlsafe(24)
        collection.save(update_fields=["share_token"])
    return collection.share_token


def collection_unshare(*, collection: Collection) -> None:
    """Revoke the read-only link: it stops working at once; a later share makes a new one."""
    collection.share_token = None
    collection.save(update_fields=["share_token"])


def collection_in_digest(*, collection: Collection, on: bool) -> Collection:
    """Give the collection a section of picks in its owner's weekly email, or take it out."""
    collection.in_digest = on
    collection.save(update_fields=["in_digest"])
    return collection
