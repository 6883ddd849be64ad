"""The hybrid recommender: collaborative (ALS and the item-item graph) and content scores on one scale,
blended per reader.

Every score vector is standardised per reader over the candidate papers, so "one standard
deviation above this reader's average" means the same on every side. The collaborative
share grows with what we know about the reader: ``cf_weight * n / (n + cf_half_count)`` for
``n`` papers they wanted, so a new reader leans on content; ``graph_share`` of it goes to the
item-item graph (RP3beta, ``engine.graph``) and the rest to ALS. A reader who wanted nothing yet gets
the popular papers (minus those like the ones they dismissed). Papers no one has
touched get collaborative scores through a ridge map from content to the factor space (the graph
knows nothing of them).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cached_property

import numpy as np
import scipy.linalg
from scipy import sparse

from recommender.engine.collaborative import ALSParams, fold_in_batch, item_gram, shared_inverse
from recommender.engine.content import profile_scores
from recommender.engine.graph import GraphParams, graph_scores
from recommender.engine.meaning import float32_rows, meaning_profiles, meaning_scores


def profile_coefficients(weights: sparse.csr_matrix, negative_weight: float) -> sparse.csr_matrix:
    """``weights`` as the profiles and graph rows count them: wanted papers by their weights, turned-down ones by
    ``negative_weight`` times theirs (as ``content.profile_scores`` and ``graph.graph_scores`` do)."""
    weights = weights.tocsr()
    data = np.where(weights.data > 0, weights.data, negative_weight * weights.data).astype(np.float32)
    return sparse.csr_matrix((data, weights.indices, weights.indptr), shape=weights.shape)


@dataclass(frozen=True)
class BlendParams:
    cf_weight: float = 0.85
    graph_share: float = 0.45  # of the collaborative share, what goes to the item-item graph (none when a model has no graph)
    cf_half_count: float = 0.5
    cold_cf_weight: float = 0.7
    negative_weight: float = 0.5
    recency_boost: float = 0.3
    recency_half_life_days: float = 14.0
    diversity: float = 1.0
    map_regularization: float = 1.0
    meaning_map_regularization: float = 0.1  # the map's meaning stage (384 dense columns want less than the TF-IDF terms)
    meaning_share: float = 0.25  # of the content share, what goes to the papers' meaning (none when a model has no embeddings)

    def as_dict(self) -> dict:
        return asdict(self)


MAP_MAX_PAPERS = 20_000  # the map is fitted on at most this many known papers (a fixed random sample beyond)


def content_to_factor_map(
    content: sparse.csr_matrix, item_factors: np.ndarray, known: np.ndarray, params: BlendParams, meaning: np.ndarray | None = None
) -> np.ndarray:
    """Coefficients (n_terms [+ d], f) of a ridge regression of the ALS item factors on the TF-IDF vectors (and the
    meaning vectors (n_items, d) when given), fitted on the ``known`` papers (those with feedback):
    :func:`mapped_factors` predicts any paper's factors with it. With meaning vectors the fit has two stages: the
    factors on the meaning (d x d normal equations, a moment), then what it leaves on the TF-IDF vectors (as without);
    one joint fit of both costs some 25 times as long (its dense columns slow every conjugate-gradient step).

    Fitted on at most MAP_MAX_PAPERS papers, all f targets at once: by a dense solve of the normal
    equations when the vocabulary is small, else by preconditioned conjugate gradients.
    """
    f = item_factors.shape[1]
    rows = np.flatnonzero(known)
    n_features = content.shape[1] + (0 if meaning is None else meaning.shape[1])
    if n_features == 0 or len(rows) < 2:
        return np.zeros((n_features, f), dtype=np.float32)
    if len(rows) > MAP_MAX_PAPERS:
        rows = np.sort(np.random.default_rng(0).choice(rows, MAP_MAX_PAPERS, replace=False))
    x, y = content[rows], item_factors[rows]
    by_meaning = None
    if meaning is not None:
        by_meaning = ridge_normal_equations(
            sparse.csr_matrix(np.asarray(meaning[rows], dtype=np.float32)), y, params.meaning_map_regularization
        )
        y = y - np.asarray(meaning[rows], dtype=np.float32) @ by_meaning
        if content.shape[1] == 0:
            return by_meaning
    # A dense solve against some 30 iterations of two sparse products, which run about ten times slower per flop.
    dense_flops, cg_flops = x.shape[1] ** 3 / 3, 600 * x.nnz * f
    solve = ridge_normal_equations if dense_flops < cg_flops else ridge_conjugate_gradients
    by_terms = solve(x, y, params.map_regularization)
    return by_terms if by_meaning is None else np.vstack([by_terms, by_meaning])


def mapped_factors(
    content_map: np.ndarray | None,
    vectors: sparse.csr_matrix,
    meaning: np.ndarray | None,
    f: int,
    *,
    words_map: np.ndarray | None = None,
    missing: np.ndarray | None = None,
) -> np.ndarray:
    """(n, f) factors predicted for papers from their TF-IDF ``vectors`` (n, n_terms) and meaning rows (n, d) by
    ``content_map`` (:func:`content_to_factor_map`); zeros when the map does not fit them (another vocabulary). Papers
    ``missing`` marks (no meaning vector of their own yet) are mapped from their words by ``words_map`` (n_terms, f),
    the map fitted from TF-IDF alone, when the model has one."""
    n, terms = vectors.shape
    d = 0 if meaning is None else meaning.shape[1]
    if content_map is None or content_map.shape[0] not in (terms, terms + d) or n == 0:
        return np.zeros((n, f), dtype=np.float32)
    factors = np.asarray(vectors @ content_map[:terms], dtype=np.float32)
    if d and content_map.shape[0] == terms + d:
        factors += np.asarray(meaning, dtype=np.float32) @ content_map[terms:]
    if missing is not None and words_map is not None and words_map.shape == (terms, f) and missing.any():
        rows = np.flatnonzero(missing)
        factors[rows] = np.asarray(vectors[rows] @ words_map, dtype=np.float32)
    return factors


def ridge_normal_equations(x: sparse.csr_matrix, y: np.ndarray, regularization: float) -> np.ndarray:
    """W (n_features, n_targets) minimising ||x W - y||^2 + regularization ||W||^2, all targets in one
    Cholesky solve of (x'x + regularization I) W = x'y; for up to a few thousand features."""
    xt = x.T.tocsr().astype(np.float64)
    gram = (xt @ xt.T).toarray()
    gram[np.diag_indices_from(gram)] += regularization
    return scipy.linalg.solve(gram, np.asarray(xt @ y, dtype=np.float64), assume_a="pos").astype(np.float32)


def ridge_conjugate_gradients(
    x: sparse.csr_matrix, y: np.ndarray, regularization: float, *, tol: float = 1e-4, max_iter: int = 300
) -> np.ndarray:
    """The same W by conjugate gradients on the normal equations, every target's run side by side (one pair
    of sparse-dense products per step), with a Jacobi preconditioner. Each target stops when its residual
    is below ``tol`` times its right-hand side, as scikit-learn's sparse_cg does."""
    x = x.astype(np.float32)
    xt = x.T.tocsr()
    b = np.asarray(xt @ y, dtype=np.float64)
    inverse_diagonal = 1.0 / (np.asarray(x.multiply(x).sum(axis=0), dtype=np.float64).ravel() + regularization)
    w, r = np.zeros_like(b), b.copy()
    z = r * inverse_diagonal[:, None]
    p, rz = z.copy(), (r * z).sum(axis=0)
    goal = (tol**2) * np.maximum((b * b).sum(axis=0), 1e-30)
    for _ in range(max_iter):
        if np.all((r * r).sum(axis=0) <= goal):
            break
        ap = xt @ (x @ p) + regularization * p
        step = rz / np.maximum((p * ap).sum(axis=0), 1e-30)
        w += p * step
        r -= ap * step
        z = r * inverse_diagonal[:, None]
        rz_new = (r * z).sum(axis=0)
        p = z + p * (rz_new / np.maximum(rz, 1e-30))
        rz = rz_new
    return w.astype(np.float32)


