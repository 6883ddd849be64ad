"""Writing a synthetic community (see ``engine.synthetic``) into the database, fast.

PostgreSQL gets COPY (10^7 interactions in minutes); other databases get bulk inserts.
Readers are ``synth0000000``... with unusable passwords; papers are ``synth-0000000``...
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from datetime import timezone as dt_timezone

import numpy as np
from django.contrib.auth.hashers import make_password
from django.db import connection, transaction

from accounts.models import User
from recommender.engine.matrix import KIND_CODES
from recommender.engine.synthetic import synthetic_feedback, synthetic_papers
from recommender.models import Interaction, Paper

USER_PREFIX = "synth"
PAPER_PREFIX = "synth-"
CHUNK = 200_000
KIND_NAMES = {code: name for name, code in KIND_CODES.items()}

OnProgress = Callable[[int], None]


@dataclass(frozen=True)
class SyntheticResult:
    users: int
    papers: int
    interactions: int


class SyntheticExists(ValueError):
    pass


@transaction.atomic
def synthetic_community_create(
    *, users: int, papers: int, interactions: int, seed: int = 0, now: datetime | None = None, on_progress: OnProgress | None = None
) -> SyntheticResult:
    """Create the community, all or nothing. ``on_progress(n)`` is called as rows are written (users + papers + interactions)."""
    if users < 1 or papers < 1 or interactions < 0:
        raise ValueError("users and papers must be at least 1, interactions at least 0")
    if (
        User.objects.filter(username=f"{USER_PREFIX}{0:07d}").exists()
        or Paper.objects.filter(external_id=f"{PAPER_PREFIX}{0:07d}").exists()
    ):
        raise SyntheticExists("This database already holds a synthetic community; use a fresh database.")
    now = now or datetime.now(dt_timezone.utc)
    progress = on_progress or (lambda n: None)
    catalogue = synthetic_papers(papers, seed=seed)
    feedback = synthetic_feedback(users, catalogue, interactions, seed=seed)

    unusable = make_password(None)
    user_rows = ((f"{USER_PREFIX}{i:07d}", f"{USER_PREFIX}{i:07d}@example.org", unusable, now) for i in range(users))
    _write_users(user_rows, progress)
    paper_rows = (
        (
            f"{PAPER_PREFIX}{j:07d}",
            catalogue.titles[j],
            catalogue.abstracts[j],
            date.fromordinal(now.date().toordinal() - int(catalogue.published_days_ago[j])),
            now,
        )
        for j in range(papers)
    )
    _write_papers(paper_rows, progress)
    user_pks = np.array(
        User.objects.filter(username__startswith=USER_PREFIX).order_by("username").values_list("pk", flat=True), dtype=np.int64
    )
    paper_pks = np.array(
        Paper.objects.filter(external_id__startswith=PAPER_PREFIX).order_by("external_id").values_list("pk", flat=True), dtype=np.int64
    )
    _write_interactions(
        user_pks[feedback.users],
        paper_pks[feedback.papers],
        feedback.kinds,
        feedback.values,
        now.timestamp() - feedback.ages_seconds,
        progress,
    )
    return SyntheticResult(users=users, papers=papers, interactions=len(feedback.users))


def _write_users(rows: Iterator[tuple], progress: OnProgress) -> None:
    if connection.vendor == "postgresql":
        columns = [
            "username",
            "email",
            "password",
            "date_joined",
            "first_name",
            "last_name",
            "is_staff",
            "is_active",
            "is_superuser",
            "weekly_digest",
            "share_feedback",
            "categories",
        ]
        lines = (f"{u}\t{e}\t{p}\t{d.isoformat()}\t\t\tf\tt\tf\tf\tt\t[]\n" for u, e, p, d in rows)
        _copy(User._meta.db_table, columns, _blocks(lines), progress)
    else:
        _bulk(User, (User(username=u, email=e, password=p, date_joined=d, weekly_digest=False) for u, e, p, d in rows), progress)


def _write_papers(rows: Iterator[tuple], progress: OnProgress) -> None:
    if connection.vendor == "postgresql":
        columns = [
            "external_id",
            "title",
            "abstract",
            "authors",
            "published",
            "url",
            "added_at",
            "categories",
            "primary_category",
            "doi",
            "license",
            "comments",
            "source",
        ]
        lines = (f"{i}\t{t}\t{a}\t[]\t{p.isoformat()}\t\t{added.isoformat()}\t[]\t\t\t\t\timport\n" for i, t, a, p, added in rows)
        _copy(Paper._meta.db_table, columns, _blocks(lines), progress)
    else:
        _bulk(
            Paper,
            (Paper(external_id=i, title=t, abstract=a, authors=[], published=p, added_at=added) for i, t, a, p, added in rows),
            progress,
        )


def _write_interactions(user_pks, paper_pks, kinds, values, stamps, progress: OnProgress) -> None:
    names = np.array([KIND_NAMES[code] for code in range(len(KIND_NAMES))])
    if connection.vendor == "postgresql":
        columns = ["user_id", "paper_id", "kind", "value", "reason", "author", "created", "via"]

        def blocks() -> Iterator[tuple[str, int]]:
            for start in range(0, len(user_pks), CHUNK):
                part = slice(start, start + CHUNK)
                value_text = np.where(values[part] > 0, values[part].astype(str), "\\N")
                when = [datetime.fromtimestamp(t, dt_timezone.utc).isoformat() for t in stamps[part].tolist()]
                yield (
                    "".join(
                        f"{u}\t{p}\t{k}\t{v}\t\t\t{w}\t\n"
                        for u, p, k, v, w in zip(
                            user_pks[part].tolist(), paper_pks[part].tolist(), names[kinds[part]].tolist(), value_text.tolist(), when
                        )
                    ),
                    len(when),
                )

        _copy(Interaction._meta.db_table, columns, blocks(), progress)
    else:
        _bulk(
            Interaction,
            (
                Interaction(user_id=u, paper_id=p, kind=names[k], value=int(v) or None, created=datetime.fromtimestamp(t, dt_timezone.utc))
                for u, p, k, v, t in zip(user_pks.tolist(), paper_pks.tolist(), kinds.tolist(), values.tolist(), stamps.tolist())
            ),
            progress,
        )


def _copy(table: str, columns: list[str], blocks: Iterator[tuple[str, int]], progress: OnProgress) -> None:
    """PostgreSQL COPY ... FROM STDIN of ``blocks``: (tab-separated text lines, how many rows they hold)."""
    sql = f"COPY {connection.ops.quote_name(table)} ({', '.join(connection.ops.quote_name(c) for c in columns)}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for text, rows in blocks:
            copy.write(text)
            progress(rows)


def _blocks(lines: Iterator[str]) -> Iterator[tuple[str, int]]:
    """Lines joined into blocks of CHUNK rows."""
    block: list[str] = []
    for line in lines:
        block.append(line)
        if len(block) == CHUNK:
            yield "".join(block), len(block)
            block = []
    if block:
        yield "".join(block), len(block)


def _bulk(model, objects: Iterator, progress: OnProgress, batch: int = 5_000) -> None:
    chunk = []
    for obj in objects:
        chunk.append(obj)
        if len(chunk) == batch:
            model.objects.bulk_create(chunk)
            progress(len(chunk))
            chunk = []
    if chunk:
        model.objects.bulk_create(chunk)
        progress(len(chunk))
