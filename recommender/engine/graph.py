"""The item-item signal: RP3beta, a random walk of three steps on the reader-paper graph.

From a paper a reader wanted, the walk steps to one of its readers, then to another paper of that
reader; ``W[i, j]`` is the probability of reaching paper j from paper i that way (each step's
probabilities raised to ``alpha``), divided by j's number of readers to the power ``beta`` so that
the papers everyone saved do not crowd out the rest (Paudel et al., "Updatable, accurate, diverse,
and scalable recommendations for interactive applications", TiiS 2017). Only the ``neighbours``
largest entries of each row are kept: the artifact stores them, and a reader's score of every
paper is then one sparse product of their feedback row with ``W``, so new feedback counts at once.
No Django here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import sparse

PAIRS_PER_CHUNK = 20_000_000  # paper pairs expanded at once while building W (memory: about 16 bytes each)


@dataclass(frozen=True)
class GraphParams:
    alpha: float = 0.5  # exponent on each step's transition probabilities (1: the plain walk)
    beta: float = 0.3  # popularity penalty: a neighbour's score is divided by its readers ** beta
    neighbours: int = 200  # entries kept per paper
    max_reader_papers: int = 1000  # a reader with more papers joins the walk with a fixed random sample of them

    def as_dict(self) -> dict:
        return asdict(self)


def rp3beta_neighbours(wanted: sparse.csr_matrix, params: GraphParams = GraphParams(), *, seed: int = 0) -> sparse.csr_matrix:
    """(n_items, n_items) float32 CSR: row i holds the ``params.neighbours`` papers most reached from paper i.

    ``wanted`` is (n_readers, n_items) with positive weights where a reader wanted a paper (other entries
    are ignored); a step's probabilities follow those weights. The diagonal is left out. Built a block of
    rows at a time, each block's candidate pairs kept sparse, so memory follows the pairs, not n_items squared.
    """
    n_items = wanted.shape[1]
    walk = _capped(sparse.csr_matrix(wanted.maximum(0), dtype=np.float32), params.max_reader_papers, seed)
    walk.eliminate_zeros()
    reader_to_paper = _row_normalised(walk)
    paper_to_reader = _row_normalised(walk.T.tocsr())
    if params.alpha != 1.0:
        reader_to_paper.data **= np.float32(params.alpha)
        paper_to_reader.data **= np.float32(params.alpha)
    readers_of = np.asarray((walk > 0).sum(axis=0), dtype=np.float64).ravel()
    penalty = np.power(np.maximum(readers_of, 1.0), -params.beta).astype(np.float32)
    # Pairs each paper's row expands to (the sum of its readers' library sizes), to cut the rows into blocks.
    pattern = paper_to_reader.copy()
    pattern.data[:] = 1.0
    pairs_per_paper = np.asarray(pattern @ np.diff(reader_to_paper.indptr).astype(np.float64)).ravel()
    blocks = []
    start = 0
    while start < n_items:
        end = start + 1
        budget = pairs_per_paper[start]
        while end < n_items and budget + pairs_per_paper[end] <= PAIRS_PER_CHUNK:
            budget += pairs_per_paper[end]
            end += 1
        block = (paper_to_reader[start:end] @ reader_to_paper).tocsr()  # (end - start, n_items): P(i -> j) in three steps
        block.data *= penalty[block.indices]
        block.setdiag(0.0, k=start)  # a paper is not its own neighbour
        block.eliminate_zeros()
        rows, cols, values = top_per_row(block, params.neighbours)
        blocks.append((rows + start, cols, values))
        start = end
    if not blocks:
        return sparse.csr_matrix((n_items, n_items), dtype=np.float32)
    rows, cols, values = (np.concatenate(parts) for parts in zip(*blocks))
    return sparse.csr_matrix((values.astype(np.float32), (rows, cols)), shape=(n_items, n_items), dtype=np.float32)


def graph_scores(
    graph: sparse.csr_matrix, weights: sparse.csr_matrix, *, negative_weight: float = 0.5, columns: np.ndarray | None = None
) -> np.ndarray:
    """(n_readers, n_columns) item-item scores: each reader's wanted papers' rows of ``graph`` summed by their weights,
    less ``negative_weight`` times those of papers they turned down (so papers often saved with one they dismissed drop).
    """
    profile = weights.maximum(0)
    negative = (-weights).maximum(0)
    if negative.nnz and negative_weight:
        profile = profile - negative_weight * negative
    scores = profile @ graph
    if columns is not None:
        scores = scores[:, columns]
    return np.asarray(scores.toarray() if sparse.issparse(scores) else scores, dtype=np.float32)


def strongest_link(graph: sparse.csr_matrix, sources: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``targets``: which of ``sources`` leads to it most strongly (its index in ``sources``) and how
    strongly (0 where none does)."""
    if len(sources) == 0 or len(targets) == 0:
        return np.zeros(len(targets), dtype=np.int64), np.zeros(len(targets), dtype=np.float32)
    links = graph[sources][:, targets].toarray()  # (sources, targets)
    return np.argmax(links, axis=0), links.max(axis=0)


def _capped(walk: sparse.csr_matrix, cap: int, seed: int) -> sparse.csr_matrix:
    """``walk`` with each row of more than ``cap`` entries cut to a fixed random ``cap`` of them: one reader with a
    huge library would otherwise add the square of its size to the pairs."""
    counts = np.diff(walk.indptr)
    if cap <= 0 or counts.max(initial=0) <= cap:
        return walk
    rng = np.random.default_rng(seed)
    keep = np.ones(walk.nnz, dtype=bool)
    for row in np.flatnonzero(counts > cap):
        start, end = walk.indptr[row], walk.indptr[row + 1]
        dropped = rng.choice(end - start, end - start - cap, replace=False)
        keep[start + dropped] = False
    coo = walk.tocoo()
    return sparse.csr_matrix((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=walk.shape, dtype=np.float32)


def _row_normalised(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    sums = np.asarray(matrix.sum(axis=1), dtype=np.float64).ravel()
    out = matrix.copy().astype(np.float32)
    out.data /= np.repeat(np.where(sums > 0, sums, 1.0), np.diff(out.indptr)).astype(np.float32)
    return out


def top_per_row(block: sparse.csr_matrix, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` largest entries of each row of ``block`` as (rows, cols, values), in any order: rows with at most
    ``k`` entries keep them all, the others are cut by a partition of their own entries."""
    counts = np.diff(block.indptr)
    keep = np.ones(block.nnz, dtype=bool)
    for row in np.flatnonzero(counts > k):
        start, end = block.indptr[row], block.indptr[row + 1]
        segment = keep[start:end]
        segment[:] = False
        segment[np.argpartition(-block.data[start:end], k - 1)[:k]] = True
    rows = np.repeat(np.arange(block.shape[0]), counts)
    return rows[keep], block.indices[keep], block.data[keep]