def standardize(scores: np.ndarray, candidates: np.ndarray | None = None) -> np.ndarray:
    """Per row, (score - mean) / std over the candidate columns (all columns when None)."""
    part = scores if candidates is None else scores[:, candidates]
    mean = part.mean(axis=1, keepdims=True)
    std = part.std(axis=1, keepdims=True)
    return (scores - mean) / np.where(std > 1e-9, std, 1.0)


SIDES = ("collaborative", "content", "graph", "meaning")  # the rows of BlendedScores.sides


@dataclass
class BlendedScores:
    """Blended scores and the standardised signals they were made of: one reader's (n_columns,) or several readers'
    (n_readers, n_columns). Made by :func:`blend_signals` only."""

    blended: np.ndarray
    z_als: np.ndarray
    z_graph: np.ndarray | None  # None when the graph has no share
    z_content: np.ndarray
    w_cf: np.ndarray  # the collaborative share, per cell
    g: np.ndarray  # the graph's part of the collaborative share, per column
    z_meaning: np.ndarray | None = None  # None when the model has no embeddings
    s: float | np.ndarray = 0.0  # the meaning's part of the content share: per column (0 where a paper has no vector yet)

    @property
    def z_cf(self) -> np.ndarray:
        """The collaborative side: ``(1 - g) * z_als + g * z_graph``."""
        return self.z_als if self.z_graph is None else self.z_als + self.g * (self.z_graph - self.z_als)

    @property
    def z_text(self) -> np.ndarray:
        """The content side: ``(1 - s) * z_content + s * z_meaning``."""
        if self.z_meaning is None or not np.any(self.s):
            return self.z_content
        return self.z_content + self.s * (self.z_meaning - self.z_content)

    def sides(self, positions: np.ndarray) -> np.ndarray:
        """What each signal added to one reader's blended score at ``positions``: a row for each of ``SIDES`` (ALS,
        TF-IDF, the graph and the meaning; -inf for a signal without a share); the side with the largest part put the
        paper on the page."""
        w, g = self.w_cf[positions], self.g[positions]
        s = self.s[positions] if np.ndim(self.s) else np.full(len(positions), self.s)
        absent = np.full(len(positions), -np.inf)
        graph = absent if self.z_graph is None else w * g * self.z_graph[positions]
        meaning = absent if self.z_meaning is None else np.where(s > 0, (1 - w) * s * self.z_meaning[positions], -np.inf)
        return np.vstack([w * (1 - g) * self.z_als[positions], (1 - w) * (1 - s) * self.z_content[positions], graph, meaning])


