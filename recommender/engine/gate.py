"""The nightly gate: a new model replaces the served one only if it is not clearly worse on feedback
that neither of them was trained on, and that neither of them caused.

*Gate readers* are a stable share of readers, chosen by a hash of their id, whose feedback no model
ever trains on (their feeds are served by fold-in, like every reader's). The feedback given while a
model is live is shaped by that model's own recommendations (readers act on what they are shown), so
judging the active model on it would favour it over any newcomer; the gate therefore uses only the
gate readers' feedback from *before* the active model went live (its data high-water mark), and of
that, the papers they came to on their own (search, catalogue, a link) rather than through a
recommendation, when there are enough:

- **temporal** (usually): the most recent window that holds ``window_papers`` such papers; per reader,
  the newer half of their papers in the window is to be found, from everything before it;
- **all-time** (a young site with less than that): the same split over all of their history.

A paper is a hit when the reader's final cell for it is positive (a read followed by "not interested"
is not). The decision is paired over the same readers: the new model is refused only when we are 95%
sure its recall@20 is more than the tolerance below the active model's. No Django here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.stats

from recommender.engine.blend import HybridModel, top_k
from recommender.engine.evaluation import ranked_in_chunks
from recommender.engine.matrix import Events, FeedbackWeights, confidence_matrix, wanted_events

TEMPORAL, ALL_TIME = "temporal", "all-time"
CONFIDENCE = 0.95  # one-sided, Student's t over the readers


def gate_hash(user_pks: np.ndarray) -> np.ndarray:
    """A fixed pseudo-random number in [0, 1) per reader id (splitmix64): the same id always gets the same number."""
    with np.errstate(over="ignore"):
        z = np.asarray(user_pks, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


@dataclass
class Holdout:
    """Gate readers' feedback split into what they are known by (``history``) and what is to be found (``truth``).

    ``users`` are snapshot rows; ``history`` holds their events with rows renumbered 0..len(users)-1;
    ``truth[r]`` the wanted papers (columns) of reader ``users[r]``.
    """

    kind: str
    users: np.ndarray
    history: Events
    truth: list[np.ndarray]
    since: float | None  # the window's start (temporal), epoch seconds: papers to find were first touched after it
    until: float | None  # and no event after this is used: the active model's high-water mark
    own_only: bool = False  # the papers to find are only those the readers came to on their own

    @property
    def papers(self) -> int:
        return int(sum(len(t) for t in self.truth))

    def describe(self) -> dict:
        return {
            "kind": self.kind,
            "readers": len(self.users),
            "papers": self.papers,
            "since": self.since,
            "until": self.until,
            "found": "on their own" if self.own_only else "any way",
        }


def build_holdout(
    events: Events,
    created: np.ndarray,
    n_items: int,
    reader_hash: np.ndarray,
    *,
    share: float,
    until: float | None,
    window_papers: int,
    min_readers: int,
    max_readers: int,
    weights: FeedbackWeights = FeedbackWeights(),
    own: np.ndarray | None = None,
) -> Holdout | None:
    """The gate's hold-out from the events of readers whose ``reader_hash`` (n_readers,) is below ``share``, up to
    ``until`` (the active model's high-water mark): the papers they first touched in the most recent window that
    holds ``window_papers`` of them (temporal), or in all their history when it holds fewer (all-time). Per reader,
    the newer half of their papers in the window is to be found, from everything before.

    The papers to find are those the readers came to on their own (``own`` (n_events,) bool: not through a
    recommendation, whose hits would flatter the model that made it) when at least ``min_readers`` readers can be
    scored so, else any. None when nobody can be scored at all. ``created`` (n_events,) is each event's time
    (epoch seconds); at most ``max_readers`` readers are kept, those with the smallest hash.
    """
    best = None
    for own_only in (True, False) if own is not None else (False,):
        holdout = _split(
            events, created, n_items, reader_hash, share, until, window_papers, max_readers, weights, own if own_only else None
        )
        if holdout is not None and len(holdout.users) >= min_readers:
            return holdout
        best = best or holdout
    return best


def _split(
    events: Events,
    created: np.ndarray,
    n_items: int,
    reader_hash: np.ndarray,
    share: float,
    until: float | None,
    window_papers: int,
    max_readers: int,
    weights: FeedbackWeights,
    own: np.ndarray | None,
) -> Holdout | None:
    mine = reader_hash[events.users] < share if len(events.users) else np.zeros(0, dtype=bool)
    if until is not None:
        mine &= created <= until
    mine = np.flatnonzero(mine)
    users, items, stamps = events.users[mine], events.items[mine], created[mine]
    if len(users) == 0:
        return None
    # Each (reader, paper) cell once, with the time it was first touched; events keep the order they came in.
    key = users * max(n_items, 1) + items
    order = np.lexsort((np.arange(len(key)), stamps, key))
    sorted_key = key[order]
    first = order[np.r_[True, sorted_key[1:] != sorted_key[:-1]]]
    cell_user, cell_item, cell_time = users[first], items[first], stamps[first]
    wanted = wanted_events(Events(users, items, events.kinds[mine], events.values[mine]), n_items, weights)[first]
    # The window: the newest ``window_papers`` cells (first touched on their own, when ``own`` is given); per reader,
    # the newer half of their cells in it is the truth.
    candidate = own[mine][first] if own is not None else np.ones(len(cell_user), dtype=bool)
    since, kind = None, ALL_TIME
    if candidate.sum() > window_papers:
        since = float(np.sort(cell_time[candidate])[-window_papers - 1])
        candidate &= cell_time > since
        kind = TEMPORAL
    by_time = np.lexsort((first, cell_time, cell_user))
    cu, cand = cell_user[by_time], candidate[by_time]
    n_candidates = np.bincount(cu[cand], minlength=int(cu.max()) + 1)
    rank = np.zeros(len(cu), dtype=np.int64)
    rank[cand] = _rank_within_groups(cu[cand])
    is_truth = np.zeros(len(cell_user), dtype=bool)
    is_truth[by_time] = cand & (rank >= n_candidates[cu] // 2)
    has_history = np.bincount(cell_user[~is_truth], minlength=int(cu.max()) + 1) > 0
    hits = np.bincount(cell_user[is_truth & wanted], minlength=int(cu.max()) + 1)
    scored = np.flatnonzero((hits > 0) & has_history)
    if len(scored) == 0:
        return None
    if len(scored) > max_readers:
        scored = np.sort(scored[np.argsort(reader_hash[scored], kind="stable")[:max_readers]])
    row_of = np.full(int(cu.max()) + 1, -1, dtype=np.int64)
    row_of[scored] = np.arange(len(scored))
    truth_cells = is_truth & wanted & (row_of[cell_user] >= 0)
    truth: list[list[int]] = [[] for _ in scored]
    for u, i in zip(row_of[cell_user[truth_cells]], cell_item[truth_cells]):
        truth[u].append(int(i))
    truth_keys = cell_user[is_truth] * max(n_items, 1) + cell_item[is_truth]
    in_history = (row_of[users] >= 0) & ~np.isin(key, truth_keys)
    history = Events(
        row_of[users[in_history]],
        items[in_history],
        events.kinds[mine][in_history],
        events.values[mine][in_history],
        None if events.ages_days is None else events.ages_days[mine][in_history],
    )
    return Holdout(kind, scored, history, [np.array(sorted(t), dtype=np.int64) for t in truth], since, until, own is not None)


def _rank_within_groups(groups: np.ndarray) -> np.ndarray:
    """For a sorted array of group labels, each element's position within its group (0, 1, 2, ...)."""
    if len(groups) == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.r_[0, np.flatnonzero(groups[1:] != groups[:-1]) + 1]
    sizes = np.diff(np.r_[starts, len(groups)])
    return np.arange(len(groups)) - np.repeat(starts, sizes)


def holdout_ranking(
    model: HybridModel, weights: FeedbackWeights, holdout: Holdout, *, k: int = 100, batch: int = 256, threads: int = 1
) -> np.ndarray:
    """(len(holdout.users), k) columns: ``model``'s blended ranking (as served) for each hold-out reader from their
    history, leaving out every paper in it. ``model`` must have the snapshot's columns."""
    known = confidence_matrix(holdout.history, (len(holdout.users), model.n_items), weights)  # every history cell is non-zero
    if known.shape[0] == 0:
        return np.zeros((0, min(k, model.n_items)), dtype=np.int64)
    return ranked_in_chunks(lambda chunk: top_k(model.scores(chunk), k, exclude=chunk), known, batch=batch, threads=threads)


def recall_per_reader(ranked: np.ndarray, truth: list[np.ndarray], k: int = 20) -> np.ndarray:
    """(n_readers,) hits in the top ``k`` over min(k, |truth|)."""
    return np.array([np.isin(row[:k], wanted).sum() / min(k, len(wanted)) for row, wanted in zip(ranked, truth)], dtype=np.float64)


@dataclass(frozen=True)
class GateDecision:
    activate: bool
    reason: str
    new: float | None = None  # mean recall@20 of the new model on the hold-out
    old: float | None = None  # the active model's, on the same readers
    bound: float | None = None  # upper 95% bound of mean(new - (1 - tolerance) * old)

    def as_dict(self) -> dict:
        return {"activate": self.activate, "reason": self.reason, "new": self.new, "old": self.old, "bound": self.bound}


def gate_decision(new: np.ndarray, old: np.ndarray, *, tolerance: float, min_readers: int) -> GateDecision:
    """Compare per-reader recall@20 of the new and the active model on the same readers.

    Refuse only when the new model's mean is more than ``tolerance`` below the active one's *and* the
    paired difference says so with 95% confidence; with fewer than ``min_readers`` readers, do not judge.
    """
    n = len(new)
    if n < min_readers:
        return GateDecision(True, f"too little unseen feedback to judge ({n} readers, {min_readers} needed)")
    mean_new, mean_old = float(np.mean(new)), float(np.mean(old))
    gap = new - (1 - tolerance) * old
    bound = float(gap.mean() + scipy.stats.t.ppf(CONFIDENCE, n - 1) * gap.std(ddof=1) / np.sqrt(n)) if n > 1 else float(gap.mean())
    figures = f"recall@20 {mean_new:.4f} against the active model's {mean_old:.4f} on {n} readers"
    if mean_new >= (1 - tolerance) * mean_old:
        return GateDecision(True, f"{figures}: not more than {tolerance:.0%} below", mean_new, mean_old, bound)
    if bound < 0:
        return GateDecision(False, f"{figures}: more than {tolerance:.0%} below (95% sure)", mean_new, mean_old, bound)
    return GateDecision(True, f"{figures}: below, but within the noise of so few readers", mean_new, mean_old, bound)
