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

from recommender.engine.artifacts import Artifact, load_artifact
from recommender.engine.blend import BlendParams, HybridModel
from recommender.engine.collaborative import ALSParams
from recommender.engine.content import TfidfEncoder
from recommender.engine.matrix import FeedbackWeights
from recommender.models import Interaction, Paper, TrainingRun
from recommender.selectors.training import paper_text

log = logging.getLogger(__name__)
FALLBACK_SECONDS = 300


@dataclass
class ServedModel:
    """An artifact plus what serving needs from the database: the paper pk and "born" time of each column."""

    artifact: Artifact
    version: str  # "" for the content-and-popularity fallback
    paper_pks: np.ndarray
    born: np.ndarray  # (n_items,) seconds since the epoch: published date, else when added
    added: np.ndarray  # (n_items,) seconds since the epoch: when the paper joined the catalogue
    column_of: dict[int, int] = field(default_factory=dict)

    @property
    def model(self) -> HybridModel:
        return self.artifact.model

    @property
    def weights(self) -> FeedbackWeights:
        return self.artifact.weights

    def freshness(self, now: float) -> np.ndarray:
        """1.0 for a paper born now, halving every ``recency_half_life_days``."""
        age_days = np.maximum(now - self.born, 0) / 86400.0
        return np.power(0.5, age_days / self.model.blend.recency_half_life_days).astype(np.float32)


def _catalogue_columns(item_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Paper pks, born and added times for the artifact's columns (-1 / 0 for papers since deleted)."""
    rows = {ext: (pk, published, added) for pk, ext, published, added in Paper.objects.values_list("id", "external_id", "published", "added_at")}
    pks = np.full(len(item_ids), -1, dtype=np.int64)
    born = np.zeros(len(item_ids), dtype=np.float64)
    added_at = np.zeros(len(item_ids), dtype=np.float64)
    for j, ext in enumerate(item_ids):
        row = rows.get(str(ext))
        if row:
            pk, published, added = row
            pks[j] = pk
            added_at[j] = added.timestamp()
            born[j] = time.mktime(published.timetuple()) if published else added_at[j]
    return pks, born, added_at


def _served(artifact: Artifact, version: str) -> ServedModel:
    pks, born, added = _catalogue_columns(artifact.item_ids)
    return ServedModel(artifact, version, pks, born, added, {int(pk): j for j, pk in enumerate(pks) if pk >= 0})


def build_fallback() -> ServedModel:
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
        item_factors=np.zeros((n, 1), dtype=np.float32), content=content, popularity=popularity,
        known_items=np.zeros(n, dtype=bool),
        als=ALSParams(factors=1), blend=BlendParams(cf_weight=0.0, cold_cf_weight=0.0),
    )
    artifact = Artifact(model=model, item_ids=np.array([p[0] for p in papers], dtype=str), encoder=encoder, weights=FeedbackWeights(), meta={})
    return _served(artifact, "")


class ModelStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._served: ServedModel | None = None
        self._checked_at = float("-inf")
        self._fallback_key: tuple | None = None
        self._fallback_built_at = 0.0

    def current(self) -> ServedModel:
        """The active model, loading a newly activated one; the fallback when none is usable."""
        now = time.monotonic()
        if self._served is not None and now - self._checked_at < settings.MODEL_CHECK_SECONDS:
            return self._served
        with self._lock:
            self._checked_at = now
            active = TrainingRun.objects.filter(is_active=True).values_list("version", "artifact").first()
            if active and (self._served is None or self._served.version != active[0]):
                try:
                    self._served = _served(load_artifact(Path(settings.MODEL_DIR) / active[1]), active[0])
                    log.info("serving model %s", active[0])
                except ValueError:
                    log.exception("cannot load model %s; serving the previous one", active[0])
            stale_fallback = active is None and (self._served is None or self._served.version != "" or self._fallback_stale(now))
            if self._served is None or stale_fallback:
                self._fallback_stale(now)
                self._served = build_fallback()
                self._fallback_built_at = now
            return self._served

    def _fallback_stale(self, now: float) -> bool:
        key = Paper.objects.aggregate(n=Count("id"), last=Max("id"))
        stale = (key["n"], key["last"]) != self._fallback_key or now - self._fallback_built_at > FALLBACK_SECONDS
        self._fallback_key = (key["n"], key["last"])
        return stale

    def expire(self) -> None:
        """Look for a newly activated model at the next request, however recently we looked."""
        self._checked_at = float("-inf")

    def clear(self) -> None:
        """Forget what is loaded (tests, and after a database reset)."""
        with self._lock:
            self._served, self._checked_at, self._fallback_key = None, float("-inf"), None


store = ModelStore()
