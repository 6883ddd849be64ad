"""The model a web process serves from: loaded once, swapped when another version is activated.

Each process keeps the active artifact in memory and asks the database (at most every
MODEL_CHECK_SECONDS) which version is active; a new one is loaded without a restart.
With no trained model yet, a content-and-popularity model is built from the catalogue.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db.models import Count, Max, Q

from recommender.engine.artifacts import Artifact, load_artifact, with_new_papers
from recommender.engine.blend import BlendParams, HybridModel
from recommender.engine.collaborative import ALSParams
from recommender.engine.content import TfidfEncoder
from recommender.engine.matrix import FeedbackWeights
from recommender.models import Interaction, Paper, TrainingRun
from recommender.selectors.training import paper_text

log = logging.getLogger(__name__)


@dataclass
class ServedModel:
    """An artifact plus what serving needs from the database: the paper pk and "born" time of each column.

    Papers added to the catalogue after training are appended as content-only columns.
    """

    artifact: Artifact
    version: str  # "" for the content-and-popularity fallback
    paper_pks: np.ndarray
    born: np.ndarray  # (n_items,) seconds since the epoch: published date, else when added
    added: np.ndarray  # (n_items,) seconds since the epoch: when the paper joined the catalogue
    column_of: dict[int, int] = field(default_factory=dict)
    base: Artifact | None = None  # the artifact as loaded, before new papers were appended
    catalogue_key: tuple = ()
    recommendable: np.ndarray | None = None  # (n_items,) bool: in the catalogue and not withdrawn (all, when None)
    category_columns: dict[str, np.ndarray] = field(default_factory=dict)  # arXiv category -> columns of its papers
    uncategorised: np.ndarray | None = None  # columns of papers without categories
    popularity: np.ndarray | None = None  # (n_items,) log(1 + readers who wanted it + upvotes on the daily trending list)
    _freshness: tuple[int, np.ndarray] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.recommendable is None:
            self.recommendable = self.paper_pks >= 0

    def columns_in(self, categories: list[str]) -> np.ndarray:
        """Sorted columns of papers in any of ``categories``, and of papers that have no categories at all."""
        parts = [self.category_columns.get(name, np.zeros(0, dtype=np.int64)) for name in categories]
        parts.append(self.uncategorised if self.uncategorised is not None else np.zeros(0, dtype=np.int64))
        return np.unique(np.concatenate(parts))

    @property
    def model(self) -> HybridModel:
        return self.artifact.model

    @property
    def weights(self) -> FeedbackWeights:
        return self.artifact.weights

    def freshness(self, now: float) -> np.ndarray:
        """1.0 for a paper born now, halving every ``recency_half_life_days`` (recomputed once a minute)."""
        minute = int(now // 60)
        if self._freshness is None or self._freshness[0] != minute:
            age_days = np.maximum(minute * 60 - self.born, 0) / 86400.0
            self._freshness = (minute, np.power(0.5, age_days / self.model.blend.recency_half_life_days).astype(np.float32))
        return self._freshness[1]


def catalogue_key() -> tuple:
    """Changes whenever papers are added, deleted or withdrawn."""
    key = Paper.objects.aggregate(n=Count("id"), last=Max("id"), withdrawn=Count("id", filter=Q(withdrawn_at__isnull=False)))
    return (key["n"], key["last"], key["withdrawn"])


def _with_new_papers(artifact: Artifact, catalogue: dict) -> Artifact:
    """``artifact`` with the catalogue's papers it has never seen appended (see ``with_new_papers``)."""
    seen = set(map(str, artifact.item_ids))
    new_ids = [ext for ext in catalogue if ext not in seen]
    if not new_ids:
        return artifact
    rows = {
        ext: (title, abstract)
        for ext, title, abstract in Paper.objects.filter(external_id__in=new_ids).values_list("external_id", "title", "abstract")
    }
    new_ids = [ext for ext in new_ids if ext in rows]
    return with_new_papers(artifact, new_ids, [paper_text(*rows[ext]) for ext in new_ids])