def blend_signals(
    z_als: np.ndarray,
    z_content: np.ndarray,
    z_graph: np.ndarray | None,
    *,
    known: np.ndarray,
    wanted: np.ndarray | float,
    blend: BlendParams,
    cf_balance: np.ndarray | float | None = None,
    z_popularity: np.ndarray | None = None,
    freshness: np.ndarray | None = None,
    z_meaning: np.ndarray | None = None,
    meaning_missing: np.ndarray | None = None,
) -> BlendedScores:
    """The blend, the one formula that the feed, the email, the parameter search, the gate and ``evaluate`` all rank by.

    ``z_*`` are the standardised signals (one row per reader, or one reader's vector); ``known`` (n_columns,) marks
    papers with feedback in training (the others have mapped factors and no graph); ``wanted`` is each reader's
    number of wanted papers ((n_readers, 1), or a number). The collaborative share is
    ``cf_weight`` (``cold_cf_weight`` for unknown papers) times ``wanted / (wanted + cf_half_count)``, and
    ``graph_share`` of it goes to the graph; ``cf_balance`` replaces the share for readers who chose one (NaN: the
    tuned blend). The content side is ``z_content`` (TF-IDF), or with ``z_meaning`` (the papers' meaning, when the
    model has embeddings) ``(1 - meaning_share) * z_content + meaning_share * z_meaning``, but ``z_content`` alone for the
    papers ``meaning_missing`` (n_columns,) marks: those without a vector yet are read by their words. A reader who wants nothing
    gets ``z_popularity`` plus the content side instead (``z_popularity``: their rows, or their vector);
    ``freshness`` (n_columns,) in [0, 1] adds up to ``recency_boost``.
    """
    g = np.where(known, np.float32(blend.graph_share), np.float32(0.0)) if z_graph is not None else np.zeros(len(known), np.float32)
    knowledge = np.asarray(wanted, dtype=np.float32) / (np.asarray(wanted, dtype=np.float32) + np.float32(blend.cf_half_count))
    w_cf = np.where(known, np.float32(blend.cf_weight), np.float32(blend.cold_cf_weight)) * knowledge
    if cf_balance is not None and not np.isnan(cf_balance).all():
        balance = np.asarray(cf_balance, dtype=np.float32).reshape(np.shape(knowledge))
        w_cf = np.where(np.isnan(balance), w_cf, np.nan_to_num(balance) * (knowledge > 0))
    s = float(blend.meaning_share) if z_meaning is not None else 0.0
    if s and meaning_missing is not None and meaning_missing.any():
        s = np.where(meaning_missing, np.float32(0.0), np.float32(s))
    scores = BlendedScores(np.empty(0), z_als, z_graph, z_content, w_cf, g, z_meaning, s)
    z_text = scores.z_text
    blended = scores.z_cf - z_text
    blended *= w_cf
    blended += z_text  # w * z_cf + (1 - w) * z_text, without the temporaries
    nothing = np.flatnonzero(np.ravel(wanted) == 0)
    if z_popularity is not None and len(nothing):  # the popular papers, less those like the ones they dismissed
        if blended.ndim == 1:
            blended = z_popularity + z_text
        else:
            blended[nothing] = z_popularity + z_text[nothing]
    if freshness is not None and blend.recency_boost:
        blended += np.float32(blend.recency_boost) * freshness.astype(blended.dtype)
    scores.blended = blended
    scores.w_cf = np.broadcast_to(w_cf, blended.shape)
    return scores


