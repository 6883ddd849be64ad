"""The nightly gate: a new model replaces the served one only if it is not clearly worse on feedback
that neither of them was trained on, and that neither of them caused.

*Gate readers* are a stable share of readers, chosen by a hash of their id, whose feedback no model
ever trains on (their feeds are served by fold-in, like every reader's). The feedback given while a
model is live is shaped by that model's own recommendations (readers act on what they are shown), so
judging the active model on it would favour it over any newcomer; the gate therefore uses only the
gate readers' feedback from *before* the models it is judged against went live (the earliest of their data
high-water marks, ``until``), and of
that, the papers they came to on their own (search, catalogue, a link) rather than through a
recommendation, when there are enough:

- **temporal** (usually): the most recent window that holds ``window_papers`` such papers; per reader,
  the newer half of their papers in the window is to be found, from everything before it;
- **all-time** (a young site with less than that): the same split over all of their history.

The window is sized for the decision: it widens (doubling, up to all-time) until it holds the readers needed
to see a drop of the tolerance (``readers_needed``: 95% confidence, 80% power, from the spread of the paired
differences the last night measured). Ties in time (an import without timestamps) fall inside a window.

A paper is a hit when the reader's final cell for it is positive (a read followed by "not interested"
is not). The decision is paired over the same readers, against the active model and against the best
recent model whose files are kept (the *reference*, so that slow decay cannot pass night after night):
the new model is refused when its recall@20 is more than the tolerance below either (a non-inferiority
decision: an observed drop beyond the tolerance is never waved through as noise; a hold-out too thin to
see such a drop says so, and lets the model go live only where the caller allows it). No Django here.
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
POWER = 0.80  # the chance a hold-out of ``readers_needed`` readers sees a true drop of the tolerance
NO_SIZE = 10**9  # ``readers_needed`` when no number of readers is enough (a tolerance of 0 or less)


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
    wanted_readers: int = 0  # the readers the window was widened to reach (see ``readers_needed``)

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
            "wanted_readers": self.wanted_readers,
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
    target_readers: int | None = None,
    weights: FeedbackWeights = FeedbackWeights(),
    own: np.ndarray | None = None,
) -> Holdout | None:
    """The gate's hold-out from the events of readers whose ``reader_hash`` (n_readers,) is below ``share``, up to
    ``until`` (the active model's high-water mark): the papers they first touched in the most recent window that
    holds ``window_papers`` of them (temporal), widened (doubling) until it holds ``target_readers`` scorable readers,
    or all of their history (all-time) when no window does. Per reader, the newer half of their papers in the window
    is to be found, from everything before.

    The papers to find are those the readers came to on their own (``own`` (n_events,) bool: not through a
    recommendation, whose hits would flatter the model that made it) when that reaches the readers wanted, else any
    way when that does, else whichever holds more readers. None when nobody can be scored at all. ``created``
    (n_events,) is each event's time (epoch seconds); ``target_readers`` (at least ``min_readers``, at most
    ``max_readers``; all that ``max_readers`` allows when None) are kept, those with the smallest hash.
    """
    wanted = max_readers if target_readers is None else min(max(target_readers, min_readers), max_readers)
    best = None
    for own_only in (True, False) if own is not None else (False,):
        holdout = _sized_split(
            events, created, n_items, reader_hash, share, until, window_papers, wanted, max_readers, weights, own if own_only else None
        )
        if holdout is not None and len(holdout.users) >= wanted:
            return holdout
        if holdout is not None and (best is None or len(holdout.users) > len(best.users)):
            best = holdout
    return best


def _sized_split(events, created, n_items, reader_hash, share, until, window_papers, wanted, max_readers, weights, own) -> Holdout | None:
    """The narrowest window (``window_papers`` doubled as often as needed, then all-time) with ``wanted`` readers, and
    no more than that (those with the smallest hash): each reader scored costs a ranking per model judged."""
    cells = int((reader_hash[events.users] < share).sum()) if len(events.users) else 0  # no window holds more papers
    window = window_papers
    while True:
        holdout = _split(events, created, n_items, reader_hash, share, until, window if window < cells else None, wanted, weights, own)
        if window >= cells or (holdout is not None and (len(holdout.users) >= wanted or holdout.kind == ALL_TIME)):
            if holdout is not None:
                holdout.wanted_readers = wanted
            return holdout
        window *= 2


def _split(
    events: Events,
    created: np.ndarray,
    n_items: int,
    reader_hash: np.ndarray,
    share: float,
    until: float | None,
    window_papers: int | None,
    max_readers: int,
    weights: FeedbackWeights,
    own: np.ndarray | None,
) -> Holdout | None:
    """One hold-out with the window of the newest ``window_papers`` cells (None: all-time); see ``build_holdout``."""
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
    if window_papers is not None and candidate.sum() > window_papers:
        times = np.sort(cell_time[candidate])
        edge = times[-window_papers]  # ties at the edge fall inside the window (an import without timestamps has one stamp)
        before = times[times < edge]
        if len(before):
            since = float(before[-1])
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


def readers_needed(spread: float, tolerance: float) -> int:
    """Readers a paired comparison needs to see a relative drop of ``tolerance`` (95% confidence, 80% power), when
    the per-reader differences of recall have ``spread`` = their standard deviation over the old model's mean."""
    if tolerance <= 0 or not np.isfinite(spread):
        return NO_SIZE  # no hold-out can tell a drop of 0% (or a rise) from noise: as many readers as allowed
    z = scipy.stats.norm.ppf(CONFIDENCE) + scipy.stats.norm.ppf(POWER)
    return int(np.ceil((z * max(spread, 0.0) / tolerance) ** 2))


