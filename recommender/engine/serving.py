"""Serving a reader at the cost of a few thousand papers, whatever the size of the catalogue. No Django here.

A request scores *candidates*, not the catalogue: the nearest papers to the reader's folded-in factors in an
approximate-nearest-neighbour index over the item factors (faiss, inverted lists), the papers the item-item
graph reaches from the reader's papers, the heaviest papers of the strongest terms of their content profile,
the papers added since training, recent papers and popular ones. Everything a request needs beyond the model's
arrays is made at retrain time (``serving_index``) and stored with the model: the Gram matrix and its
inverse, the mean factor, the mean content vector, each term's heaviest papers, the popular papers and the index.

The blend keeps its meaning: each signal is standardised by its mean and standard deviation over the whole
catalogue, from closed forms, not from a pass over it: ALS from the mean factor and the Gram matrix
(``mean = u.ybar``, ``var = u'(Y'Y/n)u - mean^2``); the graph exactly from the reader's sparse graph scores;
content's mean from the mean vector and its spread from a fixed sample of papers; the meaning's exactly from the mean
meaning vector and their second moments (``p'(E'E/n)p``, d x d); popularity's once. A model with meaning vectors also
has a faiss index over them, whose nearest papers to the reader's meaning profile join the candidates. A request
scores the candidates' meaning from an 8-bit copy of the vectors (``meaning.quantized``, made at retrain): numpy turns
float16 into float32 at some 4 ns a number, int8 some 20 times as fast.

Papers added after training live in a small side block beside the memory-mapped arrays (``Catalogue``), so
the big arrays are never copied and stay shared between the web processes of a host.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from scipy import sparse

from recommender.engine.blend import BlendedScores, HybridModel, blend_signals, profile_coefficients
from recommender.engine.collaborative import fold_in_batch
from recommender.engine.graph import top_per_row
from recommender.engine.meaning import ROWS_AT_ONCE, meaning_index, meaning_profiles, nearest_by_meaning, quantized, quantized_with

SCORE_ALL_BELOW = 5000  # catalogues (and column windows) this small are scored whole
ANN_CANDIDATES = 1000  # nearest papers by the collaborative score
ANN_PROBES = 48  # inverted lists searched
GRAPH_CANDIDATES = 500  # strongest graph scores
PROFILE_TERMS = 16  # the content profile's strongest terms ...
TERM_PAPERS = 150  # ... each with its heaviest papers (kept per term at retrain)
POPULAR = 300
RECENT = 300
CONTENT_SAMPLE = 4096  # papers whose content scores estimate each reader's content spread
SIDE_CANDIDATES = 5000  # papers added since training scored at most (the newest)
MEANING_CANDIDATES = 300  # nearest papers by meaning


@dataclass
class ServingIndex:
    """What a request needs beyond the model's factors and vectors; made once per model, at retrain."""

    mean_factor: np.ndarray  # (f,) float64
    content_mean: np.ndarray  # (n_terms,) float32: the mean TF-IDF row
    content_sample: np.ndarray  # (S,) columns: a fixed random sample of papers
    popular: np.ndarray  # (P,) columns, most popular first
    term_papers: sparse.csr_matrix  # (n_terms, n_items): each term's TERM_PAPERS heaviest papers
    ann: object | None = None  # faiss index over the item factors (inner product); None: small catalogue, scored whole
    meaning_mean: np.ndarray | None = None  # (d,) float64 the mean meaning vector (None: no meaning vectors)
    meaning_gram: np.ndarray | None = None  # (d, d) float64 E'E / n, for the meaning score's spread
    meaning_ann: object | None = None  # faiss index over the meaning vectors (engine.meaning.meaning_index)
    meaning_codes: np.ndarray | None = None  # (n_items, d) int8 the vectors for scoring (``meaning.quantized``)
    meaning_scales: np.ndarray | None = None  # (d,) float32 their scales

    def nearest(self, user_factors: np.ndarray, k: int = ANN_CANDIDATES) -> np.ndarray:
        """(k',) columns of the papers with the highest ``user_factors . y`` by the index (approximately)."""
        return self.nearest_each(user_factors[None, :], k)[0]

    def nearest_each(self, user_factors: np.ndarray, k: int = ANN_CANDIDATES) -> list[np.ndarray]:
        """:meth:`nearest` for each row of ``user_factors`` (n_readers, f), in one search of the index."""
        if self.ann is None:
            return [np.zeros(0, dtype=np.int64) for _ in range(len(user_factors))]
        _, found = self.ann.search(np.ascontiguousarray(user_factors, dtype=np.float32), k)
        return [row[row >= 0].astype(np.int64) for row in found]


