"""A reader's interests (facets): their wanted papers split into a few topics, so that the largest interest does not
crowd out the rest of the feed. No Django here.

The split is k-means (scikit-learn) over the papers' unit ALS factors, k = 2 to ``MAX_FACETS`` chosen by the cosine
silhouette, among splits whose every part holds ``MIN_FACET_PAPERS`` papers; a reader whose best split is not
clearly better than none (silhouette under ``SPLIT_THRESHOLD``), or whose parts point the same way (centroids closer
than ``SAME_TOPIC``), keeps one facet. Each facet is folded in alone; the
reader's ranking is the sum of the facets' blended scores weighted by the square root of their sizes
(:func:`combined`), and each facet large enough gets its best ``HEADS_PER_FACET`` papers on the first page
(:func:`page_floor`).
Measured on citeulike-a's merged readers (BENCHMARKS.md): the factor space splits better than the content, and
this blend keeps overall recall while the smaller interest is found more often.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

MAX_FACETS = 6
MIN_FACET_PAPERS = 3  # a facet holds this many papers at least
MIN_PAPERS_TO_SPLIT = 2 * MIN_FACET_PAPERS  # fewer wanted papers than this: one facet
SPLIT_THRESHOLD = 0.05  # the cosine silhouette a split must beat
SAME_TOPIC = 0.9  # parts whose centroids' cosine is above this are one topic
HEADS_PER_FACET = 2  # each facet's best papers sure of a place on the first page
HEAD_SHARE = 0.15  # ... for facets with this share of the reader's papers
MIN_HEAD_PAPERS = 3  # ... and this many papers at least
FIRST_PAGE = 20  # the page those places are on
SIZE_POWER = 0.5  # a facet's weight in the blend: size ** SIZE_POWER


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (zero rows stay zero)."""
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def split(vectors: np.ndarray, *, most: int = MAX_FACETS, threshold: float = SPLIT_THRESHOLD, seed: int = 0) -> np.ndarray:
    """Facet labels 0..k-1 (largest facet first) for papers with factor rows ``vectors`` (n, f)."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    n = len(vectors)
    labels = np.zeros(n, dtype=np.int64)
    if n < MIN_PAPERS_TO_SPLIT:
        return labels
    unit = unit_rows(vectors)
    if len(np.unique(unit.round(6), axis=0)) < 2:
        return labels
    best = threshold
    for k in range(2, min(most, n // MIN_FACET_PAPERS) + 1):
        found = KMeans(n_clusters=k, n_init=3, random_state=seed).fit_predict(unit)
        if np.bincount(found, minlength=k).min() < MIN_FACET_PAPERS:  # one or two papers are not an interest
            continue
        quality = silhouette_score(unit, found, metric="cosine")
        if quality > best:
            best, labels = quality, found
    return _ordered(_same_topics_joined(unit, labels))


def _same_topics_joined(unit: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``labels`` with parts whose centroids point the same way (cosine above SAME_TOPIC) made one."""
    labels = labels.copy()
    while True:
        parts = np.unique(labels)
        if len(parts) < 2:
            return labels
        centres = unit_rows(np.vstack([unit[labels == p].mean(axis=0) for p in parts]))
        cosines = centres @ centres.T
        np.fill_diagonal(cosines, -np.inf)
        a, b = np.unravel_index(np.argmax(cosines), cosines.shape)
        if cosines[a, b] <= SAME_TOPIC:
            return labels
        labels[labels == parts[b]] = parts[a]


