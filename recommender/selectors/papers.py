"""Reading the catalogue: newest, trending, search, a reader's library and feedback state."""

from dataclasses import dataclass
from datetime import timedelta

from django.db import connection
from django.db.models import Case, Count, F, IntegerField, Q, QuerySet, Value, When
from django.utils import timezone

from accounts.models import User
from recommender.models import Interaction, Paper

Kind = Interaction.Kind
MAX_QUERY_LENGTH = 200


def papers_listed() -> QuerySet[Paper]:
    """The papers the catalogue shows: every one but those withdrawn by their source."""
    return Paper.objects.filter(withdrawn_at__isnull=True)


def papers_newest() -> QuerySet[Paper]:
    """The catalogue, newest first: by publication date where known, then by when we added it."""
    return papers_listed().order_by(F("published").desc(nulls_last=True), "-added_at", "-id")


def papers_by_any_author(*, names: set[str]) -> QuerySet[Paper]:
    """Papers with any of ``names`` among their authors: exactly on PostgreSQL (JSON containment, by the GIN index on
    authors), a superset elsewhere (a text search; callers check ``authors``)."""
    lookup = "authors__contains" if connection.vendor == "postgresql" else "authors__icontains"
    found = Q()
    for name in names:
        found |= Q(**{lookup: [name] if connection.vendor == "postgresql" else name})
    return Paper.objects.filter(found) if names else Paper.objects.none()


def papers_by_author(*, name: str) -> list[Paper]:
    """The catalogue's papers with ``name`` among their authors (exactly), newest first."""
    papers = (
        papers_by_any_author(names={name})
        .filter(withdrawn_at__isnull=True)
        .order_by(F("published").desc(nulls_last=True), "-added_at", "-id")
    )
    return [paper for paper in papers if name in paper.authors]


def papers_trending(*, days: int, limit: int = 20) -> list[Paper]:
    """Papers most liked, saved, well rated and read in the last ``days``; each carries ``.trend_score``.

    A like, save or rating of 4-5 stars counts 3, a read counts 1.
    """
    since = timezone.now() - timedelta(days=days)
    recent = Q(interactions__created__gte=since)
    strong = Q(interactions__kind__in=[Kind.LIKE, Kind.SAVE]) | Q(interactions__kind=Kind.RATE, interactions__value__gte=4)
    return list(
        Paper.objects.annotate(
            strong=Count("interactions", filter=recent & strong),
            reads=Count("interactions", filter=recent & Q(interactions__kind=Kind.READ)),
        )
        .annotate(trend_score=F("strong") * 3 + F("reads"))
        .filter(trend_score__gt=0)
        .order_by("-trend_score", "-added_at", "-id")[:limit]
    )


def papers_search(*, query: str) -> QuerySet[Paper]:
    """Papers whose title or abstract contains every word of ``query``; title matches first."""
    words = query.split()[:20]
    papers = papers_listed()
    for word in words:
        papers = papers.filter(Q(title__icontains=word) | Q(abstract__icontains=word))
    in_title = Q()
    for word in words:
        in_title &= Q(title__icontains=word)
    return papers.annotate(title_match=Case(When(in_title, then=Value(1)), default=Value(0), output_field=IntegerField())).order_by(
        "-title_match", F("published").desc(nulls_last=True), "-added_at", "-id"
    )


@dataclass(frozen=True)
class FeedbackState:
    """What one reader has told us about one paper."""

    like: bool = False
    save: bool = False
    dismiss: bool = False
    stars: int | None = None
    reads: int = 0
    dismiss_reason: str = ""  # "less on this topic", "less from <author>", or "" (just this paper)

    @property
    def star_choices(self) -> list[tuple[int, bool]]:
        """(stars, lit) for the five star buttons."""
        return [(n, self.stars is not None and n <= self.stars) for n in range(1, 6)]


def feedback_state(*, user: User, paper: Paper) -> FeedbackState:
    if not user.is_authenticated:
        return FeedbackState()
    rows = list(Interaction.objects.filter(user=user, paper=paper).values_list("kind", "value", "reason", "author"))
    kinds = {kind for kind, *_ in rows}
    stars = next((value for kind, value, *_ in rows if kind == Kind.RATE), None)
    reads = sum(1 for kind, *_ in rows if kind == Kind.READ)
    why = next((_dismiss_reason_text(reason, author) for kind, _, reason, author in rows if kind == Kind.DISMISS), "")
    return FeedbackState(
        like=Kind.LIKE in kinds, save=Kind.SAVE in kinds, dismiss=Kind.DISMISS in kinds, stars=stars, reads=reads, dismiss_reason=why
    )


def _dismiss_reason_text(reason: str, author: str) -> str:
    if reason == Interaction.Reason.AUTHOR:
        return f"less from {author}"
    return Interaction.Reason(reason).label if reason else ""


def library_for_user(*, user: User) -> dict[str, list[Interaction]]:
    """The reader's liked, saved and rated papers, most recent first, as interactions with their paper."""
    rows = (
        Interaction.objects.filter(user=user, kind__in=[Kind.LIKE, Kind.SAVE, Kind.RATE])
        .select_related("paper")
        .order_by("-created", "-id")
    )
    library: dict[str, list[Interaction]] = {Kind.LIKE: [], Kind.SAVE: [], Kind.RATE: []}
    for interaction in rows:
        library[interaction.kind].append(interaction)
    return {"liked": library[Kind.LIKE], "saved": library[Kind.SAVE], "rated": library[Kind.RATE]}