def serving_index(model: HybridModel, *, seed: int = 0) -> ServingIndex:
    """Build the serving index of ``model`` (at retrain: a pass over every paper and a k-means of the factors)."""
    n = model.n_items
    rng = np.random.default_rng(seed)
    content = model.content.tocsr()
    content_mean = np.asarray(content.mean(axis=0), dtype=np.float32).ravel() if n else np.zeros(content.shape[1], np.float32)
    sample = np.sort(rng.choice(n, size=min(n, CONTENT_SAMPLE), replace=False)) if n else np.zeros(0, dtype=np.int64)
    popular = np.argsort(-np.asarray(model.popularity), kind="stable")[:POPULAR].astype(np.int64)
    return ServingIndex(
        mean_factor=np.asarray(model.item_factors, dtype=np.float64).mean(axis=0) if n else np.zeros(model.item_factors.shape[1]),
        content_mean=content_mean,
        content_sample=sample.astype(np.int64),
        popular=popular,
        term_papers=heaviest_per_term(content, TERM_PAPERS),
        ann=factor_index(model.item_factors, seed=seed) if n > SCORE_ALL_BELOW else None,
        **(meaning_moments(model.meaning, model.meaning_missing) if model.meaning is not None and n else {}),
    )


def meaning_moments(meaning: np.ndarray, missing: np.ndarray | None = None) -> dict:
    """The mean meaning vector, E'E / n, the index (where the papers ``missing`` marks, which hold the mean vector, are
    never near anything) and the 8-bit copy (a block of float16 rows at a time)."""
    d = meaning.shape[1]
    total, gram = np.zeros(d), np.zeros((d, d))
    for start in range(0, len(meaning), ROWS_AT_ONCE):
        rows = np.asarray(meaning[start : start + ROWS_AT_ONCE], dtype=np.float64)
        total += rows.sum(axis=0)
        gram += rows.T @ rows
    codes, scales = quantized(meaning)
    return {
        "meaning_mean": total / len(meaning),
        "meaning_gram": gram / len(meaning),
        "meaning_ann": meaning_index(meaning, missing=missing),
        "meaning_codes": codes,
        "meaning_scales": scales,
    }


def heaviest_per_term(content: sparse.csr_matrix, k: int) -> sparse.csr_matrix:
    """(n_terms, n_items) CSR keeping, for each term, the ``k`` papers in which it weighs most."""
    by_term = content.T.tocsr()
    rows, papers, weights = top_per_row(by_term, k)
    return sparse.csr_matrix((weights, (rows, papers)), shape=by_term.shape, dtype=np.float32)


