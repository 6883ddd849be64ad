"""The model a process serves from: loaded once, swapped when another version is activated.

Each process keeps the active artifact in memory and asks the database (at most every
MODEL_CHECK_SECONDS) which version is active; a new one is loaded without a restart.
With no trained model yet, a content-and-popularity model is built from the catalogue.

A web process (``load_in_background``, called by ``config.wsgi``) never checks, loads or builds in a request:
a background thread does it and swaps the new model in when it is whole, the previous one serving meanwhile, and until
a first model is there pages serve the newest and trending papers (``current`` returns None). Workers and commands
(the default) load in the calling thread, as a batch job should.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.db import connections
from django.db.models import Count, Max, Q
from scipy import sparse

from recommender.engine.artifacts import Artifact, fitting_meaning, load_artifact
from recommender.engine.blend import BlendParams, HybridModel, mapped_factors
from recommender.engine.collaborative import ALSParams
from recommender.engine.content import TfidfEncoder
from recommender.engine.matrix import FeedbackWeights
from recommender.engine.serving import RECENT, Catalogue, Spread, popularity_stats, serving_index
from recommender.model_files import ModelUnavailable, cache_prune, model_folder
from recommender.models import Interaction, Paper, TrainingRun
from recommender.selectors.training import paper_text
from recommender.services.meaning import stored_vectors

log = logging.getLogger(__name__)


class ColumnOf:
    """Paper pk -> the served model's column, through a dense array (a dict of a million papers costs ~100 MB)."""

    def __init__(self, paper_pks: np.ndarray) -> None:
        known = paper_pks >= 0
        self._column = np.full(int(paper_pks.max(initial=-1)) + 1, -1, dtype=np.int64)
        self._column[paper_pks[known]] = np.flatnonzero(known)

    def get(self, pk: int, default=None):
        pk = int(pk)
        if 0 <= pk < len(self._column) and self._column[pk] >= 0:
            return int(self._column[pk])
        return default

    def __contains__(self, pk: int) -> bool:
        return self.get(pk) is not None

    def __getitem__(self, pk: int) -> int:
        column = self.get(pk)
        if column is None:
            raise KeyError(pk)
        return column

    def __len__(self) -> int:
        return int((self._column >= 0).sum())


@dataclass
class ServedModel:
    """An artifact ready to serve the catalogue as it is now: the model's papers (memory-mapped, never copied) and
    those added since training (a small side block, see ``engine.serving.Catalogue``), each column's paper pk,
    dates, categories and whether it may be recommended."""

    artifact: Artifact
    version: str  # "" for the content-and-popularity fallback
    catalogue: Catalogue
    paper_pks: np.ndarray  # (n_items,) -1 for papers deleted since training (never shown)
    born: np.ndarray  # (n_items,) seconds since the epoch: published date, else when added
    added: np.ndarray  # (n_items,) seconds since the epoch: when the paper joined the catalogue
    catalogue_key: CatalogueKey | None = None
    papers: _PaperColumns | None = None  # what the columns were built from (to grow them by new papers)
    recommendable: np.ndarray | None = None  # (n_items,) bool: in the catalogue and not withdrawn (all, when None)
    category_columns: dict[str, np.ndarray] = field(default_factory=dict)  # arXiv category -> columns of its papers
    uncategorised: np.ndarray | None = None  # columns of papers without categories
    popularity: np.ndarray | None = None  # (n_items,) log(1 + readers who wanted it + upvotes on the daily trending list)
    recent: np.ndarray | None = None  # the RECENT newest columns by "born", candidates for every reader
    unembedded: np.ndarray | None = None  # pks of side-block papers without a meaning vector yet (-1: has one)

    def __post_init__(self) -> None:
        if self.recommendable is None:
            self.recommendable = self.paper_pks >= 0
        self.column_of = ColumnOf(self.paper_pks)
        self.popularity_stats = popularity_stats(self.popularity if self.popularity is not None else self.model.popularity)
        if self.recent is None:
            newest = min(RECENT, len(self.born))
            self.recent = np.sort(np.argpartition(-self.born, newest - 1)[:newest]) if newest else np.zeros(0, dtype=np.int64)

    def columns_in(self, categories: list[str]) -> np.ndarray:
        """Sorted columns of papers in any of ``categories``, and of papers that have no categories at all."""
        parts = [self.category_columns.get(name, np.zeros(0, dtype=np.int64)) for name in categories]
        parts.append(self.uncategorised if self.uncategorised is not None else np.zeros(0, dtype=np.int64))
        return np.unique(np.concatenate(parts))

    @property
    def model(self) -> HybridModel:
        """The model as trained (its own papers only; ``catalogue`` adds the papers that came since)."""
        return self.artifact.model

    @property
    def n_items(self) -> int:
        return self.catalogue.n_items

    @property
    def weights(self) -> FeedbackWeights:
        return self.artifact.weights

    def freshness_of(self, columns: np.ndarray, now: float) -> np.ndarray:
        """(len(columns),) 1.0 for a paper born now, halving every ``recency_half_life_days``."""
        age_days = np.maximum(now - self.born[columns], 0) / 86400.0
        return np.power(0.5, age_days / self.model.blend.recency_half_life_days).astype(np.float32)

    def popularity_of(self, columns: np.ndarray) -> tuple[np.ndarray, Spread] | None:
        """The popularity readers who want nothing yet are shown by (with upvotes), over ``columns``, and its mean and
        spread over the catalogue; None when it is the model's own."""
        if self.popularity is None:
            return None
        return self.popularity[columns], self.popularity_stats


