"""Building the users x papers confidence matrix from feedback events.

Each event has a weight by kind (ratings by stars). Positive weights of one
user-paper cell add up, except that a cell's reads count at most ``max_reads_weight``
(half a like), so visits cannot outweigh a like; any negative evidence ("not
interested", a low rating) turns the cell negative, which implicit's ALS reads as
"does not want this, with that confidence". Optional time decay halves a weight
every ``half_life_days``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

KIND_CODES = {"read": 0, "like": 1, "save": 2, "dismiss": 3, "rate": 4}


@dataclass(frozen=True)
class FeedbackWeights:
    """Weight of one event of each kind; ``stars[k - 1]`` is the weight of a k-star rating."""

    read: float = 1.0
    like: float = 4.0
    save: float = 4.0
    dismiss: float = -4.0
    stars: tuple[float, float, float, float, float] = (-4.0, -2.0, 1.0, 4.0, 6.0)
    half_life_days: float | None = None
    max_reads_weight: float = 2.0  # all reads of one paper together weigh at most this

    def per_event(self, kinds: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Weights of events given as kind codes (see ``KIND_CODES``) and star values (0 where none)."""
        by_kind = np.array([self.read, self.like, self.save, self.dismiss, 0.0], dtype=np.float32)
        weights = by_kind[kinds]
        rated = kinds == KIND_CODES["rate"]
        if rated.any():
            stars = np.asarray(self.stars, dtype=np.float32)
            values = np.clip(values[rated], 1, 5).astype(np.int64)
            weights[rated] = stars[values - 1]
        return weights


@dataclass
class Events:
    """Feedback events as parallel arrays (length n): row and column indices, kind codes, stars, age in days."""

    users: np.ndarray
    items: np.ndarray
    kinds: np.ndarray
    values: np.ndarray = field(default=None)  # type: ignore[assignment]
    ages_days: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.users = np.asarray(self.users, dtype=np.int64)
        self.items = np.asarray(self.items, dtype=np.int64)
        self.kinds = np.asarray(self.kinds, dtype=np.int64)
        n = len(self.users)
        if not (len(self.items) == len(self.kinds) == n):
            raise ValueError("users, items and kinds must have the same length")
        self.values = np.zeros(n, dtype=np.int64) if self.values is None else np.asarray(self.values, dtype=np.int64)


SUM_BY_CELL_BELOW = 50_000  # events: a feed's or an email batch's readers are summed cell by cell, training's as matrices


def confidence_matrix(events: Events, shape: tuple[int, int], weights: FeedbackWeights) -> sparse.csr_matrix:
    """The (n_users, n_items) float32 CSR of summed positive weights, negative where any negative evidence exists.

    Two ways to the same sums, chosen by size (both checked against a cell-by-cell reading of the rules): a few
    thousand events are grouped by cell with ``np.unique`` (0.15 against 0.45 ms for a reader's ten), millions as
    sparse matrices, whose construction is linear where ``np.unique`` sorts (1.6-2.2 against 4.4 s for 10^7).
    """
    w = weights.per_event(events.kinds, events.values)
    if weights.half_life_days and events.ages_days is not None:
        w = w * np.power(0.5, np.maximum(events.ages_days, 0) / weights.half_life_days).astype(np.float32)
    if len(w) and not (
        0 <= events.users.min() and events.users.max() < shape[0] and 0 <= events.items.min() and events.items.max() < shape[1]
    ):
        raise ValueError(f"an event's reader or paper lies outside the {shape[0]} x {shape[1]} matrix")
    read = events.kinds == KIND_CODES["read"]
    summed = _summed_by_cell if len(w) < SUM_BY_CELL_BELOW else _summed_as_matrices
    result = summed(events.users, events.items, w, read, shape, np.float32(weights.max_reads_weight))
    result.sort_indices()
    return result


def _summed_by_cell(users, items, w, read, shape, max_reads) -> sparse.csr_matrix:
    cells, cell = np.unique(users * max(shape[1], 1) + items, return_inverse=True)
    n = len(cells)
    positive = np.bincount(cell, weights=np.where(read, 0.0, np.maximum(w, 0)), minlength=n)
    reads = np.minimum(np.bincount(cell, weights=np.where(read, w, 0.0), minlength=n), max_reads)
    negative = np.bincount(cell, weights=np.maximum(-w, 0), minlength=n)
    value = np.where(negative > 0, -negative, positive + reads).astype(np.float32)
    keep = value != 0
    rows, columns = np.divmod(cells[keep], max(shape[1], 1))
    return sparse.csr_matrix((value[keep], (rows, columns)), shape=shape, dtype=np.float32)


def _summed_as_matrices(users, items, w, read, shape, max_reads) -> sparse.csr_matrix:
    positive = sparse.csr_matrix((np.maximum(w[~read], 0), (users[~read], items[~read])), shape=shape, dtype=np.float32)
    reads = sparse.csr_matrix((w[read], (users[read], items[read])), shape=shape, dtype=np.float32)
    reads.sum_duplicates()
    np.minimum(reads.data, max_reads, out=reads.data)
    positive = positive + reads
    negative = sparse.csr_matrix((np.maximum(-w, 0), (users, items)), shape=shape, dtype=np.float32)
    negative.eliminate_zeros()
    has_negative = negative.copy()
    has_negative.data[:] = 1.0
    result = (positive - positive.multiply(has_negative) - negative).tocsr()
    result.eliminate_zeros()
    return result.astype(np.float32)


def wanted_events(events: Events, n_items: int, weights: FeedbackWeights = FeedbackWeights()) -> np.ndarray:
    """(n_events,) bool: events whose reader's final cell for the paper is positive (no negative evidence, some positive)."""
    if len(events.users) == 0:
        return np.zeros(0, dtype=bool)
    key = events.users * max(n_items, 1) + events.items
    _, cell = np.unique(key, return_inverse=True)
    w = weights.per_event(events.kinds, events.values)
    negative = np.bincount(cell, weights=(w < 0).astype(np.float64))
    positive = np.bincount(cell, weights=np.maximum(w, 0).astype(np.float64))
    return ((negative == 0) & (positive > 0))[cell]