def served_model(artifact: Artifact, version: str, key: tuple) -> ServedModel:
    """``artifact`` ready to serve the catalogue as it is now (``key``, see ``catalogue_key``): papers added since
    training appended, each column mapped to its paper; withdrawn papers are kept (readers' feedback on them still
    counts) but never recommended."""
    rows = Paper.objects.values_list("id", "external_id", "published", "added_at", "categories", "withdrawn_at", "upvotes")
    catalogue = {row[1]: row for row in rows.iterator(chunk_size=20_000)}
    extended = _with_new_papers(artifact, catalogue) if version else artifact
    n = len(extended.item_ids)
    pks = np.full(n, -1, dtype=np.int64)
    born = np.zeros(n, dtype=np.float64)
    added_at = np.zeros(n, dtype=np.float64)
    withdrawn = np.zeros(n, dtype=bool)
    upvotes = np.zeros(n, dtype=np.float32)
    by_category: dict[str, list[int]] = {}
    for j, ext in enumerate(extended.item_ids):
        row = catalogue.get(str(ext))
        if row:  # papers deleted since training keep pk -1 and are never shown
            pk, _, published, added, categories, withdrawn_at, votes = row
            pks[j] = pk
            upvotes[j] = votes or 0
            added_at[j] = added.timestamp()
            born[j] = time.mktime(published.timetuple()) if published else added_at[j]
            withdrawn[j] = withdrawn_at is not None
            for name in categories or ("",):
                by_category.setdefault(name, []).append(j)
    column_of = {int(pk): j for j, pk in enumerate(pks) if pk >= 0}
    categories = {name: np.array(columns, dtype=np.int64) for name, columns in by_category.items()}
    readers = np.expm1(extended.model.popularity)  # the model's popularity is log(1 + readers)
    return ServedModel(
        extended,
        version,
        pks,
        born,
        added_at,
        column_of,
        base=artifact,
        catalogue_key=key,
        recommendable=(pks >= 0) & ~withdrawn,
        category_columns=categories,
        uncategorised=categories.pop("", np.zeros(0, dtype=np.int64)),
        popularity=np.log1p(readers + upvotes).astype(np.float32) if upvotes.any() else None,
    )


def build_fallback(key: tuple) -> ServedModel:
    """Content similarity and popularity only, from the current catalogue (used until a model is trained)."""
    papers = list(Paper.objects.order_by("id").values_list("external_id", "title", "abstract", "id"))
    encoder = TfidfEncoder()
    content = encoder.fit_transform([paper_text(title, abstract) for _, title, abstract, _ in papers])
    likes = dict(
        Interaction.objects.filter(Q(kind__in=["like", "save", "read"]) | Q(kind="rate", value__gte=4))
        .values_list("paper_id")
        .annotate(n=Count("id"))
    )
    popularity = np.log1p(np.array([likes.get(pk, 0) for *_, pk in papers], dtype=np.float32))
    n = len(papers)
    model = HybridModel(
        item_factors=np.zeros((n, 1), dtype=np.float32),
        content=content,
        popularity=popularity,
        known_items=np.zeros(n, dtype=bool),
        als=ALSParams(factors=1),
        blend=BlendParams(cf_weight=0.0, cold_cf_weight=0.0),
    )
    artifact = Artifact(
        model=model, item_ids=np.array([p[0] for p in papers], dtype=str), encoder=encoder, weights=FeedbackWeights(), meta={}
    )
    return served_model(artifact, "", key)


class ModelStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._served: ServedModel | None = None
        self._checked_at = float("-inf")

    def current(self) -> ServedModel:
        """The active model (a newly activated one is loaded; new papers are appended); the fallback when none is usable."""
        now = time.monotonic()
        if self._served is not None and now - self._checked_at < settings.MODEL_CHECK_SECONDS:
            return self._served
        with self._lock:
            self._checked_at = now
            active = TrainingRun.objects.filter(is_active=True).values_list("version", "artifact").first()
            key = catalogue_key()
            served = self._served
            if active and (served is None or served.version != active[0]):
                try:
                    served = served_model(load_artifact(Path(settings.MODEL_DIR) / active[1]), active[0], key)
                    log.info("serving model %s", active[0])
                except ValueError:
                    log.exception("cannot load model %s; serving the previous one", active[0])
            elif served is not None and served.version and served.catalogue_key != key:
                served = served_model(served.base, served.version, key)  # papers added or deleted
            if served is None or (active is None and (served.version != "" or served.catalogue_key != key)):
                served = build_fallback(key)
            self._served = served
            return served

    def expire(self) -> None:
        """Look for a newly activated model at the next request, however recently we looked."""
        self._checked_at = float("-inf")

    def clear(self) -> None:
        """Forget what is loaded (tests, and after a database reset)."""
        with self._lock:
            self._served, self._checked_at = None, float("-inf")


store = ModelStore()
