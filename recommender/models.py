"""Papers and what readers told us about them."""

from datetime import date

from django.conf import settings
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from recommender.routes import paper_route
from recommender.sources.records import ARXIV_ID


class PaperSource(models.TextChoices):
    IMPORT = "import", "imported"
    ARXIV = "arxiv", "arXiv"
    TRENDING = "trending", "daily trending list"


UNDATED = date(1, 1, 1)  # the listing day of papers without a publication date: after every dated one


class Paper(models.Model):
    """A paper in the catalogue, known to the outside world by ``external_id`` (for arXiv papers the arXiv id
    without version, so a new version updates the same paper)."""

    Source = PaperSource

    external_id = models.CharField(max_length=128, unique=True, help_text="Stable id from the source (arXiv id, DOI, slug).")
    title = models.CharField(max_length=500)
    abstract = models.TextField(blank=True)
    authors = models.JSONField(default=list, blank=True, help_text="Author names, in order.")
    published = models.DateField(null=True, blank=True, help_text="First submitted.")
    updated = models.DateField(null=True, blank=True, help_text="Last updated (the latest version's day).")
    version = models.PositiveSmallIntegerField(null=True, blank=True, help_text="The latest version we know of (arXiv's v1, v2, ...).")
    categories = models.JSONField(default=list, blank=True, help_text="arXiv categories, the primary one first.")
    primary_category = models.CharField(max_length=40, blank=True, db_index=True)
    doi = models.CharField(max_length=200, blank=True)
    license = models.CharField(max_length=300, blank=True)
    comments = models.TextField(blank=True, help_text="The authors' comments (pages, venue, ...).")
    url = models.URLField(max_length=500, blank=True)
    source = models.CharField(max_length=10, choices=PaperSource.choices, default=PaperSource.IMPORT)
    upvotes = models.PositiveIntegerField(null=True, blank=True, help_text="Upvotes on the daily trending list, when it was there.")
    trending_on = models.DateField(null=True, blank=True, help_text="The day it was on the daily trending list.")
    withdrawn_at = models.DateTimeField(null=True, blank=True, help_text="When its source deleted it; it is no longer recommended.")
    added_at = models.DateTimeField(default=timezone.now, db_index=True)
    listed_on = models.GeneratedField(
        expression=Coalesce("published", Value(UNDATED)),
        output_field=models.DateField(),
        db_persist=True,
        help_text="The day the catalogue lists it under: its publication date (undated papers after all dated ones).",
    )

    class Meta:
        indexes = [
            # The catalogue's order (newest first), walked by keyset: lists never sort or count the table.
            models.Index(
                F("listed_on").desc(), F("added_at").desc(), F("id").desc(), name="paper_listed_newest", condition=Q(withdrawn_at=None)
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return paper_route("paper_detail", self.external_id)

    @property
    def feedback_url(self) -> str:
        return paper_route("paper_feedback", self.external_id)

    @property
    def arxiv_id(self) -> str:
        """The arXiv id, for papers that have one (else "")."""
        return self.external_id if ARXIV_ID.match(self.external_id) else ""

    @property
    def pdf_url(self) -> str:
        return f"https://arxiv.org/pdf/{self.arxiv_id}" if self.arxiv_id else ""

    @property
    def abstract_url(self) -> str:
        return self.url or (f"https://arxiv.org/abs/{self.arxiv_id}" if self.arxiv_id else "")


class InteractionKind(models.TextChoices):
    READ = "read", "read"
    LIKE = "like", "like"
    SAVE = "save", "save"
    DISMISS = "dismiss", "not interested"
    RATE = "rate", "rating"


class DismissReason(models.TextChoices):
    """Why a reader is not interested: just this paper, its topic, or one of its authors."""

    PAPER = "", "not this paper"
    TOPIC = "topic", "less on this topic"
    AUTHOR = "author", "less from this author"


class FeedbackVia(models.TextChoices):
    """Where the reader was when they gave the feedback: on their own, or acting on something we recommended.

    The nightly gate judges models only on feedback given on the reader's own (a recommendation's own hits
    would favour the model that made it)."""

    OWN = "", "on their own (search, catalogue, a link)"
    FEED = "feed", "their feed (page, API or Atom)"
    EMAIL = "email", "the weekly email"
    SIMILAR = "similar", "a paper page's similar papers"
    ROUND = "round", "the onboarding rating round"


class Interaction(models.Model):
    """One piece of feedback: a read (an event, may repeat) or a like/save/dismiss/rating (a state, one each)."""

    Kind = InteractionKind
    Reason = DismissReason
    Via = FeedbackVia

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="interactions")
    paper = models.ForeignKey(Paper, on_delete=models.CASCADE, related_name="interactions")
    kind = models.CharField(max_length=8, choices=InteractionKind.choices)
    value = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Stars (1-5) for a rating; empty otherwise.")
    reason = models.CharField(
        max_length=8, choices=DismissReason.choices, blank=True, default="", help_text="Why a paper was dismissed; empty otherwise."
    )
    author = models.CharField(max_length=200, blank=True, default="", help_text="The author to hear less from (reason 'author').")
    via = models.CharField(max_length=8, choices=FeedbackVia.choices, blank=True, default="", help_text="Where it was given.")
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=InteractionKind.values), name="interaction_kind_known"),
            models.CheckConstraint(
                condition=(Q(kind="rate") & Q(value__isnull=False) & Q(value__gte=1) & Q(value__lte=5))
                | (~Q(kind="rate") & Q(value__isnull=True)),
                name="interaction_stars_1_to_5",
                violation_error_message="A rating is 1 to 5 stars; other feedback has no value.",
            ),
            models.CheckConstraint(
                condition=(Q(reason="") | Q(kind="dismiss")) & (Q(reason="author") | Q(author="")) & (~Q(reason="author") | ~Q(author="")),
                name="interaction_reason_on_dismissals",
                violation_error_message="Only a dismissal has a reason, and an author is named exactly when the reason is 'author'.",
            ),
            models.UniqueConstraint(
                fields=["user", "paper", "kind"],
                condition=~Q(kind="read"),
                name="interaction_one_state_per_kind",
            ),
        ]
        indexes = [
            models.Index(fields=["user", "-created"], name="interaction_by_user"),
            models.Index(fields=["paper", "kind", "-created"], name="interaction_by_paper"),
            models.Index(fields=["-created"], name="interaction_newest"),  # the recent window trending is counted over
        ]

    def __str__(self) -> str:
        value = f" {self.value}" if self.value is not None else ""
        return f"{self.user} {self.kind}{value} {self.paper.external_id}"


