"""The trending list, counted from recent feedback every few minutes (``TRENDING_REFRESH_SECONDS``) into
``TrendingPaper``, so that the page reads a few rows by index instead of counting every paper's feedback."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from recommender.models import Interaction, TrendingPaper

Kind = Interaction.Kind
STRONG = Q(kind__in=[Kind.LIKE, Kind.SAVE]) | Q(kind=Kind.RATE, value__gte=4)
TRENDING_KEPT = 1000  # papers kept on the list (the page shows the first FEED_PAGE_SIZE)


@transaction.atomic
def trending_refresh(*, days: int | None = None) -> int:
    """Count the last ``days`` (TRENDING_DAYS) of feedback per paper (a like, save or rating of 4-5 stars counts 3, a
    read 1; by the index on ``Interaction.created``, so the cost follows recent feedback, not the catalogue) and
    replace the list with the best TRENDING_KEPT. Returns how many papers are on it."""
    now = timezone.now()
    since = now - timedelta(days=days or settings.TRENDING_DAYS)
    counted = (
        Interaction.objects.filter(created__gte=since)
        .values("paper_id")
        .annotate(strong=Count("id", filter=STRONG), reads=Count("id", filter=Q(kind=Kind.READ)))
        .annotate(score=F("strong") * 3 + F("reads"))
        .filter(score__gt=0)
        .order_by("-score", "-paper_id")[:TRENDING_KEPT]
    )
    rows = [
        TrendingPaper(paper_id=row["paper_id"], strong=row["strong"], reads=row["reads"], score=row["score"], refreshed_at=now)
        for row in counted
    ]
    TrendingPaper.objects.all().delete()
    TrendingPaper.objects.bulk_create(rows, ignore_conflicts=True)  # a count running at the same time wrote the same rows
    return len(rows)
