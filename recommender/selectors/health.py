"""The model's health over time, for staff: nightly quality and decisions, retrain time by stage, papers taken in,
weekly emails sent and acted on. Series of plain numbers, drawn as SVG by ``recommender.charts``."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Count, Sum
from django.db.models.functions import TruncDate, TruncWeek
from django.utils import timezone

from recommender.models import DigestLog, IntakeRun, Interaction, TrainingRun

Status = TrainingRun.Status


@dataclass(frozen=True)
class Night:
    """One finished retrain: when, how the new and the served model scored on the gate's hold-out, the outcome."""

    started: date
    version: str
    status: str
    new: float | None
    served: float | None
    stages: dict[str, float]
    reference: float | None = None  # the best recent kept model's recall@20, when the gate judged against one
    detectable: float | None = None  # the smallest relative drop the hold-out could see (95% confidence, 80% power)
    readers: int = 0  # hold-out readers the decision used
    readers_needed: int | None = None  # to see a drop of the tolerance


@dataclass(frozen=True)
class Health:
    nights: list[Night]
    papers_per_day: list[tuple[date, int]]
    emails_per_week: list[tuple[date, int]]
    email_actions_per_week: list[tuple[date, int]]


def model_health(*, days: int = 60) -> Health:
    since = timezone.now() - timedelta(days=days)
    runs = TrainingRun.objects.filter(started_at__gte=since, in_progress=False).order_by("started_at", "pk")
    nights = [
        Night(
            run.started_at.date(),
            run.version,
            run.status,
            run.metrics.get("recall@20"),
            run.metrics.get("active_model", {}).get("recall@20"),
            {stage: seconds for stage, seconds in run.timings.items() if isinstance(seconds, (int, float))},
            run.metrics.get("reference_model", {}).get("recall@20"),
            run.metrics.get("gate", {}).get("detectable"),
            run.metrics.get("holdout", {}).get("readers", 0),
            run.metrics.get("gate", {}).get("readers_needed"),
        )
        for run in runs.only("started_at", "version", "status", "metrics", "timings")
    ]
    papers = (
        IntakeRun.objects.filter(started_at__gte=since)
        .annotate(day=TruncDate("started_at"))
        .values("day")
        .annotate(n=Sum("created"))
        .order_by("day")
    )
    emails = (
        DigestLog.objects.filter(status=DigestLog.Status.SENT, week__gte=since.date())
        .values("week")
        .annotate(n=Count("id"))
        .order_by("week")
    )
    actions = (
        Interaction.objects.filter(via=Interaction.Via.EMAIL, created__gte=since)
        .annotate(week=TruncWeek("created"))
        .values("week")
        .annotate(n=Count("id"))
        .order_by("week")
    )
    return Health(
        nights=nights,
        papers_per_day=_filled([(row["day"], row["n"] or 0) for row in papers], since.date(), timezone.now().date(), step=1),
        emails_per_week=[(row["week"], row["n"]) for row in emails],
        email_actions_per_week=[(_day(row["week"]), row["n"]) for row in actions],
    )


def _day(value) -> date:
    return value.date() if hasattr(value, "date") else value


def _filled(points: list[tuple[date, int]], start: date, end: date, *, step: int) -> list[tuple[date, int]]:
    """Every day from ``start`` to ``end``, with 0 where nothing happened (a chart should show the quiet days)."""
    counts = Counter({_day(day): n for day, n in points})
    return [(start + timedelta(days=k), counts.get(start + timedelta(days=k), 0)) for k in range(0, (end - start).days + 1, step)]