class TrainingRun(models.Model):
    """One retrain: what it saw, how long each stage took, how well it did, and whether it went live.

    At most one run is in progress (queued or running) and at most one is active, both
    enforced by the database. A running run proves it is alive by its heartbeat.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "queued"
        RUNNING = "running", "running"
        ACTIVATED = "activated", "activated"
        REJECTED = "rejected", "kept the previous model"
        FAILED = "failed", "failed"

    version = models.CharField(max_length=40, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    is_active = models.BooleanField(default=False, help_text="The model the site serves now.")
    in_progress = models.BooleanField(default=False, help_text="Queued or running: holds the one-at-a-time claim.")
    claimed_by = models.CharField(max_length=200, blank=True, help_text="host:pid of the process running it.")
    attempts = models.PositiveSmallIntegerField(default=0)
    requested_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(default=timezone.now)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    timings = models.JSONField(default=dict, blank=True, help_text="Seconds per stage.")
    metrics = models.JSONField(
        default=dict,
        blank=True,
        help_text="Both models' figures on feedback neither was trained on, the hold-out, and the gate's decision.",
    )
    sizes = models.JSONField(default=dict, blank=True)
    artifact = models.CharField(max_length=300, blank=True, help_text="Model file, relative to MODEL_DIR.")
    artifact_deleted_at = models.DateTimeField(
        null=True, blank=True, help_text="When its model file was deleted (files of rejected and failed runs, and of old models)."
    )
    data_until = models.DateTimeField(
        null=True, blank=True, help_text="The newest feedback it saw: feedback after this is unseen by this model (the gate's hold-out)."
    )
    message = models.TextField(blank=True, help_text="Why the run failed, or why it was or was not activated.")
    tuning = models.JSONField(
        default=dict,
        blank=True,
        help_text="How its parameters were chosen: searched on a validation split of its training data (the values chosen, the "
        "validation figures, every trial) or reused from an earlier search; values pinned in the environment are not searched.",
    )

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["is_active"], condition=Q(is_active=True), name="training_one_active_model"),
            models.UniqueConstraint(fields=["in_progress"], condition=Q(in_progress=True), name="training_one_in_progress"),
        ]

    def __str__(self) -> str:
        return f"{self.version} ({self.status}{', active' if self.is_active else ''})"


class DigestLog(models.Model):
    """One reader's weekly email: claimed, being sent, sent, skipped or failed. One row per reader and week."""

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        SENDING = "sending", "sending (outcome unknown if it stays so)"
        SENT = "sent", "sent"
        SKIPPED = "skipped", "skipped"
        FAILED = "failed", "failed"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="digests")
    week = models.DateField(help_text="Monday of the ISO week the digest belongs to.")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    papers = models.JSONField(default=list, blank=True, help_text="Ids (pk) of the papers in the email, in order.")
    subject = models.CharField(max_length=200, blank=True)
    message_id = models.CharField(max_length=200, blank=True)
    note = models.CharField(max_length=300, blank=True, help_text="Why it was skipped or failed.")
    created = models.DateTimeField(default=timezone.now)
    queued_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When a batch task for it was last queued (the sweep queues a pending row again after DIGEST_STALE_MINUTES).",
    )
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-week", "user_id"]
        constraints = [models.UniqueConstraint(fields=["user", "week"], name="digest_one_per_user_and_week")]
        indexes = [models.Index(fields=["week", "status"], name="digest_by_week")]

    def __str__(self) -> str:
        return f"{self.user} {self.week} {self.status}"