def _ordered(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered 0..k-1 by size, largest first (ties by first appearance)."""
    parts, first, counts = np.unique(labels, return_index=True, return_counts=True)
    order = parts[np.lexsort((first, -counts))]
    renumber = {int(old): new for new, old in enumerate(order)}
    return np.array([renumber[int(label)] for label in labels], dtype=np.int64)


def centroids(vectors: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """(k, f) unit mean direction of each facet's papers (zero for an empty facet)."""
    unit = unit_rows(vectors)
    out = np.zeros((k, unit.shape[1] if unit.ndim == 2 else 0))
    for facet in range(k):
        if (labels == facet).any():
            out[facet] = unit[labels == facet].mean(axis=0)
    return unit_rows(out)


def nearest(vectors: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """For each paper (factor rows ``vectors``), the facet whose centre is closest in direction."""
    if len(vectors) == 0 or len(centres) == 0:
        return np.zeros(len(vectors), dtype=np.int64)
    return np.argmax(unit_rows(vectors) @ centres.T, axis=1).astype(np.int64)


def matched(old: list[set[int]], new: list[set[int]]) -> list[int | None]:
    """For each new facet (a set of papers), the old facet it continues (the largest overlap, each old one used
    once), or None: how a re-split keeps the names, renames and hidden flags the reader knows."""
    pairs = sorted(
        ((len(n & o) / len(n | o), i, j) for i, n in enumerate(new) for j, o in enumerate(old) if n & o),
        reverse=True,
    )
    out: list[int | None] = [None] * len(new)
    used: set[int] = set()
    for _, i, j in pairs:
        if out[i] is None and j not in used:
            out[i] = j
            used.add(j)
    return out


def blend_weights(sizes: np.ndarray) -> np.ndarray:
    """Each facet's share of the reader's blend: size ** SIZE_POWER, summing to 1."""
    raw = np.asarray(sizes, dtype=np.float64) ** SIZE_POWER
    return raw / raw.sum() if raw.sum() > 0 else raw


def combined(scores: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """(n,) the reader's score of each paper from their facets' scores (k, n)."""
    return (blend_weights(sizes)[:, None] * scores).sum(axis=0).astype(np.float32)


def page_floor(
    order: np.ndarray, bests: list[np.ndarray], sizes, *, page: int, per_facet: int = HEADS_PER_FACET
) -> tuple[np.ndarray, dict[int, int]]:
    """``order`` (papers, best first) with each facet's best ``per_facet`` papers (``bests``: each facet's papers,
    best first) within its first ``page``: those missing take the page's last places (half the page at most), and
    the papers they displace move down. Facets under HEAD_SHARE of the reader's papers or MIN_HEAD_PAPERS get no
    place of their own. Returns the new order and the facet of each paper placed so."""
    sizes = np.asarray(sizes, dtype=np.float64)
    if len(bests) < 2:
        return order, {}
    top = order[:page].tolist()
    placed: dict[int, int] = {}
    for facet in np.argsort(-sizes, kind="stable"):
        if sizes[facet] < max(MIN_HEAD_PAPERS, HEAD_SHARE * sizes.sum()):
            continue
        for paper in bests[facet][:per_facet].tolist():
            if paper not in top and paper not in placed and len(placed) < page // 2:
                placed[paper] = int(facet)
    if not placed:
        return order, {}
    head = np.array(top[: max(page - len(placed), 0)] + list(placed), dtype=order.dtype)
    return np.concatenate([head, order[~np.isin(order, head)]]), placed


def facet_rows(weights: sparse.csr_matrix, members: list[np.ndarray]) -> sparse.csr_matrix:
    """One feedback row per facet from a reader's row ``weights`` (1, n): the facet's wanted papers (``members``, its
    columns) and every turned-down one (a "not interested" steers every interest); built as one CSR matrix."""
    columns, values = weights.indices, weights.data
    keeps = [(values <= 0) | np.isin(columns, papers) for papers in members]
    indptr = np.concatenate([[0], np.cumsum([int(keep.sum()) for keep in keeps])]).astype(np.int64)
    if not keeps:
        return sparse.csr_matrix((0, weights.shape[1]), dtype=weights.dtype)
    return sparse.csr_matrix(
        (np.concatenate([values[keep] for keep in keeps]), np.concatenate([columns[keep] for keep in keeps]), indptr),
        shape=(len(members), weights.shape[1]),
    )


def name_of(content: sparse.csr_matrix, terms: np.ndarray, *, most: int = 3) -> str:
    """A facet's name: the strongest terms of its papers' summed TF-IDF vectors ``content`` (its rows)."""
    if content.shape[0] == 0 or len(terms) == 0:
        return ""
    weight = np.asarray(content.sum(axis=0)).ravel()
    best = np.argsort(-weight, kind="stable")[:most]
    return ", ".join(str(terms[t]) for t in best if weight[t] > 0)


def members_of(catalogue, weights: sparse.csr_matrix) -> list[np.ndarray]:
    """A reader's facets found afresh: the columns of their wanted papers (row ``weights``, (1, n)) per facet,
    largest first (one facet, or none for a reader who wants nothing)."""
    wanted = weights.indices[weights.data > 0]
    if len(wanted) == 0:
        return []
    labels = split(catalogue.factors(wanted))
    return [np.sort(wanted[labels == facet]) for facet in range(int(labels.max()) + 1)]


def candidates_of(catalogue, parts: list, *, breadth: float = 1.0, recent: np.ndarray | None = None) -> np.ndarray:
    """Sorted columns worth scoring for a reader made of facet readers ``parts`` (``serving.Reader``): the union of
    each facet's candidates (``serving.candidates``), each of ``breadth`` over the square root of their number."""
    from recommender.engine.serving import candidates, distinct

    share = breadth / np.sqrt(len(parts))  # together about as many as one reader's, so scoring them costs about as much
    found = [candidates(catalogue, part, breadth=share, recent=recent) for part in parts]
    return found[0] if len(found) == 1 else distinct(np.concatenate(found))
