from django.conf import settings
from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db.models import Q
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.functional import cached_property
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from accounts.models import User
from recommender.charts import Chart, bar_chart, line_chart
from recommender.models import DigestLog, IntakeRun, Interaction, Paper, TrainingRun
from recommender.selectors.health import Health, model_health
from recommender.selectors.search import SearchTooBroad, paper_ids_matching
from recommender.selectors.status import system_status
from recommender.services.training import RetrainAlreadyRunning, retrain_request

DECISION_COLOURS = {"activated": "#1e7b34", "rejected": "#b3261e", "failed": "#5d6b7a"}


def model_health_charts(health: Health) -> list[Chart]:
    """The staff's charts, from ``model_health``."""
    nights = health.nights
    labels = [f"{night.started:%d %b}" for night in nights]
    quality = line_chart(
        "Nightly hold-out recall@20: the new model and the one served, on the same unseen feedback (dots: the decision)",
        labels,
        {"new model": [n.new for n in nights], "model served": [n.served for n in nights], "reference": [n.reference for n in nights]},
        fmt=".2f",
        marks=[(i, DECISION_COLOURS.get(n.status, "#5d6b7a"), f"{n.version}: {n.status}") for i, n in enumerate(nights)],
    )
    power = line_chart(
        "Power of the gate: the smallest drop (%) its hold-out could see, beside the tolerance that refuses",
        labels,
        {
            "smallest drop seen": [None if n.detectable is None else 100 * n.detectable for n in nights],
            "tolerance": [100 * settings.ACTIVATION_TOLERANCE for _ in nights],
        },
        fmt=".0f",
    )
    readers = bar_chart(
        "Hold-out readers used, and the readers needed to see a drop of the tolerance",
        labels,
        {"used": [n.readers for n in nights], "still needed": [max((n.readers_needed or 0) - n.readers, 0) for n in nights]},
    )
    stages = sorted({stage for night in nights for stage in night.stages})
    timing = bar_chart(
        "Retrain time by stage (seconds)", labels, {stage: [n.stages.get(stage, 0.0) for n in nights] for stage in stages}, fmt=".1f"
    )
    papers = bar_chart(
        "Papers taken in per day", [f"{day:%d %b}" for day, _ in health.papers_per_day], {"papers": [n for _, n in health.papers_per_day]}
    )
    emails = bar_chart(
        "Weekly emails sent", [f"{week:%d %b}" for week, _ in health.emails_per_week], {"emails": [n for _, n in health.emails_per_week]}
    )
    actions = bar_chart(
        "Actions taken from the weekly email (opens, likes, not interested)",
        [f"{week:%d %b}" for week, _ in health.email_actions_per_week],
        {"actions": [n for _, n in health.email_actions_per_week]},
    )
    return [quality, power, readers, timing, papers, emails, actions]


class CappedCountPaginator(Paginator):
    """An admin list of a large table counts at most COUNT_CAP rows (a million-row COUNT(*) per page view is seconds);
    the pages past it are reached by search and filters."""

    COUNT_CAP = 10_000

    @cached_property
    def count(self) -> int:
        return self.object_list.order_by()[: self.COUNT_CAP].count()


SEARCH_MATCHES = 1000  # papers an admin search lists at most (the newest matches)


def _papers_found(term: str) -> list[int]:
    """Ids of the papers an admin search finds: the paper of that exact id, and the newest SEARCH_MATCHES whose words
    match (by the full-text index). Resolved first, so that the list's query reads indexes only."""
    exact = list(Paper.objects.filter(external_id=term).values_list("pk", flat=True))
    try:
        return exact + paper_ids_matching(term, limit=SEARCH_MATCHES)
    except SearchTooBroad:
        return exact


class StarsFilter(admin.SimpleListFilter):
    """Ratings by stars, from a fixed list (the default filter would read every distinct value of the table)."""

    title = "stars"
    parameter_name = "stars"

    def lookups(self, request, model_admin):
        return [(str(n), "★" * n) for n in range(1, 6)]

    def queryset(self, request, queryset):
        return queryset.filter(value=int(self.value())) if self.value() in {"1", "2", "3", "4", "5"} else queryset


