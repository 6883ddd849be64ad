"""Recording a reader's feedback on a paper.

Likes, saves, dismissals and ratings are states (at most one each per reader and paper,
enforced by the database); reads are events. Liking or saving a paper takes back a
"not interested" on it, and dismissing it takes back a like or save.
"""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from recommender.models import Interaction, Paper

Kind = Interaction.Kind
TOGGLE_KINDS = (Kind.LIKE, Kind.SAVE, Kind.DISMISS)
_OPPOSITES = {Kind.LIKE: (Kind.DISMISS,), Kind.SAVE: (Kind.DISMISS,), Kind.DISMISS: (Kind.LIKE, Kind.SAVE)}


@transaction.atomic
def feedback_set(*, user: User, paper: Paper, kind: str, on: bool) -> Interaction | None:
    """Turn a like, save or dismissal on or off. Idempotent: a second like is a no-op.

    Returns the stored interaction when ``on``, else None.
    """
    if kind not in TOGGLE_KINDS:
        raise ValidationError(f"Unknown feedback {kind!r}: expected one of {', '.join(TOGGLE_KINDS)}.")
    mine = Interaction.objects.filter(user=user, paper=paper)
    if not on:
        mine.filter(kind=kind).delete()
        return None
    mine.filter(kind__in=_OPPOSITES[kind]).delete()
    interaction, _created = Interaction.objects.get_or_create(user=user, paper=paper, kind=kind)
    return interaction


def parse_stars(raw: object) -> int | None:
    """Stars from form or JSON input: 1-5, or None for "no rating" (empty). Anything else is an error."""
    if raw is None or raw == "":
        return None
    text = str(raw).strip()
    if text not in ("1", "2", "3", "4", "5"):
        raise ValidationError(f"A rating is a whole number of stars from 1 to 5, not {str(raw)[:20]!r}.")
    return int(text)


@transaction.atomic
def rating_set(*, user: User, paper: Paper, stars: int | None) -> Interaction | None:
    """Rate a paper 1-5 stars, replacing an earlier rating; ``None`` removes the rating."""
    if stars is None:
        Interaction.objects.filter(user=user, paper=paper, kind=Kind.RATE).delete()
        return None
    if not isinstance(stars, int) or not 1 <= stars <= 5:
        raise ValidationError(f"A rating is a whole number of stars from 1 to 5, not {stars!r}.")
    interaction, _created = Interaction.objects.update_or_create(
        user=user, paper=paper, kind=Kind.RATE, defaults={"value": stars, "created": timezone.now()}
    )
    return interaction


def read_record(*, user: User, paper: Paper) -> Interaction | None:
    """Record that ``user`` opened ``paper``. A repeat within READ_DEDUP_MINUTES is the same read."""
    now = timezone.now()
    window = timedelta(minutes=settings.READ_DEDUP_MINUTES)
    if window and Interaction.objects.filter(user=user, paper=paper, kind=Kind.READ, created__gte=now - window).exists():
        return None
    return Interaction.objects.create(user=user, paper=paper, kind=Kind.READ, created=now)