def factor_index(item_factors: np.ndarray, *, seed: int = 0):
    """A faiss inverted-file index over the item factors for inner-product search, its vectors stored in 8 bits
    (the candidates it returns are scored again exactly): about 4 sqrt(n) lists, trained on a sample."""
    import faiss

    factors = np.ascontiguousarray(item_factors, dtype=np.float32)
    n, f = factors.shape
    lists = int(max(1, min(4 * np.sqrt(n), n // 40, 8192)))  # faiss wants some 40 training points per list
    quantizer = faiss.IndexFlatIP(f)
    index = faiss.IndexIVFScalarQuantizer(quantizer, f, lists, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(seed)
    index.train(factors[rng.choice(n, size=min(n, 64 * lists), replace=False)])
    index.add(factors)
    index.nprobe = ANN_PROBES
    return index


@dataclass
class Catalogue:
    """The served papers: the model's (memory-mapped, never copied) and those added since training, in a small side
    block (factors mapped from their content, TF-IDF by the model's own encoder). Column ``j >= n_base`` is side row
    ``j - n_base``."""

    model: HybridModel
    index: ServingIndex
    side_factors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    side_content: sparse.csr_matrix | None = None
    side_meaning: np.ndarray | None = None  # (n_side, d) float16, when the model has meaning vectors
    side_missing: np.ndarray | None = None  # (n_side,) bool: side papers holding the mean vector, not their own (yet)

    def __post_init__(self) -> None:
        f, terms = self.model.item_factors.shape[1], self.model.content.shape[1]
        if self.side_factors.size == 0:
            self.side_factors = np.zeros((0, f), dtype=np.float32)
        if self.side_content is None:
            self.side_content = sparse.csr_matrix((len(self.side_factors), terms), dtype=np.float32)
        self.factor_rows = _Stacked(self.model.item_factors, self.side_factors)
        self.meaning_rows = self.meaning_code_rows = None
        if self.model.meaning is not None and self.index.meaning_mean is not None:
            if self.side_meaning is None or len(self.side_meaning) != len(self.side_factors):
                neutral = self.index.meaning_mean.astype(np.float16)[None, :]  # scores every reader's average
                self.side_meaning = np.repeat(neutral, len(self.side_factors), axis=0)
                self.side_missing = np.ones(len(self.side_factors), dtype=bool)
            self.meaning_rows = _Stacked(self.model.meaning, self.side_meaning)
            codes, scales = self.index.meaning_codes, self.index.meaning_scales
            if codes is None:  # a model saved without its 8-bit copy
                codes, scales = quantized(self.model.meaning)
                self.index.meaning_codes, self.index.meaning_scales = codes, scales
            self.meaning_code_rows = _Stacked(codes, quantized_with(self.side_meaning, scales))
        self.sample_vectors = self.model.content[self.index.content_sample]  # (S, n_terms): gathered once, not per reader

    @property
    def n_base(self) -> int:
        return self.model.n_items

    @property
    def n_items(self) -> int:
        return self.model.n_items + len(self.side_factors)

    def factors(self, columns: np.ndarray) -> np.ndarray:
        return self.factor_rows[columns]

    def vectors(self, columns: np.ndarray) -> sparse.csr_matrix:
        columns = np.asarray(columns, dtype=np.int64)
        if len(columns) == 0 or columns.max() < self.n_base:
            return self.model.content[columns]
        base, side = columns < self.n_base, columns >= self.n_base
        rows = sparse.vstack([self.model.content[columns[base]], self.side_content[columns[side] - self.n_base]], format="csr")
        order = np.empty(len(columns), dtype=np.int64)
        order[np.concatenate([np.flatnonzero(base), np.flatnonzero(side)])] = np.arange(len(columns))
        return rows[order]

    def known(self, columns: np.ndarray) -> np.ndarray:
        out = np.zeros(len(columns), dtype=bool)
        base = columns < self.n_base
        out[base] = self.model.known_items[columns[base]]
        return out

    def popularity(self, columns: np.ndarray) -> np.ndarray:
        out = np.zeros(len(columns), dtype=np.float32)
        base = columns < self.n_base
        out[base] = self.model.popularity[columns[base]]
        return out

    @property
    def uses_meaning(self) -> bool:
        return self.meaning_rows is not None and self.model.blend.meaning_share > 0

    def meaning_missing(self, columns: np.ndarray) -> np.ndarray:
        """(len(columns),) bool: papers without a meaning vector of their own yet (they hold the mean vector and are read
        by their words alone)."""
        out = np.zeros(len(columns), dtype=bool)
        base = columns < self.n_base
        if self.model.meaning_missing is not None:
            out[base] = self.model.meaning_missing[columns[base]]
        if self.side_missing is not None and not base.all():
            out[~base] = self.side_missing[columns[~base] - self.n_base]
        return out

    def similarity(self, anchors: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """(len(anchors), len(columns)) how alike the papers' texts are: the TF-IDF cosine, and with meaning vectors
        ``(1 - meaning_share)`` of it plus ``meaning_share`` times the meaning cosine (as the blend weighs them)."""
        if not self.uses_meaning:
            return self.text_similarity(self.vectors(anchors), None, columns)
        meanings = np.asarray(self.meaning_rows[anchors], dtype=np.float32)
        return self.text_similarity(self.vectors(anchors), meanings, columns, self.meaning_missing(anchors))

    def text_similarity(
        self, vectors: sparse.csr_matrix, meanings: np.ndarray | None, columns: np.ndarray, missing: np.ndarray | None = None
    ) -> np.ndarray:
        """(len(vectors), len(columns)) :meth:`similarity` for any texts: their TF-IDF ``vectors`` (by the model's
        vocabulary) and unit meaning vectors ``meanings`` (None: by TF-IDF alone; ``missing`` marks texts whose row is
        a placeholder). A pair where either paper has no meaning vector of its own is compared by TF-IDF alone."""
        sims = np.asarray((vectors @ self.vectors(columns).T).todense(), dtype=np.float32)
        if meanings is not None and self.uses_meaning:
            without = self.meaning_missing(columns)[None, :] | (False if missing is None else missing[:, None])
            share = np.where(without, np.float32(0.0), np.float32(self.model.blend.meaning_share))
            sims = (1 - share) * sims + share * (meanings @ np.asarray(self.meaning_rows[columns], dtype=np.float32).T)
        return sims

    def unit_factors(self, columns: np.ndarray) -> np.ndarray:
        rows = self.factors(columns)
        norms = np.linalg.norm(rows, axis=1)
        return rows / np.where(norms > 0, norms, 1.0)[:, None]


class _Stacked:
    """Rows of two arrays as one, for fancy indexing only (the fold-in reads a reader's item rows this way)."""

    def __init__(self, base: np.ndarray, side: np.ndarray) -> None:
        self.base, self.side = base, side
        self.shape = (len(base) + len(side), base.shape[1])

    def __getitem__(self, columns) -> np.ndarray:
        columns = np.asarray(columns, dtype=np.int64)
        if len(columns) == 0 or columns.max() < len(self.base):
            return np.asarray(self.base[columns], dtype=np.float32)
        out = np.empty((len(columns), self.shape[1]), dtype=np.float32)
        base = columns < len(self.base)
        out[base] = self.base[columns[base]]
        out[~base] = self.side[columns[~base] - len(self.base)]
        return out


class Spread(NamedTuple):
    """A signal's mean and standard deviation over the catalogue (the deviation 1 where the signal is flat)."""

    mean: float
    std: float

    def z(self, values: np.ndarray) -> np.ndarray:
        """``values`` standardised: float32 (values - mean) / std."""
        return ((np.asarray(values, dtype=np.float64) - self.mean) / self.std).astype(np.float32)


class SparseRow(NamedTuple):
    """One sparse row: its column indices (ascending) and values."""

    indices: np.ndarray
    data: np.ndarray


@dataclass
class Reader:
    """What scoring a reader needs from their feedback row: folded-in factors, content profile, graph row, and the
    mean and spread of each signal over the whole catalogue (closed forms, see the module's docstring)."""

    factors: np.ndarray  # (f,)
    profile: np.ndarray  # (n_terms,) dense: the content scores are then matrix-vector products
    graph: SparseRow | None  # the reader's item-item scores over the model's papers; None without a graph
    wanted: int  # papers the reader wants (positive cells)
    cf_stats: Spread  # of the collaborative score over the catalogue
    content_stats: Spread  # ... of the content score (the deviation from a fixed sample of papers)
    graph_stats: Spread = Spread(0.0, 1.0)  # ... of the graph score
    nearest: np.ndarray | None = None  # the index's nearest papers to ``factors`` (searched for all readers at once)
    meaning: np.ndarray | None = None  # (d,) the meaning profile (None: the model has no meaning vectors)
    meaning_stats: Spread = Spread(0.0, 1.0)  # ... of the meaning score


def readers(catalogue: Catalogue, weights: sparse.csr_matrix) -> list[Reader]:
    """Everything :func:`score` needs for every row of ``weights`` (n_readers, n_items), computed for all the rows at
    once: the fold-in, one search of the index, the content profiles and graph rows as two sparse products, and each
    signal's mean and spread as array operations (but the content spread: a product of the fixed sample with each
    reader's dense profile, which costs less than one sparse product for a batch)."""
    model, index = catalogue.model, catalogue.index
    n = max(catalogue.n_base, 1)
    weights = weights.tocsr()
    factors = fold_in_batch(
        catalogue.factor_rows, model.gram, weights, alpha=model.als.alpha, regularization=model.als.regularization, m_inv=model.gram_inverse
    )
    nearest = index.nearest_each(factors) if catalogue.n_items > SCORE_ALL_BELOW else [None] * len(factors)
    coefficients = profile_coefficients(weights, model.blend.negative_weight)
    profiles = _through(coefficients, catalogue.vectors)  # (n_readers, n_terms)
    meanings = meaning_stats = None
    if catalogue.uses_meaning:
        meanings = meaning_profiles(catalogue.meaning_rows, coefficients, catalogue.meaning_missing).astype(np.float64)  # (n_readers, d)
        meaning_mean = meanings @ index.meaning_mean
        meaning_stats = (meaning_mean, _spreads(np.einsum("rd,rd->r", meanings @ index.meaning_gram, meanings) - meaning_mean**2))
    u = factors.astype(np.float64)
    cf_mean = u @ index.mean_factor
    cf_spread = _spreads(np.einsum("rf,rf->r", u @ model.gram, u) / n - cf_mean**2)
    content_mean = np.asarray(profiles @ index.content_mean.astype(np.float64)).ravel()
    graphs = None
    if model.uses_graph:
        graphs = _through(coefficients[:, : catalogue.n_base], lambda columns: model.graph[columns])  # (n_readers, n_base)
        graphs.eliminate_zeros()
        graphs.sort_indices()
        rows = np.repeat(np.arange(graphs.shape[0]), np.diff(graphs.indptr))
        graph_mean = np.bincount(rows, weights=graphs.data, minlength=graphs.shape[0]) / n
        graph_spread = _spreads(
            np.bincount(rows, weights=graphs.data.astype(np.float64) ** 2, minlength=graphs.shape[0]) / n - graph_mean**2
        )
    out = []
    for row in range(weights.shape[0]):
        profile = np.zeros(profiles.shape[1], dtype=np.float32)
        terms, values = _row(profiles, row)
        profile[terms] = values
        sample = np.asarray(catalogue.sample_vectors @ profile, dtype=np.float64)  # the content spread's sample of papers
        content_spread = _spread(float(np.mean((sample - content_mean[row]) ** 2)) if len(sample) else 0.0)
        graph, graph_stats = None, Spread(0.0, 1.0)
        if graphs is not None:
            papers, values = _row(graphs, row)
            graph, graph_stats = SparseRow(papers, values.astype(np.float64)), Spread(float(graph_mean[row]), float(graph_spread[row]))
        out.append(
            Reader(
                factors[row],
                profile,
                graph,
                int((_row(weights, row)[1] > 0).sum()),
                Spread(float(cf_mean[row]), float(cf_spread[row])),
                Spread(float(content_mean[row]), content_spread),
                graph_stats,
                nearest[row],
                None if meanings is None else meanings[row].astype(np.float32),
                Spread(0.0, 1.0) if meanings is None else Spread(float(meaning_stats[0][row]), float(meaning_stats[1][row])),
            )
        )
    return out


def _row(matrix: sparse.csr_matrix, row: int) -> tuple[np.ndarray, np.ndarray]:
    """The column indices and values of one row of a CSR matrix (views, no scipy row object)."""
    start, end = matrix.indptr[row], matrix.indptr[row + 1]
    return matrix.indices[start:end], matrix.data[start:end]


def _through(coefficients: sparse.csr_matrix, rows_of) -> sparse.csr_matrix:
    """``coefficients @ M`` (n_readers, M's columns) for a big ``M`` given by ``rows_of(columns)``: only the rows the
    readers have are gathered (one block), then one sparse product."""
    coefficients = coefficients.tocsr()
    gathered = rows_of(coefficients.indices)  # (nnz, M's columns)
    selector = sparse.csr_matrix(
        (coefficients.data, np.arange(coefficients.nnz), coefficients.indptr), shape=(coefficients.shape[0], coefficients.nnz)
    )
    return (selector @ gathered).tocsr()


def candidates(catalogue: Catalogue, reader: Reader, *, recent: np.ndarray | None = None, breadth: float = 1.0) -> np.ndarray:
    """Sorted columns worth scoring for ``reader``: the whole catalogue when it is small, else the index's nearest
    papers, the graph's strongest, the heaviest papers of the profile's strongest terms, the nearest papers by meaning,
    the papers added since training, ``recent`` ones and the popular ones. ``breadth`` in (0, 1] scales how many the index, the graph, the
    profile and popularity give (a list of ten papers, the weekly email, needs fewer than a feed that pages)."""
    if catalogue.n_items <= SCORE_ALL_BELOW:
        return np.arange(catalogue.n_items)
    index = catalogue.index
    nearest = index.nearest(reader.factors) if reader.nearest is None else reader.nearest
    parts = [nearest[: _scaled(ANN_CANDIDATES, breadth)], index.popular[: _scaled(POPULAR, breadth)]]
    if reader.graph is not None and len(reader.graph.indices):
        parts.append(_strongest(reader.graph.indices, reader.graph.data, _scaled(GRAPH_CANDIDATES, breadth)))
    terms = np.flatnonzero(reader.profile)
    by_term = index.term_papers
    for term in _strongest(terms, reader.profile[terms], _scaled(PROFILE_TERMS, breadth)):
        parts.append(by_term.indices[by_term.indptr[term] : by_term.indptr[term + 1]])
    if catalogue.n_items > catalogue.n_base:
        parts.append(np.arange(max(catalogue.n_base, catalogue.n_items - SIDE_CANDIDATES), catalogue.n_items))
    if reader.meaning is not None and index.meaning_ann is not None:
        parts.append(nearest_by_meaning(index.meaning_ann, reader.meaning[None, :], _scaled(MEANING_CANDIDATES, breadth))[0][0])
    if recent is not None:
        parts.append(recent)
    return distinct(np.concatenate([np.asarray(p, dtype=np.int64) for p in parts]))


def _scaled(count: int, breadth: float) -> int:
    return max(1, round(count * min(max(breadth, 0.0), 1.0)))


def score(
    catalogue: Catalogue,
    reader: Reader,
    columns: np.ndarray,
    *,
    freshness: np.ndarray | None = None,
    cf_balance: float = float("nan"),
    popularity: tuple[np.ndarray, Spread] | None = None,
) -> BlendedScores:
    """The blend of ``HybridModel.score_parts`` for one reader over ``columns``, each signal standardised by its
    mean and spread over the whole catalogue (closed forms, see the module's docstring).

    ``freshness`` (len(columns),) in [0, 1]; ``cf_balance`` the reader's own collaborative share (NaN: the tuned
    blend); ``popularity`` (values over ``columns``, mean, std) replaces the model's for readers who want nothing yet.
    """
    return score_many(catalogue, [reader], columns, freshness=freshness, cf_balance=cf_balance, popularity=popularity)[0]


def score_many(
    catalogue: Catalogue,
    readers: list[Reader],
    columns: np.ndarray,
    *,
    freshness: np.ndarray | None = None,
    cf_balance: float = float("nan"),
    popularity: tuple[np.ndarray, Spread] | None = None,
) -> list[BlendedScores]:
    """:func:`score` of several readers (a reader's interests) over the same ``columns``: the columns' factors and
    vectors are gathered once, and each signal is one product for all the readers."""
    known = catalogue.known(columns)
    als = catalogue.factors(columns) @ np.vstack([reader.factors for reader in readers]).astype(np.float32).T  # (columns, readers)
    vectors = catalogue.vectors(columns)  # gathered once; one product per reader (their dense profiles are large)
    meaning, missing = [None] * len(readers), None
    if catalogue.uses_meaning and readers[0].meaning is not None:
        profiles = np.vstack([reader.meaning for reader in readers]) * catalogue.index.meaning_scales  # codes . (scales * p)
        meaning = list((catalogue.meaning_code_rows[columns] @ profiles.T).T)
        missing = catalogue.meaning_missing(columns)
    return [
        _blended(
            catalogue, reader, columns, als[:, i], vectors @ reader.profile, known, freshness, cf_balance, popularity, meaning[i], missing
        )
        for i, reader in enumerate(readers)
    ]


def _blended(
    catalogue: Catalogue,
    reader: Reader,
    columns: np.ndarray,
    als: np.ndarray,
    content: np.ndarray,
    known: np.ndarray,
    freshness: np.ndarray | None,
    cf_balance: float,
    popularity: tuple[np.ndarray, Spread] | None,
    meaning: np.ndarray | None = None,
    meaning_missing: np.ndarray | None = None,
) -> BlendedScores:
    """One reader's blend from their raw ALS, content and meaning scores over ``columns`` (see :func:`score`)."""
    z_graph = None if reader.graph is None else reader.graph_stats.z(_values_at(reader.graph, columns))
    z_popularity = None
    if reader.wanted == 0:
        if popularity is None:
            popularity = catalogue.popularity(columns), popularity_stats(catalogue.model.popularity)
        values, spread = popularity
        z_popularity = spread.z(values)
    return blend_signals(
        reader.cf_stats.z(als),
        reader.content_stats.z(content),
        z_graph,
        known=known,
        wanted=reader.wanted,
        blend=catalogue.model.blend,
        cf_balance=cf_balance,
        z_popularity=z_popularity,
        freshness=freshness,
        z_meaning=None if meaning is None else reader.meaning_stats.z(meaning),
        meaning_missing=meaning_missing,
    )


def _strongest(keys: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    """The ``keys`` of the ``k`` largest ``values`` (in no particular order)."""
    if len(values) <= k:
        return keys
    return keys[np.argpartition(-values, k - 1)[:k]]


def _values_at(row: SparseRow, columns: np.ndarray) -> np.ndarray:
    """(len(columns),) float64 the entries of ``row`` at ``columns`` (0 where it has none), by a search of its sorted
    indices."""
    positions = np.searchsorted(row.indices, columns)
    found = positions < len(row.indices)
    found[found] = row.indices[positions[found]] == columns[found]
    values = np.zeros(len(columns), dtype=np.float64)
    values[found] = row.data[positions[found]]
    return values


def distinct(values: np.ndarray) -> np.ndarray:
    """The distinct ``values``, sorted (``np.unique`` without its overheads: a few thousand candidates per reader)."""
    ordered = np.sort(values)
    keep = np.ones(len(ordered), dtype=bool)
    keep[1:] = ordered[1:] != ordered[:-1]
    return ordered[keep]


def popularity_stats(popularity: np.ndarray) -> Spread:
    values = np.asarray(popularity, dtype=np.float64)
    return Spread(float(values.mean()), _spread(float(values.var()))) if len(values) else Spread(0.0, 1.0)


def _spreads(variances: np.ndarray) -> np.ndarray:
    """Standard deviations from ``variances`` (1 where a signal is flat: its z-scores are then 0, not NaN)."""
    variances = np.asarray(variances, dtype=np.float64)
    return np.where(variances > 1e-18, np.sqrt(np.maximum(variances, 1e-18)), 1.0)


def _spread(variance: float) -> float:
    return float(_spreads(np.array([variance]))[0])