@dataclass
class HybridModel:
    """Everything needed to score readers: factors, content vectors, popularity and parameters.

    Shapes: ``item_factors`` (n_items, f) with content-mapped rows for papers without feedback,
    ``content`` (n_items, n_terms) CSR, ``popularity`` (n_items,),
    ``known_items`` (n_items,) bool: papers with feedback in training (the others have mapped factors),
    ``graph`` (n_items, n_items) CSR: each paper's strongest item-item neighbours (None: no graph signal),
    ``meaning`` (n_items, d) float16: the papers' unit meaning vectors (None: TF-IDF alone, ``CONTENT_EMBEDDINGS=off``).
    """

    item_factors: np.ndarray
    content: sparse.csr_matrix
    popularity: np.ndarray
    known_items: np.ndarray
    als: ALSParams
    blend: BlendParams
    content_map: np.ndarray | None = None  # (n_terms, f): predicts factors of papers without feedback
    graph: sparse.csr_matrix | None = None
    graph_params: GraphParams | None = None
    gram: np.ndarray | None = None  # (f, f) Y'Y, computed here unless the caller has it (a saved model keeps it)
    inverse: np.ndarray | None = None  # (f, f) (Y'Y + reg I)^-1, likewise (see ``gram_inverse``)
    meaning: np.ndarray | None = None
    meaning_missing: np.ndarray | None = None  # (n_items,) bool: papers holding the mean vector, not their own (yet)
    words_map: np.ndarray | None = None  # (n_terms, f): the map from TF-IDF alone, for papers without a meaning vector

    def __post_init__(self) -> None:
        if self.gram is None:
            self.gram = item_gram(self.item_factors)
        if self.meaning_missing is not None and not self.meaning_missing.any():
            self.meaning_missing = None  # every paper has its own vector

    @cached_property
    def meaning_float32(self) -> np.ndarray:
        """The meaning vectors as float32, made once for batch scoring (evaluation, the gate; never in a web process):
        numpy turns float16 into float32 at some 4 ns a number, which every batch of readers would pay again."""
        return float32_rows(self.meaning)

    @cached_property
    def content_by_term(self) -> sparse.csr_matrix:
        """(n_terms, n_items) the content vectors transposed, kept for scoring every paper at once."""
        return self.content.T.tocsr()

    @property
    def n_items(self) -> int:
        return self.item_factors.shape[0]

    def user_factors(self, weights: sparse.csr_matrix) -> np.ndarray:
        """Fold in each reader's row of ``weights`` (n_readers, n_items): (n_readers, f)."""
        return fold_in_batch(
            self.item_factors, self.gram, weights, alpha=self.als.alpha, regularization=self.als.regularization, m_inv=self.gram_inverse
        )

    @property
    def gram_inverse(self) -> np.ndarray:
        if self.inverse is None:
            self.inverse = shared_inverse(self.gram, self.als.regularization)
        return self.inverse

    @property
    def uses_graph(self) -> bool:
        return self.graph is not None and self.blend.graph_share > 0

    @property
    def uses_meaning(self) -> bool:
        return self.meaning is not None and self.blend.meaning_share > 0

    def component_scores(self, weights: sparse.csr_matrix, columns: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Raw scores (n_readers, n_columns) of each part: collaborative (ALS), item-item graph, content and popularity.

        ``columns`` restricts scoring to those papers (all papers when None). ``graph`` is None when the blend
        gives it no share.
        """
        factors = self.item_factors if columns is None else self.item_factors[columns]
        cf = self.user_factors(weights) @ factors.T
        content = profile_scores(
            self.content,
            weights,
            negative_weight=self.blend.negative_weight,
            columns=columns,
            by_term=None if columns is not None else self.content_by_term,
        )
        graph = graph_scores(self.graph, weights, negative_weight=self.blend.negative_weight, columns=columns) if self.uses_graph else None
        popularity = np.broadcast_to(self.popularity if columns is None else self.popularity[columns], cf.shape)
        meaning = None
        if self.uses_meaning:
            missing = None if self.meaning_missing is None else self.meaning_missing.__getitem__
            profiles = meaning_profiles(self.meaning_float32, profile_coefficients(weights, self.blend.negative_weight), missing)
            meaning = meaning_scores(self.meaning_float32, profiles, columns)
        return {"cf": cf, "graph": graph, "content": content, "popularity": popularity, "meaning": meaning}

    def score_parts(
        self,
        weights: sparse.csr_matrix,
        candidates: np.ndarray | None = None,
        *,
        freshness: np.ndarray | None = None,
        columns: np.ndarray | None = None,
        cf_balance: np.ndarray | None = None,
        popularity: np.ndarray | None = None,
    ) -> BlendedScores:
        """Blended scores (n_readers, n_columns) and the standardised signals they were made of (:func:`blend_signals`).

        ``freshness`` (n_items,) in [0, 1], when given, adds up to ``recency_boost`` for new papers.
        ``columns`` scores only those papers (then ``candidates`` index into ``columns``).
        ``cf_balance`` (n_readers,) replaces the collaborative share for readers who chose one (NaN: the tuned blend).
        ``popularity`` (n_items,) replaces the model's own for readers who wanted nothing yet (say, with outside votes).
        """
        parts = self.component_scores(weights, columns)
        if popularity is not None:
            parts["popularity"] = np.broadcast_to(popularity if columns is None else popularity[columns], parts["cf"].shape)
        wanted = np.asarray((weights > 0).sum(axis=1), dtype=np.float32)
        nothing = np.flatnonzero(wanted.ravel() == 0)
        return blend_signals(
            standardize(parts["cf"], candidates),
            standardize(parts["content"], candidates),
            None if parts["graph"] is None else standardize(parts["graph"], candidates),
            known=self.known_items if columns is None else self.known_items[columns],
            wanted=wanted,
            blend=self.blend,
            cf_balance=cf_balance,
            z_popularity=standardize(parts["popularity"][nothing], candidates) if len(nothing) else None,
            freshness=None if freshness is None else (freshness if columns is None else freshness[columns]),
            z_meaning=None if parts["meaning"] is None else standardize(parts["meaning"], candidates),
            meaning_missing=None if self.meaning_missing is None else self.meaning_missing[slice(None) if columns is None else columns],
        )

    def scores(
        self, weights: sparse.csr_matrix, candidates: np.ndarray | None = None, *, freshness: np.ndarray | None = None
    ) -> np.ndarray:
        """Blended scores (n_readers, n_items) for readers whose feedback rows are ``weights``."""
        return self.score_parts(weights, candidates, freshness=freshness).blended


def top_k(scores: np.ndarray, k: int, exclude: sparse.csr_matrix | None = None, candidates: np.ndarray | None = None) -> np.ndarray:
    """Indices (n_readers, k) of the best scores per row, skipping excluded cells and non-candidates."""
    scores = np.array(scores, dtype=np.float32, copy=True)
    if candidates is not None:
        mask = np.ones(scores.shape[1], dtype=bool)
        mask[candidates] = False
        scores[:, mask] = -np.inf
    if exclude is not None:
        rows, cols = exclude.nonzero()
        scores[rows, cols] = -np.inf
    k = min(k, scores.shape[1] if candidates is None else len(candidates))
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
    return np.take_along_axis(top, order, axis=1)


def diversify(candidates: np.ndarray, scores: np.ndarray, content: sparse.csr_matrix, n: int, trade_off: float) -> np.ndarray:
    """Maximal marginal relevance: re-rank ``candidates`` (best first) so one topic does not fill the page.

    Each pick maximises ``score - trade_off * max similarity to the papers already picked``
    (scores standardised over the candidates first).
    """
    if trade_off <= 0 or len(candidates) <= 1:
        return candidates[:n]
    s = (scores - scores.mean()) / (scores.std() or 1.0)
    whole = len(candidates) == content.shape[0] and np.array_equal(candidates, np.arange(len(candidates)))
    block = content if whole else content[candidates]  # callers that gathered the block already pass arange
    sims = (block @ block.T).toarray()
    chosen: list[int] = []
    penalty = np.zeros(len(candidates))
    available = np.ones(len(candidates), dtype=bool)
    for _ in range(min(n, len(candidates))):
        value = np.where(available, s - trade_off * penalty, -np.inf)
        pick = int(np.argmax(value))
        chosen.append(pick)
        available[pick] = False
        penalty = np.maximum(penalty, sims[pick])
    return candidates[chosen]