@dataclass(frozen=True)
class Comparison:
    """The new model against one earlier model (the active one, or the reference) on the same hold-out readers."""

    role: str  # "active" or "reference"
    version: str
    new: float  # mean recall@20 of the new model
    old: float  # of the earlier model, on the same readers
    readers: int
    bound: float  # upper 95% bound of mean(new - (1 - tolerance) * old): below 0, surely more than the tolerance below
    spread: float | None  # sd of the per-reader differences over ``old`` (None with fewer than two readers, or old 0)
    detectable: float | None  # the smallest relative drop this hold-out sees (95% confidence, 80% power)

    @classmethod
    def of(cls, new: np.ndarray, old: np.ndarray, *, role: str, version: str, tolerance: float) -> Comparison:
        n = len(new)
        mean_new, mean_old = float(np.mean(new)) if n else 0.0, float(np.mean(old)) if n else 0.0
        gap = new - (1 - tolerance) * old
        t = scipy.stats.t.ppf(CONFIDENCE, n - 1) if n > 1 else 0.0
        bound = float(gap.mean() + t * gap.std(ddof=1) / np.sqrt(n)) if n > 1 else float(gap.mean()) if n else 0.0
        spread = float(np.std(new - old, ddof=1) / mean_old) if n > 1 and mean_old > 0 else None
        z = scipy.stats.norm.ppf(CONFIDENCE) + scipy.stats.norm.ppf(POWER)
        detectable = z * spread / np.sqrt(n) if spread is not None else None
        return cls(role, version, mean_new, mean_old, n, bound, spread, None if detectable is None else float(detectable))

    @property
    def drop(self) -> float:
        """The observed relative drop of the mean (negative: the new model is better)."""
        return (self.old - self.new) / self.old if self.old > 0 else 0.0

    def as_dict(self) -> dict:
        figures = {"new": self.new, "old": self.old, "bound": self.bound, "spread": self.spread, "detectable": self.detectable}
        return {"role": self.role, "version": self.version, "readers": self.readers, **{k: _round(v) for k, v in figures.items()}}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


@dataclass(frozen=True)
class GateDecision:
    """Whether the new model goes live, why in words, and the comparisons behind it."""

    activate: bool
    reason: str
    comparisons: tuple[Comparison, ...] = ()
    readers_needed: int | None = None  # to see a drop of the tolerance, by the widest spread measured

    def as_dict(self) -> dict:
        active = next((c for c in self.comparisons if c.role == "active"), None)
        reference = next((c for c in self.comparisons if c.role == "reference"), None)
        detectable = [c.detectable for c in self.comparisons if c.detectable is not None]
        return {
            "activate": self.activate,
            "reason": self.reason,
            "new": _round(active.new) if active else None,
            "old": _round(active.old) if active else None,
            "bound": _round(active.bound) if active else None,
            "detectable": _round(max(detectable)) if detectable else None,
            "readers_needed": self.readers_needed,
            "reference": reference.version if reference else None,
            "comparisons": [c.as_dict() for c in self.comparisons],
        }


def gate_decision(
    new: np.ndarray, earlier: list[tuple[str, str, np.ndarray]], *, tolerance: float, min_readers: int, thin_may_go: bool = False
) -> GateDecision:
    """Judge per-reader recall@20 of the new model (n_readers,) against each earlier model's on the same readers
    (``earlier``: (role, version, recalls) with role "active" or "reference").

    Against each: an observed mean within ``tolerance`` passes; one more than ``tolerance`` below is refused, whether
    the hold-out is sure of it (its 95% bound) or large enough to see such a drop (80% power) or neither: thin evidence
    is not read as "go live". Only where ``thin_may_go`` (the caller's rule: the active model is stale) may a model
    whose drop the hold-out cannot confirm go live, and the reason says so.
    """
    comparisons = tuple(Comparison.of(new, old, role=role, version=version, tolerance=tolerance) for role, version, old in earlier)
    spreads = [c.spread for c in comparisons if c.spread is not None]
    needed = max(readers_needed(max(spreads), tolerance), min_readers) if spreads else min_readers
    verdicts = [_verdict(c, tolerance, min_readers, needed, thin_may_go) for c in comparisons]
    refused = [text for ok, text in verdicts if not ok]
    return GateDecision(not refused, "; ".join(refused or [text for _, text in verdicts]), comparisons, needed)


