"""Importing and exporting data sets in the exchange format (docs/data.md "The exchange format").

Imports are all-or-nothing: every line is checked before the first write, and the
writes happen in one transaction. They are idempotent: importing a file twice changes
nothing the second time (a paper whose fields changed is updated; a rating with a new
value replaces the old one; a read with the same time, or with no time when the reader
has already read the paper, is not counted again).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.models import User
from recommender.engine.exchange import (
    DatasetError,
    InteractionRecord,
    PaperRecord,
    write_interactions_csv,
    write_papers_jsonl,
)
from recommender.models import Interaction, Paper

OnProgress = Callable[[int], None]
BATCH_SIZE = 2000
_LOOKUP_CHUNK = 900  # below SQLite's oldest limit on query parameters
T = TypeVar("T")


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    users_created: int = 0

    def summary(self, noun: str) -> str:
        text = f"{self.created} {noun} created, {self.updated} updated, {self.unchanged} unchanged"
        if self.users_created:
            text += f"; {self.users_created} users created"
        return text


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _paper_fields(record: PaperRecord) -> dict:
    return {
        "title": record.title,
        "abstract": record.abstract,
        "authors": list(record.authors),
        "published": record.published,
        "url": record.url,
    }


@transaction.atomic
def papers_import(*, records: Sequence[PaperRecord], on_progress: OnProgress | None = None) -> ImportResult:
    """Create papers that are new by id and update those whose fields changed."""
    progress = on_progress or (lambda n: None)
    result = ImportResult()
    existing: dict[str, Paper] = {}
    for ids in _chunks([r.id for r in records], _LOOKUP_CHUNK):
        existing.update((p.external_id, p) for p in Paper.objects.filter(external_id__in=ids))
    to_create: list[Paper] = []
    to_update: list[Paper] = []
    for record in records:
        fields = _paper_fields(record)
        paper = existing.get(record.id)
        if paper is None:
            to_create.append(Paper(external_id=record.id, **fields))
        elif any(getattr(paper, name) != value for name, value in fields.items()):
            for name, value in fields.items():
                setattr(paper, name, value)
            to_update.append(paper)
        else:
            result.unchanged += 1
    progress(result.unchanged)
    for batch in _chunks(to_create, BATCH_SIZE):
        Paper.objects.bulk_create(batch)
        progress(len(batch))
    for batch in _chunks(to_update, BATCH_SIZE):
        Paper.objects.bulk_update(batch, list(_paper_fields(records[0])))
        progress(len(batch))
    result.created, result.updated = len(to_create), len(to_update)
    return result


def _user_ids(records: Sequence[InteractionRecord], source: str) -> tuple[dict[str, int], int]:
    """Ids of the users named in ``records`` by lowercased name, creating the ones not seen before (unusable passwords).

    User names are unique regardless of case, so ``Alice`` in a file is the existing ``alice``.
    """
    validate_username = UnicodeUsernameValidator()
    spelling: dict[str, str] = {}
    for record in records:
        if record.user.lower() not in spelling:
            try:
                validate_username(record.user)
            except ValidationError:
                raise DatasetError(
                    source, record.line, f"user {record.user!r} is not a valid user name (letters, digits and @.+-_ only)"
                ) from None
            if len(record.user) > 150:
                raise DatasetError(source, record.line, "user name longer than 150 characters")
            spelling[record.user.lower()] = record.user
    ids: dict[str, int] = {}
    keys = list(spelling)
    for chunk in _chunks(keys, _LOOKUP_CHUNK):
        ids.update(User.objects.annotate(key=Lower("username")).filter(key__in=chunk).values_list("key", "id"))
    missing = [key for key in keys if key not in ids]
    for chunk in _chunks(missing, BATCH_SIZE):
        User.objects.bulk_create([User(username=spelling[key], password=make_password(None)) for key in chunk])
    for chunk in _chunks(missing, _LOOKUP_CHUNK):
        ids.update(User.objects.annotate(key=Lower("username")).filter(key__in=chunk).values_list("key", "id"))
    return ids, len(missing)


def _paper_ids(records: Sequence[InteractionRecord], source: str) -> dict[str, int]:
    wanted = list(dict.fromkeys(r.paper for r in records))
    ids: dict[str, int] = {}
    for chunk in _chunks(wanted, _LOOKUP_CHUNK):
        ids.update(Paper.objects.filter(external_id__in=chunk).values_list("external_id", "id"))
    for record in records:
        if record.paper not in ids:
            raise DatasetError(source, record.line, f"unknown paper {record.paper!r} (import the papers first)")
    return ids


@transaction.atomic
def interactions_import(
    *, records: Sequence[InteractionRecord], source: str = "interactions", on_progress: OnProgress | None = None
) -> ImportResult:
    """Store ``records``, creating unseen users. Unknown papers or bad user names refuse the whole file."""
    progress = on_progress or (lambda n: None)
    paper_ids = _paper_ids(records, source)
    user_ids, users_created = _user_ids(records, source)
    result = ImportResult(users_created=users_created)

    states: dict[tuple[int, int, str], Interaction] = {}
    reads_at: set[tuple[int, int, object]] = set()
    read_pairs: set[tuple[int, int]] = set()
    known_users = list(set(user_ids.values()))
    for chunk in _chunks(known_users, _LOOKUP_CHUNK):
        for interaction in Interaction.objects.filter(user_id__in=chunk).only("id", "user_id", "paper_id", "kind", "value", "created"):
            key = (interaction.user_id, interaction.paper_id)
            if interaction.kind == Interaction.Kind.READ:
                reads_at.add((*key, interaction.created))
                read_pairs.add(key)
            else:
                states[(*key, interaction.kind)] = interaction

    now = timezone.now()
    to_create: list[Interaction] = []
    to_update: dict[int, Interaction] = {}
    for record in records:
        user_id, paper_id = user_ids[record.user.lower()], paper_ids[record.paper]
        created = record.timestamp or now
        if record.kind == Interaction.Kind.READ:
            seen = (user_id, paper_id, record.timestamp) in reads_at if record.timestamp else (user_id, paper_id) in read_pairs
            if seen:
                result.unchanged += 1
                continue
            reads_at.add((user_id, paper_id, created))
            read_pairs.add((user_id, paper_id))
            to_create.append(Interaction(user_id=user_id, paper_id=paper_id, kind=record.kind, created=created))
            continue
        key = (user_id, paper_id, record.kind)
        current = states.get(key)
        if current is None:
            current = Interaction(user_id=user_id, paper_id=paper_id, kind=record.kind, value=record.value, created=created)
            states[key] = current
            to_create.append(current)
        elif current.value != record.value and (record.timestamp is None or record.timestamp >= current.created):
            current.value, current.created = record.value, created
            if current.pk is not None:
                to_update[current.pk] = current
        else:
            result.unchanged += 1
    result.updated = len(to_update)
    progress(len(records) - len(to_create) - result.updated)
    for batch in _chunks(to_create, BATCH_SIZE):
        Interaction.objects.bulk_create(batch)
        progress(len(batch))
    for batch in _chunks(list(to_update.values()), BATCH_SIZE):
        Interaction.objects.bulk_update(batch, ["value", "created"])
        progress(len(batch))
    result.created = len(to_create)
    return result


def dataset_export(*, directory: str | os.PathLike) -> tuple[int, int]:
    """Write ``papers.jsonl`` and ``interactions.csv`` into ``directory``; returns (papers, interactions).

    Only the feedback of readers who let it help others (``share_feedback``) is written, each reader under a
    pseudonym (``reader_pseudonym``), never their user name.
    """
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if connection.vendor == "postgresql" and outermost:  # one snapshot for both files
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        return _write_dataset(Path(directory))


def _write_dataset(target: Path) -> tuple[int, int]:
    papers: Iterable[PaperRecord] = (
        PaperRecord(id=external_id, title=title, abstract=abstract, authors=tuple(authors), published=published, url=url)
        for external_id, title, abstract, authors, published, url in Paper.objects.order_by("id")
        .values_list("external_id", "title", "abstract", "authors", "published", "url")
        .iterator(chunk_size=BATCH_SIZE)
    )
    interactions: Iterable[InteractionRecord] = (
        InteractionRecord(user=reader_pseudonym(user_id), paper=paper, kind=kind, value=value, timestamp=created)
        for user_id, paper, kind, value, created in Interaction.objects.filter(user__share_feedback=True)
        .order_by("id")
        .values_list("user_id", "paper__external_id", "kind", "value", "created")
        .iterator(chunk_size=BATCH_SIZE)
    )
    return write_papers_jsonl(target / "papers.jsonl", papers), write_interactions_csv(target / "interactions.csv", interactions)


def reader_pseudonym(user_id: int) -> str:
    """A reader's name in exported data sets: the same in every export made with this SECRET_KEY, and telling
    nothing of who they are without it (a keyed hash of their id)."""
    digest = hmac.new(settings.SECRET_KEY.encode(), f"export-reader:{user_id}".encode(), hashlib.sha256).hexdigest()
    return f"r{digest[:16]}"
