"""Recording a reader's feedback on a paper.

Likes, saves, dismissals and ratings are states (at most one each per reader and paper,
enforced by the database); reads are events. Liking or saving a paper takes back a
"not interested" on it, and dismissing it takes back a like or save.

One reader's feedback is written one change at a time: each change locks the reader's row
first, so parallel requests (a double click, several tabs, a script) cannot both insert
the same state or leave a like and a "not interested" stored together. A deadlock or
serialisation failure reported by the database is retried.
"""

import functools
import random
import time
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from accounts.models import User
from recommender.models import Interaction, Paper

Kind = Interaction.Kind
TOGGLE_KINDS = (Kind.LIKE, Kind.SAVE, Kind.DISMISS)
_OPPOSITES = {Kind.LIKE: (Kind.DISMISS,), Kind.SAVE: (Kind.DISMISS,), Kind.DISMISS: (Kind.LIKE, Kind.SAVE)}
RETRIES = 3
_RETRYABLE = {"40P01", "40001"}  # PostgreSQL: deadlock detected, serialization failure


def serialised(func):
    """Run ``func`` in a transaction (retried a few times on a deadlock when it is the outermost one)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        for attempt in range(1, RETRIES + 1):
            try:
                with transaction.atomic():
                    return func(*args, **kwargs)
            except OperationalError as exc:
                if connection.in_atomic_block or attempt == RETRIES or getattr(exc.__cause__, "sqlstate", None) not in _RETRYABLE:
                    raise
                time.sleep(random.uniform(0.01, 0.05) * attempt)

    return wrapper


def _lock_reader(user: User) -> None:
    """Hold the reader's row until the transaction ends: their feedback changes one at a time."""
    list(User.objects.select_for_update().filter(pk=user.pk).values_list("pk", flat=True))


@serialised
def feedback_set(*, user: User, paper: Paper, kind: str, on: bool, reason: str = "", author: str = "", via: str = "") -> Interaction | None:
    """Turn a like, save or dismissal on or off. Idempotent: a second like is a no-op.

    A dismissal may say why (``reason``): "topic" (fewer papers like this one) or "author"
    (fewer papers by ``author``, one of this paper's authors). ``via`` says where it was given
    (see ``FeedbackVia``). Returns the stored interaction when ``on``, else None.
    """
    if kind not in TOGGLE_KINDS:
        raise ValidationError(f"Unknown feedback {kind!r}: expected one of {', '.join(TOGGLE_KINDS)}.")
    reason, author = _dismiss_reason(paper, kind, reason, author)
    _lock_reader(user)
    mine = Interaction.objects.filter(user=user, paper=paper)
    if not on:
        mine.filter(kind=kind).delete()
        return None
    mine.filter(kind__in=_OPPOSITES[kind]).delete()
    interaction, _created = Interaction.objects.update_or_create(
        user=user,
        paper=paper,
        kind=kind,
        defaults={"reason": reason, "author": author},
        create_defaults={"reason": reason, "author": author, "via": via_checked(via)},
    )
    return interaction


def _dismiss_reason(paper: Paper, kind: str, reason: str, author: str) -> tuple[str, str]:
    """The checked (reason, author) of a dismissal; an error for a reason that does not fit."""
    reason, author = (reason or "").strip(), (author or "").strip()
    if not reason and not author:
        return "", ""
    if kind != Kind.DISMISS:
        raise ValidationError("Only 'not interested' takes a reason.")
    if reason not in Interaction.Reason.values:
        raise ValidationError(f"Unknown reason {reason[:20]!r}: use topic or author (or none).")
    if reason == Interaction.Reason.AUTHOR:
        if author not in paper.authors:
            raise ValidationError(f"{author[:80]!r} is not an author of this paper.")
        return reason, author
    if author:
        raise ValidationError("Name an author only with the reason 'author'.")
    return reason, ""


@serialised
def likes_add(*, user: User, papers: list[Paper]) -> int:
    """Like each of ``papers`` (seeding a new reader's taste); returns how many were not liked before."""
    _lock_reader(user)
    already = set(Interaction.objects.filter(user=user, paper__in=papers, kind=Kind.LIKE).values_list("paper_id", flat=True))
    for paper in papers:
        feedback_set(user=user, paper=paper, kind=Kind.LIKE, on=True)
    return len({p.pk for p in papers} - already)


def via_checked(via: str | None) -> str:
    """``via`` when it names a known place (``FeedbackVia``), else "" (on their own)."""
    return via if via in Interaction.Via.values else ""


@serialised
def ratings_set(*, user: User, stars_by_paper: dict[Paper, int], via: str = "") -> int:
    """Rate several papers at once, all or none; returns how many were rated."""
    for paper, stars in stars_by_paper.items():
        rating_set(user=user, paper=paper, stars=stars, via=via)
    return len(stars_by_paper)


def parse_stars(raw: object) -> int | None:
    """Stars from form or JSON input: 1-5, or None for "no rating" (empty). Anything else is an error."""
    if raw is None or raw == "":
        return None
    text = str(raw).strip()
    if text not in ("1", "2", "3", "4", "5"):
        raise ValidationError(f"A rating is a whole number of stars from 1 to 5, not {str(raw)[:20]!r}.")
    return int(text)


@serialised
def rating_set(*, user: User, paper: Paper, stars: int | None, via: str = "") -> Interaction | None:
    """Rate a paper 1-5 stars, replacing an earlier rating; ``None`` removes the rating."""
    _lock_reader(user)
    if stars is None:
        Interaction.objects.filter(user=user, paper=paper, kind=Kind.RATE).delete()
        return None
    if not isinstance(stars, int) or not 1 <= stars <= 5:
        raise ValidationError(f"A rating is a whole number of stars from 1 to 5, not {stars!r}.")
    interaction, _created = Interaction.objects.update_or_create(
        user=user,
        paper=paper,
        kind=Kind.RATE,
        defaults={"value": stars, "created": timezone.now()},
        create_defaults={"value": stars, "created": timezone.now(), "via": via_checked(via)},
    )
    return interaction


@serialised
def read_record(*, user: User, paper: Paper, via: str = "") -> Interaction | None:
    """Record that ``user`` opened ``paper`` (coming from ``via``). A repeat within READ_DEDUP_MINUTES is the same read
    (parallel visits too)."""
    _lock_reader(user)
    now = timezone.now()
    window = timedelta(minutes=settings.READ_DEDUP_MINUTES)
    if window and Interaction.objects.filter(user=user, paper=paper, kind=Kind.READ, created__gte=now - window).exists():
        return None
    return Interaction.objects.create(user=user, paper=paper, kind=Kind.READ, created=now, via=via_checked(via))