@dataclass(frozen=True)
class CatalogueKey:
    """What the served catalogue was built from: changes whenever papers are added, deleted or withdrawn. The counts
    (``papers``, ``withdrawn``) pass over the whole table, so they are taken every CATALOGUE_CHECK_SECONDS; between
    them only the newest pk is looked up (an index lookup), and the counts are None (:meth:`newest_only`)."""

    papers: int | None
    newest: int | None
    withdrawn: int | None

    @classmethod
    def newest_only(cls, newest: int | None) -> CatalogueKey:
        return cls(None, newest, None)

    @property
    def counted(self) -> bool:
        return self.papers is not None


def catalogue_key() -> CatalogueKey:
    """The catalogue's key now, counted (two counts over the papers table)."""
    key = Paper.objects.aggregate(n=Count("id"), last=Max("id"), withdrawn=Count("id", filter=Q(withdrawn_at__isnull=False)))
    return CatalogueKey(key["n"], key["last"], key["withdrawn"])


def kept_versions() -> set[str]:
    """The versions whose files are kept (the active model, those to go back to, retrains under way)."""
    kept = TrainingRun.objects.filter(Q(in_progress=True) | (Q(artifact_deleted_at__isnull=True) & ~Q(artifact="")))
    return set(kept.values_list("version", flat=True))


def newest_paper() -> int | None:
    return Paper.objects.aggregate(last=Max("id"))["last"]


@dataclass
class _SideBlock:
    """Papers the model has never seen, as the site serves them until the next retrain (see :func:`_side_block`)."""

    ids: list[str]
    factors: np.ndarray
    vectors: sparse.csr_matrix
    meaning: np.ndarray | None  # (n, d) float16, the mean vector for papers not embedded yet; None: no meaning
    unembedded: np.ndarray  # (n,) pks of the papers still without a vector (-1 for the others)


def _side_block(artifact: Artifact, external_ids: list[str]) -> _SideBlock:
    """The papers of ``external_ids`` the model has never seen, as the site serves them until the next retrain:
    TF-IDF by the model's own encoder, their stored meaning vectors (embedded at intake), factors predicted from both
    by its content-to-factor map."""
    model = artifact.model
    found = Paper.objects.filter(external_id__in=external_ids).values_list("external_id", "id", "title", "abstract")
    rows = {ext: (pk, title, abstract) for ext, pk, title, abstract in found}
    ids = [ext for ext in external_ids if ext in rows]
    pks = np.array([rows[ext][0] for ext in ids], dtype=np.int64)
    vectors = artifact.encoder.transform([paper_text(*rows[ext][1:]) for ext in ids]) if ids else None
    f, terms = model.item_factors.shape[1], model.content.shape[1]
    meaning, unembedded = _side_meaning(artifact, pks)
    if vectors is None or vectors.shape[1] != terms:
        vectors = sparse.csr_matrix((len(ids), terms), dtype=np.float32)
    factors = mapped_factors(model.content_map, vectors, meaning, f, words_map=model.words_map, missing=unembedded >= 0)
    return _SideBlock(ids, factors, vectors.astype(np.float32), meaning, unembedded)