def _verdict(c: Comparison, tolerance: float, min_readers: int, needed: int, thin_may_go: bool) -> tuple[bool, str]:
    name = "the active model" if c.role == "active" else f"the reference {c.version} (the best recent model)"
    figures = f"recall@20 {c.new:.4f} against {name}'s {c.old:.4f} on {c.readers} readers"
    sees = f"this hold-out sees a drop of {c.detectable:.0%}" if c.detectable is not None else "this hold-out cannot measure a drop"
    if c.new >= (1 - tolerance) * c.old:
        return True, f"{figures}: not more than {tolerance:.0%} below ({sees})"
    below = f"{figures}: more than {tolerance:.0%} below (a drop of {c.drop:.0%})"
    if c.bound < 0 and c.readers >= min_readers:
        return False, f"{below} (95% sure)"
    thin = c.readers < min_readers or c.detectable is None or c.detectable > tolerance
    if not thin:
        return False, f"{below}; {sees}"
    if needed >= NO_SIZE:
        missing = f"{sees}; no number of readers tells a drop of {tolerance:.0%} from noise"
    else:
        missing = f"{sees}; about {needed} readers are needed to tell a drop of {tolerance:.0%} from noise"
    if thin_may_go:
        return True, f"{below}, but the evidence is thin ({missing}): let through because the active model is stale"
    return False, f"{below}, and the evidence is too thin to say otherwise ({missing})"


# ---- sanity checks that need no hold-out ---------------------------------------------------------------------

FIT_RECALL_FLOOR = 0.25  # refused: recall on its own training readers below this share of the active model's (a broken fit)


def factor_problems(item_factors: np.ndarray, known: np.ndarray) -> list[str]:
    """What is degenerate in a model's collaborative factors ``item_factors`` (n_items, f) over the papers trained on
    (``known`` (n_items,) bool): NaN or infinite values, every paper alike, or a rank collapse (every paper's factors
    a multiple of one vector)."""
    if not np.isfinite(item_factors).all():
        return ["its factors hold NaN or infinite values"]
    rows = np.asarray(item_factors[known], dtype=np.float64)
    n, f = rows.shape
    if n < 2:
        return []
    scale = float(np.abs(rows).max())
    if scale == 0 or float(np.ptp(rows, axis=0).max()) <= 1e-6 * scale:
        return ["every paper has the same factors"]
    if f >= 2 and n >= f:
        energy = np.sqrt(np.clip(np.linalg.eigvalsh(rows.T @ rows), 0, None))[::-1]  # singular values, largest first
        if int((energy > 1e-3 * energy[0]).sum()) == 1:  # a community of few topics may use few dimensions; one is none
            return [f"its factors collapsed to rank 1 of {f}"]
    return []


def training_sample(
    events: Events, created: np.ndarray, n_items: int, readers: np.ndarray, most: int, *, weights: FeedbackWeights
) -> Holdout | None:
    """At most ``most`` of the training readers ``readers`` (their rows, in order of preference), each to find the
    newer half of their wanted papers from the rest: a fit check on feedback the new model trained on, not a measure
    of quality."""
    chosen = np.zeros(int(events.users.max(initial=-1)) + 1, dtype=bool)
    chosen[readers[readers < len(chosen)]] = True
    mine = chosen[events.users] if len(events.users) else np.zeros(0, dtype=bool)
    sample = Events(events.users[mine], events.items[mine], events.kinds[mine], events.values[mine])
    preference = np.full(len(chosen), 1.0)
    preference[readers[readers < len(chosen)]] = np.arange(len(readers)) / max(len(readers), 1)
    return _split(sample, created[mine], n_items, preference, 1.0, None, None, most, weights, None)


def fit_problem(new: np.ndarray, old: np.ndarray | None) -> str:
    """The fit check: the new model's mean recall@20 on its own training readers (``new`` (n,)) far below the active
    model's on the same readers (``old``), or "" when it is not."""
    if old is None or not len(new) or float(np.mean(old)) <= 0:
        return ""
    mean_new, mean_old = float(np.mean(new)), float(np.mean(old))
    if mean_new < FIT_RECALL_FLOOR * mean_old:
        return (
            f"on {len(new)} of its own training readers it finds {mean_new:.4f} of their held-back papers (recall@20), "
            f"less than {FIT_RECALL_FLOOR:.0%} of the active model's {mean_old:.4f}"
        )
    return ""