class LargeTableAdmin(admin.ModelAdmin):
    """What a list of a million rows needs: no full count, no date hierarchy or filter that reads distinct values."""

    paginator = CappedCountPaginator
    show_full_result_count = False


@admin.register(Paper)
class PaperAdmin(LargeTableAdmin):
    """Papers, searched by the full-text index (title, authors, abstract) or by exact id."""

    list_display = ("title", "external_id", "primary_category", "published", "source", "upvotes", "added_at", "withdrawn_at")
    search_fields = ("external_id",)  # shows the search box; the search itself is get_search_results
    search_help_text = "Words of the title, authors or abstract (as the site's search reads them), or an exact id."
    list_filter = ("source", "published", "added_at", ("withdrawn_at", admin.EmptyFieldListFilter))
    readonly_fields = ("added_at",)

    def get_search_results(self, request, queryset, search_term: str):
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(pk__in=_papers_found(term)), False


@admin.register(Interaction)
class InteractionAdmin(LargeTableAdmin):
    """Feedback, searched by a reader's exact username or email, or a paper's exact id or the words of its text."""

    list_display = ("created", "user", "kind", "value", "paper")
    list_filter = ("kind", StarsFilter, "via", "created")
    search_fields = ("=user__username",)
    search_help_text = "A reader's username or email, a paper's id, or words of a paper's title, authors or abstract."
    list_select_related = ("user", "paper")
    raw_id_fields = ("user", "paper")

    def get_search_results(self, request, queryset, search_term: str):
        term = search_term.strip()
        if not term:
            return queryset, False
        readers = list(User.objects.filter(Q(username__iexact=term) | Q(email__iexact=term)).values_list("pk", flat=True)[:10])
        return queryset.filter(Q(user_id__in=readers) | Q(paper_id__in=_papers_found(term))), False


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    """History of retrains (nightly, `manage.py retrain` or *Retrain now*): read-only.

    Each run shows both models' recall@20 on feedback neither was trained on (the gate, docs/nightly.md "How a new
    model earns its place"), how its parameters were chosen (searched on a validation split, or reused;
    docs/nightly.md "Parameters chosen by the data") and whether its model file is kept: the active model's and the
    newest few are, files of rejected and failed runs are deleted.
    """

    list_display = (
        "version",
        "status",
        "is_active",
        "started_at",
        "recall_at_20",
        "active_recall_at_20",
        "holdout",
        "gate",
        "parameters_chosen",
        "file",
        "interactions",
    )
    list_filter = ("status", "is_active")
    search_fields = ("version", "message")
    readonly_fields = ["tuning_summary", "chosen_values", *[f.name for f in TrainingRun._meta.fields]]

    @admin.display(description="parameters")
    def parameters_chosen(self, run: TrainingRun) -> str:
        if not run.tuning:
            return ""
        if not run.tuning.get("searched"):
            return "reused"
        validation = run.tuning.get("validation", {})
        figures = f": validation recall@20 {validation['start']} -> {validation['chosen']}" if "start" in validation else ""
        return f"searched{figures}"

    @admin.display(description="how the parameters were chosen")
    def tuning_summary(self, run: TrainingRun) -> str:
        tuning = run.tuning or {}
        if not tuning:
            return "-"
        lines = [tuning.get("reason", "")]
        if tuning.get("searched"):
            lines.insert(
                0,
                f"Searched because {tuning.get('why', '')}, from the choice of {tuning.get('started_from', 'settings')}, "
                f"in {tuning.get('seconds')} s of a {tuning.get('budget_seconds')} s budget.",
            )
            lines.append("Validation: " + ", ".join(f"{key} {value}" for key, value in tuning.get("validation", {}).items()))
            lines += [f"{t['stage']}: {t['trial']} -> recall@20 {t['recall@20']} ({t['seconds']} s)" for t in tuning.get("trials", [])]
        if tuning.get("pinned"):
            lines.append("Pinned in the environment (not searched): " + ", ".join(tuning["pinned"]))
        return format_html_join(mark_safe("<br>"), "{}", ((line,) for line in lines if line))

    @admin.display(description="values used")
    def chosen_values(self, run: TrainingRun) -> str:
        chosen = (run.tuning or {}).get("chosen") or {}
        return ", ".join(f"{name} = {value:g}" for name, value in chosen.items()) or "-"

    @admin.display(description="recall@20")
    def recall_at_20(self, run: TrainingRun):
        return run.metrics.get("recall@20")

    @admin.display(description="active model's recall@20")
    def active_recall_at_20(self, run: TrainingRun):
        return run.metrics.get("active_model", {}).get("recall@20")

    @admin.display(description="hold-out (unseen feedback)")
    def holdout(self, run: TrainingRun) -> str:
        holdout = run.metrics.get("holdout")
        if not holdout:
            return ""
        return f"{holdout['kind']}: {holdout['readers']} readers, {holdout['papers']} papers" if holdout["readers"] else "none"

    @admin.display(description="gate")
    def gate(self, run: TrainingRun) -> str:
        gate = run.metrics.get("gate") or {}
        parts = [f"sees a drop of {gate['detectable']:.0%}"] if gate.get("detectable") is not None else []
        if gate.get("reference"):
            parts.append(f"reference {gate['reference']}")
        if run.metrics.get("sanity", {}).get("problems"):
            parts.append("failed the sanity checks")
        return "; ".join(parts)

    @admin.display(description="model file")
    def file(self, run: TrainingRun) -> str:
        if run.artifact_deleted_at:
            return f"deleted {run.artifact_deleted_at:%Y-%m-%d %H:%M}"
        return "kept" if run.artifact else ""

    @admin.display(description="interactions")
    def interactions(self, run: TrainingRun):
        return run.sizes.get("interactions")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {**(extra_context or {}), "status": system_status()})

    def get_urls(self):
        request_view = self.admin_site.admin_view(require_POST(self.request_retrain))
        health_view = self.admin_site.admin_view(self.model_health)
        return [
            path("request/", request_view, name="recommender_trainingrun_request"),
            path("health/", health_view, name="recommender_trainingrun_health"),
            *super().get_urls(),
        ]

    def model_health(self, request):
        """Charts over time: nightly quality and decisions, retrain time by stage, papers taken in, weekly emails."""
        context = {**self.admin_site.each_context(request), "title": "Model health", "charts": model_health_charts(model_health(days=60))}
        return TemplateResponse(request, "admin/recommender/model_health.html", context)

    def request_retrain(self, request):
        """Queue a retrain for the training worker (after this request's transaction commits)."""
        try:
            run = retrain_request()
        except RetrainAlreadyRunning as exc:
            messages.warning(request, str(exc))
        else:
            messages.success(request, f"Retrain {run.version} queued; the training worker will pick it up.")
        return redirect("admin:recommender_trainingrun_changelist")


@admin.register(IntakeRun)
class IntakeRunAdmin(admin.ModelAdmin):
    """Harvests of new papers (nightly, or `manage.py fetch_papers`): read-only. A failed run keeps the cursor of the
    page it stopped at; the next run of its source takes up from there."""

    list_display = (
        "started_at",
        "source",
        "set_spec",
        "window_from",
        "window_until",
        "status",
        "pages",
        "created",
        "updated",
        "deleted",
        "skipped",
    )
    list_filter = ("source", "status")
    search_fields = ("set_spec", "errors")
    readonly_fields = [f.name for f in IntakeRun._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(DigestLog)
class DigestLogAdmin(admin.ModelAdmin):
    """Who got which weekly email; rows left "sending" by a crash are the ones to look at."""

    list_display = ("week", "user", "status", "sent_at", "subject", "note")
    list_filter = ("status", "week")
    search_fields = ("user__username", "user__email", "subject", "message_id")
    list_select_related = ("user",)
    readonly_fields = [f.name for f in DigestLog._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