def _side_meaning(artifact: Artifact, pks: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    """The stored meaning vectors of papers ``pks`` by the model's encoder (the mean vector where there is none yet),
    and the pks still without one (-1 elsewhere)."""
    model, identity = artifact.model, artifact.meaning_identity or {}
    if model.meaning is None:
        return None, np.full(len(pks), -1, dtype=np.int64)
    meaning = fitting_meaning(model, None, len(pks))
    stored = stored_vectors(pks.tolist(), identity.get("model", "")) if len(pks) else {}
    filled = np.zeros(len(pks), dtype=bool)
    for j, pk in enumerate(pks):
        if pk in stored and len(stored[pk][1]) == meaning.shape[1]:
            meaning[j], filled[j] = stored[pk][1], True
    return meaning, np.where(filled, -1, pks)


_PAPER_FIELDS = ("id", "external_id", "published", "added_at", "categories", "withdrawn_at", "upvotes")


@dataclass
class _PaperColumns:
    """What serving keeps of each column's paper, read from rows of _PAPER_FIELDS (None: deleted since training)."""

    pks: np.ndarray
    born: np.ndarray
    added: np.ndarray
    withdrawn: np.ndarray
    upvotes: np.ndarray
    by_category: dict[str, list[int]]  # "" for papers without categories

    @classmethod
    def of(cls, rows: list[tuple | None], start: int = 0) -> _PaperColumns:
        n = len(rows)
        out = cls(np.full(n, -1, dtype=np.int64), np.zeros(n), np.zeros(n), np.zeros(n, dtype=bool), np.zeros(n, dtype=np.float32), {})
        for j, row in enumerate(rows):
            if row:  # papers deleted since training keep pk -1 and are never shown
                pk, _, published, added, categories, withdrawn_at, votes = row
                out.pks[j] = pk
                out.upvotes[j] = votes or 0
                out.added[j] = added.timestamp()
                out.born[j] = time.mktime(published.timetuple()) if published else out.added[j]
                out.withdrawn[j] = withdrawn_at is not None
                for name in categories or ("",):
                    out.by_category.setdefault(name, []).append(start + j)
        return out

    def extended(self, more: _PaperColumns) -> _PaperColumns:
        """These columns, then ``more`` (made with ``start`` = len(self))."""
        by_category = {name: list(columns) for name, columns in self.by_category.items()}
        for name, columns in more.by_category.items():
            by_category.setdefault(name, []).extend(columns)
        joined = [np.concatenate([mine, theirs]) for mine, theirs in zip(self._arrays(), more._arrays())]
        return _PaperColumns(*joined, by_category)

    def _arrays(self) -> tuple[np.ndarray, ...]:
        return self.pks, self.born, self.added, self.withdrawn, self.upvotes


def _served(artifact: Artifact, version: str, catalogue: Catalogue, papers: _PaperColumns, key: CatalogueKey) -> ServedModel:
    """The served model of ``catalogue``'s columns, whose papers are ``papers``."""
    categories = {name: np.array(columns, dtype=np.int64) for name, columns in papers.by_category.items()}
    readers = np.expm1(catalogue.popularity(np.arange(len(papers.pks))))  # the model's popularity is log(1 + readers)
    return ServedModel(
        artifact,
        version,
        catalogue,
        papers.pks,
        papers.born,
        papers.added,
        catalogue_key=key,
        papers=papers,
        recommendable=(papers.pks >= 0) & ~papers.withdrawn,
        category_columns=categories,
        uncategorised=categories.pop("", np.zeros(0, dtype=np.int64)),
        popularity=np.log1p(readers + papers.upvotes).astype(np.float32) if papers.upvotes.any() else None,
    )


def served_model(artifact: Artifact, version: str, key: CatalogueKey) -> ServedModel:
    """``artifact`` ready to serve the catalogue as it is now (``key``, see ``catalogue_key``): papers added since
    training in the side block, each column mapped to its paper; withdrawn papers are kept (readers' feedback on them
    still counts) but never recommended."""
    rows_by_id = {row[1]: row for row in Paper.objects.values_list(*_PAPER_FIELDS).iterator(chunk_size=20_000)}
    item_ids = [str(ext) for ext in artifact.item_ids]
    side = None
    if version:
        known = set(item_ids)
        side = _side_block(artifact, [ext for ext in rows_by_id if ext not in known])
    serving = artifact.serving if artifact.serving is not None else serving_index(artifact.model)
    catalogue = Catalogue(
        artifact.model, serving, *(() if side is None else (side.factors, side.vectors, side.meaning, side.unembedded >= 0))
    )
    papers = _PaperColumns.of([rows_by_id.get(ext) for ext in itertools.chain(item_ids, side.ids if side else [])])
    served = _served(artifact, version, catalogue, papers, key)
    served.unembedded = side.unembedded if side is not None else np.zeros(0, dtype=np.int64)
    return served


def with_papers_added(served: ServedModel, key: CatalogueKey) -> ServedModel | None:
    """``served`` with the papers added since it was built (their pks are above any it has) in its side block, reading
    only those rows; None when papers were also deleted or withdrawn (then it is built again whole). ``key`` is counted,
    or only the newest pk (between the counts)."""
    before = served.catalogue_key
    withdrawn_changed = key.withdrawn is not None and key.withdrawn != before.withdrawn
    grown = key.newest is not None and before.newest is not None and key.newest > before.newest
    if withdrawn_changed or not grown or not served.version or served.papers is None:
        return None
    rows = list(Paper.objects.filter(id__gt=before.newest).order_by("id").values_list(*_PAPER_FIELDS))
    if key.counted and before.papers + len(rows) != key.papers:  # some papers were deleted meanwhile
        return None
    side = _side_block(served.artifact, [row[1] for row in rows])
    by_id = {row[1]: row for row in rows}
    catalogue = served.catalogue
    catalogue = Catalogue(
        catalogue.model,
        catalogue.index,
        np.vstack([catalogue.side_factors, side.factors]),
        sparse.vstack([catalogue.side_content, side.vectors], format="csr"),
        None if side.meaning is None else np.vstack([catalogue.side_meaning, side.meaning]),
        None if side.meaning is None else np.concatenate([served.unembedded, side.unembedded]) >= 0,
    )
    papers = served.papers.extended(_PaperColumns.of([by_id[ext] for ext in side.ids], served.n_items))
    key = CatalogueKey(before.papers + len(rows), key.newest, before.withdrawn)
    grown = _served(served.artifact, served.version, catalogue, papers, key)
    grown.unembedded = np.concatenate([served.unembedded, side.unembedded])
    return grown


def with_meaning_filled(served: ServedModel) -> ServedModel | None:
    """``served`` with the meaning vectors stored since it was built for papers of its side block that had none
    (embedded by the task after a harvest); None when none came (one indexed query for those papers)."""
    waiting = served.unembedded[served.unembedded >= 0] if served.unembedded is not None else np.zeros(0, dtype=np.int64)
    catalogue = served.catalogue
    if not len(waiting) or catalogue.side_meaning is None:
        return None
    stored = stored_vectors(waiting.tolist(), (served.artifact.meaning_identity or {}).get("model", ""))
    if not stored:
        return None
    side_meaning = catalogue.side_meaning.copy()
    filled = []
    for pk, (_, vector) in stored.items():
        column = served.column_of.get(pk)
        if column is not None and column >= catalogue.n_base and len(vector) == side_meaning.shape[1]:
            side_meaning[column - catalogue.n_base] = vector
            filled.append(pk)
    if not filled:
        return None
    unembedded = np.where(np.isin(served.unembedded, filled), -1, served.unembedded)
    side_factors = catalogue.side_factors.copy()
    side_factors[:] = mapped_factors(
        catalogue.model.content_map,
        catalogue.side_content,
        side_meaning,
        side_factors.shape[1],
        words_map=catalogue.model.words_map,
        missing=unembedded >= 0,
    )
    filled = Catalogue(catalogue.model, catalogue.index, side_factors, catalogue.side_content, side_meaning, unembedded >= 0)
    out = _served(served.artifact, served.version, filled, served.papers, served.catalogue_key)
    out.unembedded = unembedded
    return out


def build_fallback(key: CatalogueKey) -> ServedModel:
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
        self._counted_at = float("-inf")
        self._background = False
        self._loader: threading.Thread | None = None
        self._said_no_model = False
        self._unavailable = ""  # why the active model could not be fetched, last time it was tried
        os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        """A forked process (a server that loads the app before forking its workers) starts with a free lock and no
        loader: the parent's thread does not come along, and may have held the lock."""
        self._lock = threading.Lock()
        self._loader = None

    def load_in_background(self) -> None:
        """From now on no caller waits for a check or a load: a thread does them (a web process; see the module)."""
        self._background = True
        self._start_loader()

    def load_inline(self) -> None:
        """Checks and loads in the calling thread again (the default)."""
        self._background = False

    def current(self) -> ServedModel | None:
        """The active model (a newly activated one is loaded; new papers are appended); the fallback when none is usable.
        In background mode, whatever is loaded now (None before the first load), the check started when due."""
        now = time.monotonic()
        if self._served is not None and now - self._checked_at < settings.MODEL_CHECK_SECONDS:
            return self._served
        if self._background:
            if now - self._checked_at >= settings.MODEL_CHECK_SECONDS:  # (with no model loaded too: one check per period)
                self._start_loader()
            return self._served
        with self._lock:
            self._served = self._refreshed(time.monotonic(), fallback_limit=None)
            return self._served

    def _start_loader(self) -> None:
        with self._lock:
            if self._loader is not None and self._loader.is_alive():
                return
            self._checked_at = time.monotonic()  # one check per MODEL_CHECK_SECONDS, however many requests come
            self._loader = threading.Thread(target=self._load, name="model-loader", daemon=True)
            self._loader.start()

    def _load(self) -> None:
        """The background check: anything new is loaded beside the served model, then swapped in whole."""
        try:
            self._served = self._refreshed(time.monotonic(), fallback_limit=settings.FALLBACK_MAX_PAPERS)
        except Exception:
            log.exception("model check failed; serving what was loaded (%s)", self._served.version if self._served else "nothing")
        finally:
            connections.close_all()  # this thread's own database connections

    def _refreshed(self, now: float, *, fallback_limit: int | None) -> ServedModel | None:
        """What to serve from now on: a newly activated model loaded, papers added since appended, or the
        content-and-popularity fallback built (not above ``fallback_limit`` papers: a web process leaves a large
        catalogue to the first retrain, and serves None meanwhile)."""
        self._checked_at = now
        active = TrainingRun.objects.filter(is_active=True).values_list("version", "artifact").first()
        served = self._served
        counted_lately = now - self._counted_at < settings.CATALOGUE_CHECK_SECONDS
        if served is None and not active and fallback_limit is not None and counted_lately:
            return None  # still no model, and the catalogue was counted (too large for a fallback) a moment ago
        another_model = active is not None and (served is None or served.version != active[0])
        if served is None or not active or another_model or not counted_lately:
            key, self._counted_at = catalogue_key(), now
        else:  # between the counts: only new papers are looked for, by an index lookup
            newest = newest_paper()
            key = served.catalogue_key if newest == served.catalogue_key.newest else CatalogueKey.newest_only(newest)
        if another_model:
            try:
                served = served_model(load_artifact(model_folder(active[1])), active[0], key)
                log.info("serving model %s", active[0])
                self._unavailable = ""
                cache_prune(kept_versions())
            except ModelUnavailable as exc:  # the bucket is down, say: keep what is served, and try again at the next check
                if str(exc) != self._unavailable:  # said once, not every MODEL_CHECK_SECONDS
                    self._unavailable = str(exc)
                    log.error("%s; serving %s until it can be fetched", exc, served.version if served else "the newest and trending papers")
                return served
            except ValueError:
                log.exception("cannot load model %s; serving the previous one", active[0])
        elif served is not None and served.version and served.catalogue_key != key:  # papers added, withdrawn or deleted
            served = with_papers_added(served, key) or served_model(served.artifact, served.version, key)
        if served is not None and served.version and not another_model:  # new papers' vectors, embedded since
            served = with_meaning_filled(served) or served
        fallback_stale = served is not None and active is None and (served.version != "" or served.catalogue_key != key)
        if served is None or fallback_stale:
            return self._fallback(key, fallback_limit)  # (counted: there is no active model)
        return served

    def _fallback(self, key: CatalogueKey, limit: int | None) -> ServedModel | None:
        """The content-and-popularity model of the catalogue; None above ``limit`` papers (said once in the log)."""
        if limit is not None and key.papers > limit:
            if self._served is not None or not self._said_no_model:  # said once, not every MODEL_CHECK_SECONDS
                self._said_no_model = True
                log.warning(
                    "no model yet, and %d papers are too many to build a fallback in a web process (FALLBACK_MAX_PAPERS %d): "
                    "serving the newest and trending papers until a retrain (manage.py retrain, or the nightly task) makes one",
                    key.papers,
                    limit,
                )
            return None
        return build_fallback(key)

    def expire(self) -> None:
        """Look for a newly activated model (and count the catalogue) at the next request, however recently we looked."""
        self._checked_at = self._counted_at = float("-inf")

    def wait(self, timeout: float) -> None:
        """Wait (at most ``timeout`` seconds) for a background check under way to end."""
        loader = self._loader
        if loader is not None:
            loader.join(timeout)

    def clear(self) -> None:
        """Forget what is loaded (tests, and after a database reset)."""
        with self._lock:
            self._served, self._checked_at, self._counted_at = None, float("-inf"), float("-inf")


store = ModelStore()