class IntakeRun(models.Model):
    """One harvest of new papers from a source: its window, how far it got, and what it changed.

    At most one run per source is in progress (a database rule). The cursor is the resumption token of
    the next page, saved with each page's papers, so a run stopped by a crash or an error is taken up by
    the next run of its source from the page after the last one stored.
    """

    class Source(models.TextChoices):
        ARXIV = "arxiv", "arXiv OAI-PMH"
        TRENDING = "trending", "daily trending list"
        IDS = "ids", "arXiv API, by id"

    class Status(models.TextChoices):
        RUNNING = "running", "running"
        SUCCEEDED = "succeeded", "succeeded"
        FAILED = "failed", "failed"

    source = models.CharField(max_length=10, choices=Source.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    in_progress = models.BooleanField(default=False, help_text="Holds its source's one-at-a-time claim.")
    claimed_by = models.CharField(max_length=200, blank=True, help_text="host:pid of the process running it.")
    set_spec = models.CharField(max_length=100, blank=True, help_text="The OAI-PMH set (arXiv).")
    window_from = models.DateField(null=True, blank=True)
    window_until = models.DateField(null=True, blank=True)
    requested = models.JSONField(default=list, blank=True, help_text="Ids asked for (source 'ids').")
    cursor = models.TextField(blank=True, help_text="Resumption token of the next page; empty once the last page is stored.")
    pages = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    deleted = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0, help_text="Records left out: outside the chosen categories, or unchanged.")
    rejected = models.PositiveIntegerField(default=0, help_text="Records refused by the checks (a bad id, text or date): see errors.")
    page_failures = models.PositiveSmallIntegerField(
        default=0, help_text="How many runs in a row failed at the page of ``cursor``; at three the page is stepped over."
    )
    errors = models.TextField(blank=True, help_text="What went wrong, page by page, and what was refused or cut.")
    resumed_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    started_at = models.DateTimeField(default=timezone.now)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["source"], condition=Q(in_progress=True), name="intake_one_per_source"),
        ]

    def __str__(self) -> str:
        return f"{self.get_source_display()} {self.started_at:%Y-%m-%d %H:%M} ({self.status})"


