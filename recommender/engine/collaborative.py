"""Implicit-feedback ALS (the ``implicit`` library) and fold-in of one reader's feedback.

Fitting needs ``implicit``; scoring and fold-in need only numpy, so web processes can
serve from saved factors without it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import sparse


@dataclass(frozen=True)
class ALSParams:
    factors: int = 256
    regularization: float = 10.0
    iterations: int = 15
    alpha: float = 40.0
    use_gpu: bool = False
    num_threads: int = 1
    random_state: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def als_model(params: ALSParams, *, iterations: int | None = None):
    """implicit's ``AlternatingLeastSquares`` with ``params`` (``iterations`` instead of ``params.iterations``), made
    under one BLAS thread, as implicit asks."""
    from implicit.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):  # implicit checks BLAS threads when it is created
        return AlternatingLeastSquares(
            factors=params.factors,
            regularization=params.regularization,
            iterations=iterations or params.iterations,
            alpha=params.alpha,
            use_gpu=params.use_gpu,
            num_threads=params.num_threads,
            random_state=params.random_state,
        )


def als_fit(
    confidence: sparse.csr_matrix, params: ALSParams, *, item_factors: np.ndarray | None = None, iterations: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Fit ALS on an (n_users, n_items) confidence CSR; returns float32 user (n_users, f) and item (n_items, f) factors.

    ``item_factors`` (n_items, f) starts the fit from a model fitted on nearly the same data (the parameter search's),
    for ``iterations`` instead of ``params.iterations``: the first step solves every reader against them.
    """
    from threadpoolctl import threadpool_limits

    if not sparse.isspmatrix_csr(confidence):
        raise TypeError("confidence must be a scipy.sparse CSR matrix")
    model = als_model(params, iterations=iterations)
    with threadpool_limits(limits=1, user_api="blas"):
        if item_factors is not None:
            if item_factors.shape != (confidence.shape[1], params.factors):
                raise ValueError(f"item_factors must be ({confidence.shape[1]}, {params.factors}), not {item_factors.shape}")
            model.item_factors = np.array(item_factors, dtype=np.float32)
        model.fit(confidence.astype(np.float32), show_progress=False)
    if params.use_gpu:
        model = model.to_cpu()
    return np.ascontiguousarray(model.user_factors, dtype=np.float32), np.ascontiguousarray(model.item_factors, dtype=np.float32)


def item_gram(item_factors: np.ndarray) -> np.ndarray:
    """YtY, shape (f, f): computed once per model and reused by every fold-in."""
    return (item_factors.T @ item_factors).astype(np.float64)


def shared_inverse(gram: np.ndarray, regularization: float) -> np.ndarray:
    """(YtY + reg I)^-1, shape (f, f): the part of every reader's fold-in system they all share."""
    return np.linalg.inv(gram + regularization * np.eye(gram.shape[0]))


def fold_in(
    item_factors: np.ndarray, gram: np.ndarray, items: np.ndarray, weights: np.ndarray, *, alpha: float, regularization: float
) -> np.ndarray:
    """A reader's factors (f,) from their current feedback, by the same least squares ALS solves for every user.

    ``items`` are column indices, ``weights`` their confidence-matrix values (negative for negative evidence).
    """
    f = item_factors.shape[1]
    if len(items) == 0:
        return np.zeros(f, dtype=np.float32)
    y = item_factors[items].astype(np.float64)
    c = alpha * np.asarray(weights, dtype=np.float64)
    a = gram + regularization * np.eye(f) + (y.T * (np.abs(c) - 1.0)) @ y
    b = y[c > 0].T @ c[c > 0]
    return np.linalg.solve(a, b).astype(np.float32)


def fold_in_batch(
    item_factors: np.ndarray,
    gram: np.ndarray,
    weights: sparse.csr_matrix,
    *,
    alpha: float,
    regularization: float,
    small: int = 64,
    m_inv: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`fold_in` for every row of ``weights`` (n_readers, n_items) at once: (n_readers, f), float32.

    Every reader's system is ``M + Y_u^T D_u Y_u`` with the same ``M = YtY + reg I``, so for readers
    with few papers (at most ``small``, and at most f/2) the Woodbury identity turns one f x f solve per reader into
    one shared inverse and a small k x k solve each, batched. Others are solved directly. ``m_inv``
    is that inverse when the caller keeps it (see :func:`shared_inverse`).
    """
    n_readers, f = weights.shape[0], item_factors.shape[1]
    out = np.zeros((n_readers, f), dtype=np.float32)
    counts = np.diff(weights.indptr)
    small = min(small, f // 2)  # past that the k x k system is no smaller, and worse conditioned
    light = np.flatnonzero((counts > 0) & (counts <= small))
    for row in np.flatnonzero(counts > small):
        start, end = weights.indptr[row], weights.indptr[row + 1]
        out[row] = fold_in(
            item_factors, gram, weights.indices[start:end], weights.data[start:end], alpha=alpha, regularization=regularization
        )
    if len(light) == 0:
        return out
    m_inv = shared_inverse(gram, regularization) if m_inv is None else m_inv
    # Woodbury: (M + Y' D Y)^-1 = M^-1 - M^-1 Y' (D^-1 + Y M^-1 Y')^-1 Y M^-1, with Y a reader's k item rows and D their
    # confidences less one; the solution x = (M + Y' D Y)^-1 b then needs only a k x k solve per reader.
    for chunk in np.array_split(light[np.argsort(counts[light])], max(1, len(light) // 256)):
        k = int(counts[chunk].max())
        rows = np.zeros((len(chunk), k, f))  # Y per reader, zero-padded to k rows
        confidence = np.zeros((len(chunk), k))  # alpha * weight per row (negative for negative evidence)
        for i, row in enumerate(chunk):
            start, end = weights.indptr[row], weights.indptr[row + 1]
            rows[i, : end - start] = item_factors[weights.indices[start:end]]
            confidence[i, : end - start] = alpha * weights.data[start:end]
        d = np.abs(confidence) - 1.0
        d[confidence == 0] = 1.0  # padding rows have y = 0 and change nothing
        d[d == 0] = 1e-12  # a confidence of exactly 1 adds nothing to the system
        b = np.einsum("ukf,uk->uf", rows, np.where(confidence > 0, confidence, 0.0))  # Y' c for the wanted papers
        m_inv_b = b @ m_inv  # M^-1 b
        m_inv_rows = rows @ m_inv  # Y M^-1, (readers, k, f)
        system = np.einsum("ukf,ujf->ukj", m_inv_rows, rows) + np.einsum("uk,kj->ukj", 1.0 / d, np.eye(k))  # D^-1 + Y M^-1 Y'
        rhs = np.einsum("ukf,uf->uk", rows, m_inv_b)  # Y M^-1 b
        correction = np.linalg.solve(system, rhs[..., None])[..., 0]
        out[chunk] = (m_inv_b - np.einsum("ukf,uk->uf", m_inv_rows, correction)).astype(np.float32)
    return out
