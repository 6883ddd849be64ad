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
    factors: int = 128
    regularization: float = 1.0
    iterations: int = 15
    alpha: float = 40.0
    use_gpu: bool = False
    num_threads: int = 1
    random_state: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def als_fit(confidence: sparse.csr_matrix, params: ALSParams) -> tuple[np.ndarray, np.ndarray]:
    """Fit ALS on an (n_users, n_items) confidence CSR; returns float32 user (n_users, f) and item (n_items, f) factors."""
    from implicit.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    if not sparse.isspmatrix_csr(confidence):
        raise TypeError("confidence must be a scipy.sparse CSR matrix")
    with threadpool_limits(limits=1, user_api="blas"):
        model = AlternatingLeastSquares(
            factors=params.factors,
            regularization=params.regularization,
            iterations=params.iterations,
            alpha=params.alpha,
            use_gpu=params.use_gpu,
            num_threads=params.num_threads,
            random_state=params.random_state,
        )
        model.fit(confidence.astype(np.float32), show_progress=False)
    if params.use_gpu:
        model = model.to_cpu()
    return np.ascontiguousarray(model.user_factors, dtype=np.float32), np.ascontiguousarray(model.item_factors, dtype=np.float32)


def item_gram(item_factors: np.ndarray) -> np.ndarray:
    """YtY, shape (f, f): computed once per model and reused by every fold-in."""
    return (item_factors.T @ item_factors).astype(np.float64)


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