class TrendingPaper(models.Model):
    """A paper on the trending list: its recent feedback counted over the last TRENDING_DAYS, kept by
    ``trending_refresh`` (every few minutes) so that the page reads a few rows by index instead of counting feedback."""

    paper = models.OneToOneField(Paper, on_delete=models.CASCADE, primary_key=True, related_name="trend")
    strong = models.PositiveIntegerField(help_text="Likes, saves and ratings of 4-5 stars in the window.")
    reads = models.PositiveIntegerField(help_text="Reads in the window.")
    score = models.PositiveIntegerField(help_text="3 per strong signal, 1 per read.")
    refreshed_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["-score", "-paper"], name="trending_by_score")]

    def __str__(self) -> str:
        return f"{self.paper_id}: {self.score}"


class Collection(models.Model):
    """A reader's named set of papers (a thesis topic, a reading group), with its own feed; "saved" stays the default
    set (save feedback). Shared read-only by a link while ``share_token`` is set; clearing it revokes the link."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="collections")
    name = models.CharField(max_length=100)
    papers = models.ManyToManyField(Paper, through="CollectionPaper", related_name="collections")
    share_token = models.CharField(max_length=64, null=True, blank=True, unique=True, help_text="The read-only link's secret.")
    in_digest = models.BooleanField(default=False, help_text="Give it a section of picks in the owner's weekly email.")
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="collection_name_unique_per_owner")]

    def __str__(self) -> str:
        return self.name


class CollectionPaper(models.Model):
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="entries")
    paper = models.ForeignKey(Paper, on_delete=models.CASCADE, related_name="collection_entries")
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["collection", "paper"], name="collection_paper_once")]
        indexes = [models.Index(F("collection"), F("added_at").desc(), F("id").desc(), name="collection_newest_first")]


class Facet(models.Model):
    """One of a reader's interests, found by splitting the papers they want (``services.facets``): the feed gives
    each a share of the page. A new like joins the nearest facet; the split is made again only when the model or
    the reader's papers have changed much, and then keeps each facet's rename and hidden flag."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="facets")
    position = models.PositiveSmallIntegerField(default=0, help_text="Largest first when found.")
    name = models.CharField(max_length=200, help_text="Found: its papers' strongest terms.")
    custom_name = models.CharField(max_length=100, blank=True, help_text="The reader's own name for it.")
    hidden = models.BooleanField(default=False, help_text="Hidden interests do not steer the feed or the email.")
    kept_whole = models.BooleanField(default=False, help_text="The reader merged into it: a new split keeps its papers together.")
    papers = models.JSONField(default=list, help_text="Pks of its papers when it was last found or changed.")
    model_version = models.CharField(max_length=64, blank=True, help_text="The model it was found with.")
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]
        indexes = [models.Index(fields=["owner", "position"], name="facet_owner_position")]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        return self.custom_name or self.name or f"interest {self.position + 1}"


class PaperEmbedding(models.Model):
    """A paper's meaning vector (``engine.meaning``): float16 bytes, kept between retrains and made again when the
    paper's text or the encoder changes (``text_key``, ``encoder``)."""

    paper = models.OneToOneField(Paper, on_delete=models.CASCADE, primary_key=True, related_name="embedding")
    encoder = models.CharField(max_length=64, help_text="The encoder that made the vector (EMBEDDING_MODEL).")
    text_key = models.CharField(max_length=40, help_text="SHA-1 of the text it was made from.")
    vector = models.BinaryField(help_text="float16, little-endian")
    embedded_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.paper_id} ({self.encoder})"
