"""Choosing the engine's parameters on the site's own data, inside a time budget. No Django here.

A validation split is carved from the training events (the caller has already left the gate's readers
out): some readers lose a fifth of the papers they wanted (*warm*), and a tenth of the papers lose all
their feedback (*cold*, as papers that arrive after training). The search starts from the last choice
and runs in stages, each keeping the best found so far, while the budget lasts:

1. the start point's ALS, fitted for a third of its iterations; its time sets the budget (``budget_fits``
   single fits at most) and the cost of every later trial;
2. the item-item graph: alpha, beta and the neighbours kept, one step each way;
3. ALS factors, regularization and alpha, one step each way, each fitted for a third of the iterations;
   around a new best the steps are tried again; then the start point and the best other run all their
   iterations and the better one wins (successive halving);
4. the blend's collaborative and graph shares, on a pool of each validation reader's best candidates;
5. the content-to-factor map's ridges (TF-IDF's, then the meaning's) and the share of mapped factors, on the cold
   papers, each signal standardised over the catalogue as a request does;
6. the diversity trade-off: the largest whose recall@20 is within 1% of the best.

The objective is recall@20 of the blend as the site serves it. A change is kept only when it improves the
figure by at least ``MIN_GAIN`` (relative), so a noisy night does not move the site's parameters. Values
the caller pins are never changed.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from threadpoolctl import threadpool_limits

from recommender.engine.blend import BlendParams, HybridModel, blend_signals, content_to_factor_map, diversify, top_k
from recommender.engine.collaborative import ALSParams, als_model
from recommender.engine.evaluation import ranked_in_chunks, readers_per_chunk, recall_per_reader, subset
from recommender.engine.graph import GraphParams, rp3beta_neighbours
from recommender.engine.matrix import Events, FeedbackWeights, confidence_matrix, wanted_events
from recommender.engine.pipeline import MAP_MIN_READERS, hybrid_model

TUNABLE = (
    "als.factors",
    "als.regularization",
    "als.alpha",
    "graph.alpha",
    "graph.beta",
    "graph.neighbours",
    "blend.cf_weight",
    "blend.graph_share",
    "blend.cold_cf_weight",
    "blend.map_regularization",
    "blend.meaning_map_regularization",
    "blend.diversity",
    "blend.meaning_share",
)
MIN_GAIN = 0.005  # a change must raise validation recall@20 by this much (relative) to be kept
MIN_READERS = 100  # validation readers needed before anything is tuned
POOL = 100  # per signal, each reader's best candidates pooled for the share grid
DIVERSITY_READERS = 500  # readers the diversity stage re-ranks
DIVERSITY_COST = 0.01  # the diversity kept is the largest within this share of the best recall
CF_WEIGHTS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
GRAPH_SHARES = (0.0, 0.2, 0.35, 0.5, 0.65, 0.8)
COLD_CF_WEIGHTS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)  # with the start's own
DIVERSITIES = (0.0, 0.5, 1.0, 2.0)
MEANING_SHARES = (0.0, 0.25, 0.5, 0.75, 1.0)  # searched after the other shares, at their choice
REFERENCE_PAPERS = 20_000  # the cold stage standardises each signal over this fixed sample of the catalogue
# One step each way per parameter, within these bounds.
BOUNDS = {
    "als.factors": (2, 512),  # a rank-1 model is degenerate (the gate refuses one); tests fit tiny communities with 3
    "als.regularization": (0.01, 300.0),
    "als.alpha": (1.0, 200.0),
    "graph.alpha": (0.1, 1.5),
    "graph.beta": (0.0, 1.0),
    "graph.neighbours": (25, 400),
}


def outside_search(params: Parameters) -> list[str]:
    """ALS and graph parameters outside BOUNDS, which the search could never choose, as "name=value" labels: a model
    fitted with them was pinned there by hand (``ALS_FACTORS=1``), and the gate refuses it. (The blend's shares are
    left to the hold-out: any share from 0 to 1 makes a sound blend.)"""
    return [f"{name}={params.value(name):g}" for name, (low, high) in BOUNDS.items() if not low <= params.value(name) <= high]


@dataclass(frozen=True)
class Parameters:
    """Everything the search may change: ALS, the item-item graph and the blend."""

    als: ALSParams = ALSParams()
    graph: GraphParams = GraphParams()
    blend: BlendParams = BlendParams()

    def value(self, name: str):
        group, attribute = name.split(".")
        return getattr(getattr(self, group), attribute)

    def changed(self, changes: dict[str, float]) -> Parameters:
        """A copy with ``changes`` ({"als.factors": 128, ...}) applied."""
        groups: dict[str, dict] = {}
        for name, value in changes.items():
            group, attribute = name.split(".")
            groups.setdefault(group, {})[attribute] = value
        return dataclasses.replace(self, **{group: dataclasses.replace(getattr(self, group), **values) for group, values in groups.items()})

    def tunable_values(self) -> dict[str, float]:
        return {name: self.value(name) for name in TUNABLE}


@dataclass
class ValidationSplit:
    """Training events less what is held out, and per validation reader (a row) the papers to find."""

    train: Events
    warm_readers: np.ndarray
    warm_truth: list[np.ndarray]
    cold_items: np.ndarray  # papers whose feedback is all held out
    cold_readers: np.ndarray
    cold_truth: list[np.ndarray]  # per cold reader: the cold papers they wanted


def validation_split(
    events: Events,
    n_items: int,
    *,
    weights: FeedbackWeights = FeedbackWeights(),
    seed: int = 1,
    max_readers: int = 2000,
    fraction: float = 0.2,
    cold_fraction: float = 0.1,
    min_items: int = 5,
) -> ValidationSplit:
    """Hold out ``cold_fraction`` of the papers someone wanted (all their feedback), and of up to ``max_readers``
    readers with at least ``min_items`` other wanted papers, ``fraction`` of those (all feedback on them)."""
    rng = np.random.default_rng(seed)
    n = max(n_items, 1)
    key = events.users * n + events.items
    cells = np.unique(key[wanted_events(events, n_items, weights)])
    cell_users, cell_items = cells // n, cells % n
    wanted_items = np.unique(cell_items)
    cold = np.sort(rng.choice(wanted_items, size=int(round(cold_fraction * len(wanted_items))), replace=False))
    is_cold = np.isin(cell_items, cold)
    warm_cells = cells[~is_cold]  # sorted by reader, then paper
    warm_users = warm_cells // n
    readers, counts = np.unique(warm_users, return_counts=True)
    eligible = readers[counts >= min_items]
    chosen = np.sort(rng.choice(eligible, size=min(max_readers, len(eligible)), replace=False))
    starts, ends = np.searchsorted(warm_users, chosen), np.searchsorted(warm_users, chosen, side="right")
    held = [rng.choice(warm_cells[s:e], size=max(1, int(round(fraction * (e - s)))), replace=False) for s, e in zip(starts, ends)]
    held_keys = np.concatenate(held) if held else np.zeros(0, dtype=np.int64)
    train = subset(events, ~(np.isin(key, held_keys) | np.isin(events.items, cold)))
    warm_truth = [np.sort(h % n) for h in held]
    # Cold readers: those who wanted a cold paper and still have feedback to be known by.
    trained_readers = np.unique(train.users)
    cold_users, cold_papers = cell_users[is_cold], cell_items[is_cold]
    candidates = np.intersect1d(np.unique(cold_users), trained_readers)
    cold_readers = np.sort(rng.choice(candidates, size=min(max_readers, len(candidates)), replace=False))
    order = np.argsort(cold_users, kind="stable")
    cold_users, cold_papers = cold_users[order], cold_papers[order]
    cold_truth = [cold_papers[np.searchsorted(cold_users, r) : np.searchsorted(cold_users, r, side="right")] for r in cold_readers]
    return ValidationSplit(train, chosen, warm_truth, cold, cold_readers, cold_truth)


@dataclass(frozen=True)
class WarmStart:
    """Item factors (n_items, f) of the chosen ALS parameters fitted on the validation split (nearly all of the
    training data), and the iterations that are enough from there (a third of a fit once it has run in full)."""

    item_factors: np.ndarray
    iterations: int


@dataclass
class TuningResult:
    chosen: Parameters
    searched: bool
    reason: str
    seconds: float = 0.0
    budget_seconds: float = 0.0  # the budget that applied: the smaller of the seconds given and ``budget_fits`` fits
    validation: dict = field(default_factory=dict)  # readers, and the start point's and the choice's figures
    trials: list[dict] = field(default_factory=list)  # every trial: stage, what changed, its figure, its seconds
    warm_start: WarmStart | None = None  # the chosen ALS fitted on the validation split, to start tonight's fit from

    def as_dict(self) -> dict:
        return {
            "searched": self.searched,
            "reason": self.reason,
            "seconds": round(self.seconds, 2),
            "budget_seconds": round(self.budget_seconds, 2),
            "chosen": self.chosen.tunable_values(),
            "validation": self.validation,
            "trials": self.trials,
        }


class _AlsRun:
    """One ALS configuration fitted a few iterations at a time (each call continues from the factors so far)."""

    def __init__(self, confidence: sparse.csr_matrix, params: ALSParams) -> None:
        self.params, self.done, self.seconds = params, 0, 0.0
        self.figure = 0.0  # validation recall@20 after ``done`` iterations, set by the search
        self._confidence = confidence.astype(np.float32)
        self._model = als_model(params, iterations=1)

    def advance(self, iterations: int) -> None:
        """Fit until ``iterations`` have run in all."""
        if iterations <= self.done:
            return
        started = time.perf_counter()
        self._model.iterations = iterations - self.done
        with threadpool_limits(limits=1, user_api="blas"):
            self._model.fit(self._confidence, show_progress=False)
        self.done = iterations
        self.seconds += time.perf_counter() - started

    @property
    def item_factors(self) -> np.ndarray:
        model = self._model.to_cpu() if self.params.use_gpu else self._model
        return np.ascontiguousarray(model.item_factors, dtype=np.float32)


class _Bench:
    """The split's fixed parts, and how a set of parameters scores on it."""

    def __init__(
        self,
        split: ValidationSplit,
        *,
        n_users: int,
        content: sparse.csr_matrix,
        weights: FeedbackWeights,
        threads: int,
        meaning: np.ndarray | None = None,
        meaning_missing: np.ndarray | None = None,
    ) -> None:
        self.split, self.content, self.threads, self.meaning = split, content, threads, meaning
        self.meaning_missing = meaning_missing if meaning is not None else None
        self.confidence = confidence_matrix(split.train, (n_users, content.shape[0]), weights)
        self.warm_rows = self.confidence[split.warm_readers]
        self.cold_rows = self.confidence[split.cold_readers]
        self._graphs: dict[GraphParams, sparse.csr_matrix] = {}
        self.wanted_by = np.asarray((self.confidence > 0).sum(axis=0), dtype=np.float32).ravel()

    def graph(self, params: GraphParams) -> sparse.csr_matrix:
        if params not in self._graphs:
            self._graphs[params] = rp3beta_neighbours(self.confidence, params)
        return self._graphs[params]

    def model(self, factors: np.ndarray, params: Parameters, content_map: np.ndarray | None = None) -> HybridModel:
        """The validation model; without ``content_map`` papers nobody wanted get no factors (warm readers hardly
        ever want them, and the map costs more than the rest of a trial)."""
        if content_map is None:
            features = self.content.shape[1] + (0 if self.meaning is None else self.meaning.shape[1])
            content_map = np.zeros((features, factors.shape[1]), dtype=np.float32)
        return hybrid_model(
            self.confidence,
            self.content,
            factors,
            als=params.als,
            blend=params.blend,
            graph=self.graph(params.graph),
            graph_params=params.graph,
            content_map=content_map,
            meaning=self.meaning,
            meaning_missing=self.meaning_missing,
            words_map=False,  # the search's cold papers are scored by their own vectors (or their words, where missing)
        )

    def content_map(self, factors: np.ndarray, blend: BlendParams) -> np.ndarray:
        known = self.wanted_by >= MAP_MIN_READERS
        if self.meaning_missing is not None:  # a placeholder teaches the meaning stage nothing
            known &= ~self.meaning_missing
        return content_to_factor_map(self.content, factors, known, blend, self.meaning)

    def warm_recall(self, model: HybridModel) -> float:
        """Mean recall@20 of the blend (before the diversity re-rank) over the warm readers."""
        ranked = ranked_in_chunks(
            lambda chunk: top_k(model.scores(chunk), 20, exclude=chunk),
            self.warm_rows,
            batch=readers_per_chunk(model.n_items),
            threads=self.threads,
        )
        return float(np.mean(recall_per_reader(ranked, self.split.warm_truth)))

    def cold_recalls(self, model: HybridModel, shares: tuple[float, ...]) -> dict[float, float]:
        """Mean recall@20 over the cold readers, each ranking only the cold papers, for each share of mapped factors
        (``cold_cf_weight``): the standardised parts are computed once and blended for every share. Each signal is
        standardised as a request does, over the whole catalogue (a fixed sample of ``REFERENCE_PAPERS``), not over the
        cold papers alone: mapped factors spread less than fitted ones, and the share must suit the site's scale."""
        cold, ranked = self.split.cold_items, {share: [] for share in shares}
        reference = reference_papers(model.n_items)
        columns = np.union1d(cold, reference)
        at_reference, at_cold = np.searchsorted(columns, reference), np.searchsorted(columns, cold)
        known = model.known_items[columns]
        missing = None if model.meaning_missing is None else model.meaning_missing[columns]
        for start in range(0, self.cold_rows.shape[0], 256):
            chunk = self.cold_rows[start : start + 256]
            parts = model.score_parts(chunk, at_reference, columns=columns)  # cold papers have no feedback: mapped factors, no graph
            wanted = np.asarray((chunk > 0).sum(axis=1), dtype=np.float32)
            nothing_known = wanted.ravel() == 0  # those get popularity (see HybridModel.score_parts), whatever the share
            for share in shares:
                blend = dataclasses.replace(model.blend, cold_cf_weight=share)
                blended = blend_signals(
                    parts.z_als,
                    parts.z_content,
                    parts.z_graph,
                    known=known,
                    wanted=wanted,
                    blend=blend,
                    z_meaning=parts.z_meaning,
                    meaning_missing=missing,
                )
                blended.blended[nothing_known] = parts.blended[nothing_known]
                ranked[share].append(cold[top_k(blended.blended[:, at_cold], 20)])
        return {share: float(np.mean(recall_per_reader(np.vstack(rows), self.split.cold_truth))) for share, rows in ranked.items()}

    def pools(self, model: HybridModel) -> _Pools:
        """Each warm reader's best ``POOL`` candidates by every signal, with the standardised signals there."""
        pools: list[_Pool] = []
        size = readers_per_chunk(model.n_items)
        for start in range(0, self.warm_rows.shape[0], size):
            chunk = self.warm_rows[start : start + size]
            parts = model.score_parts(chunk)
            signals = [parts.z_als, parts.z_content] + [z for z in (parts.z_graph, parts.z_meaning) if z is not None]
            rows, cols = chunk.nonzero()
            for signal in signals:
                signal[rows, cols] = -np.inf  # what the reader already has is never a candidate
            wanted = np.asarray((chunk > 0).sum(axis=1), dtype=np.float32).ravel()
            for i in range(chunk.shape[0]):
                best = np.unique(np.concatenate([np.argpartition(-s[i], POOL)[:POOL] for s in signals]))
                graph = parts.z_graph[i, best] if parts.z_graph is not None else None
                meaning = parts.z_meaning[i, best] if parts.z_meaning is not None else None
                pools.append(_Pool(best, parts.z_als[i, best], parts.z_content[i, best], graph, float(wanted[i]), meaning))
        return _Pools(pools, model.known_items, self.split.warm_truth, model.meaning_missing)


@dataclass
class _Pool:
    """One warm reader's candidates (``columns``) and their standardised signals there."""

    columns: np.ndarray
    z_als: np.ndarray
    z_content: np.ndarray
    z_graph: np.ndarray | None
    wanted: float  # papers the reader wants
    z_meaning: np.ndarray | None = None


@dataclass
class _Pools:
    readers: list[_Pool]
    known_items: np.ndarray
    truth: list[np.ndarray]
    meaning_missing: np.ndarray | None = None

    def blended(self, i: int, blend: BlendParams) -> tuple[np.ndarray, np.ndarray]:
        """Reader ``i``'s candidates and their scores by ``blend``, as the feed would score them."""
        pool = self.readers[i]
        known = self.known_items[pool.columns]
        z = (pool.z_als, pool.z_content, pool.z_graph)
        missing = None if self.meaning_missing is None else self.meaning_missing[pool.columns]
        scores = blend_signals(*z, known=known, wanted=pool.wanted, blend=blend, z_meaning=pool.z_meaning, meaning_missing=missing)
        return pool.columns, scores.blended

    def recall(self, blend: BlendParams) -> float:
        tops = []
        for i in range(len(self.truth)):
            columns, scores = self.blended(i, blend)
            tops.append(columns[np.argsort(-scores, kind="stable")[:20]])
        return float(np.mean(recall_per_reader(tops, self.truth)))

    def diversified_recall(self, blend: BlendParams, content: sparse.csr_matrix, trade_off: float, readers: int) -> float:
        tops = []
        for i in range(min(readers, len(self.truth))):
            columns, scores = self.blended(i, blend)
            order = np.argsort(-scores, kind="stable")[:100]
            tops.append(diversify(columns[order], scores[order], content, 20, trade_off))
        return float(np.mean(recall_per_reader(tops, self.truth[: len(tops)])))


def reference_papers(n_items: int, size: int = REFERENCE_PAPERS) -> np.ndarray:
    """A fixed random sample (sorted) of the catalogue's papers, all of them when there are fewer than ``size``."""
    if n_items <= size:
        return np.arange(n_items)
    return np.sort(np.random.default_rng(0).choice(n_items, size, replace=False))


def neighbourhood(params: Parameters, names: tuple[str, ...], pinned: frozenset[str]) -> list[tuple[str, Parameters]]:
    """One step each way for every name in ``names`` not pinned (doubling or halving sizes and ALS's alpha, three times
    or a third of the regularization, +-0.25 for the graph's alpha and +-0.15 for its beta), inside BOUNDS; labelled
    "name=value"."""
    out = []
    for name in names:
        if name in pinned:
            continue
        value = params.value(name)
        if name in ("graph.alpha", "graph.beta"):
            step = 0.25 if name == "graph.alpha" else 0.15
            steps = [round(value + step, 3), round(value - step, 3)]
        elif name == "als.regularization":
            steps = [value * 3, value / 3]
        else:
            steps = [value * 2, value / 2]
        low, high = BOUNDS[name]
        for candidate in steps:
            if name in ("als.factors", "graph.neighbours"):
                candidate = int(round(candidate))
            if low <= candidate <= high and candidate != value:
                out.append((f"{name}={candidate:g}", params.changed({name: candidate})))
    return out


def tune(
    events: Events,
    *,
    n_users: int,
    content: sparse.csr_matrix,
    start: Parameters,
    pinned: frozenset[str] = frozenset(),
    budget_seconds: float,
    budget_fits: float = float("inf"),
    weights: FeedbackWeights = FeedbackWeights(),
    readers: int = 2000,
    threads: int = 1,
    seed: int = 1,
    clock: Callable[[], float] = time.monotonic,
    on_progress: Callable[[str], None] = lambda message: None,
    meaning: np.ndarray | None = None,
    meaning_missing: np.ndarray | None = None,
) -> TuningResult:
    """Search parameters for ``events`` (the training events; ``content`` (n_items, n_terms) the papers' vectors,
    ``meaning`` (n_items, d) their meaning vectors or None, ``meaning_missing`` (n_items,) those that are placeholders)
    from ``start``, never changing ``pinned`` names (see TUNABLE), within ``budget_seconds`` and ``budget_fits``
    times the estimated time of one full ALS fit. Returns the choice (``start`` where nothing beat it)."""
    began = clock()
    split = validation_split(events, content.shape[0], weights=weights, seed=seed, max_readers=readers)
    if len(split.warm_readers) < MIN_READERS:
        return TuningResult(
            start, False, f"too few readers to tune on ({len(split.warm_readers)} with 5 papers or more, {MIN_READERS} needed)"
        )
    bench = _Bench(
        split, n_users=n_users, content=content, weights=weights, threads=threads, meaning=meaning, meaning_missing=meaning_missing
    )
    search = _Search(bench, start, pinned, clock, on_progress)
    best_run = search.run(began, budget_seconds, budget_fits)
    iterations = search.rung if best_run.done >= best_run.params.iterations else best_run.params.iterations - best_run.done
    return TuningResult(
        search.best,
        True,
        search.summary(),
        clock() - began,
        search.deadline - began,
        search.validation(),
        search.trials,
        WarmStart(best_run.item_factors, iterations),
    )


class _Search:
    """The stages of :func:`tune`, with the best parameters so far and every trial's record."""

    def __init__(self, bench: _Bench, start: Parameters, pinned: frozenset[str], clock, on_progress) -> None:
        self.bench, self.start, self.pinned, self.clock, self.say = bench, start, pinned, clock, on_progress
        self.best = start
        self.trials: list[dict] = []
        self.deadline = float("inf")
        self.rung = max(1, start.als.iterations // 3)
        self.figures: dict[str, float] = {}
        self.skipped: list[str] = []
        self.graph_seconds = 0.0  # one build of the start's graph
        self.eval_seconds = 0.0  # one evaluation of a model on the warm readers
        self.per_iteration = 0.0  # seconds of one ALS iteration at the start's factors
        self.start_figure = 0.0  # the start point as it is, at the rung
        self.pools: _Pools | None = None  # the warm readers' pools of the chosen model, once the shares were searched

    def run(self, began: float, budget_seconds: float, budget_fits: float) -> _AlsRun:
        self.deadline = began + budget_seconds
        started = self.clock()
        self.bench.graph(self.start.graph)
        self.graph_seconds = self.clock() - started
        start_run = self._als_trial("start", self.start)
        self.start_figure = start_run.figure
        self.per_iteration = start_run.seconds / start_run.done
        self.deadline = began + min(budget_seconds, budget_fits * self.per_iteration * self.start.als.iterations)
        runs = {self.start.als: start_run}
        self._graph_stage(start_run)
        best_run = self._als_stage(runs)
        model = self.bench.model(best_run.item_factors, self.best)
        self._share_stage(model)
        self._cold_stage(best_run.item_factors)
        self._diversity_stage(model)
        self._final_figures(runs, best_run)
        return best_run

    # -- time --------------------------------------------------------------------------------------------------
    def _affordable(self, seconds: float, what: str) -> bool:
        """Whether ``seconds`` more fit before the deadline, keeping one evaluation for the closing figures."""
        if self.clock() + seconds + self.eval_seconds <= self.deadline:
            return True
        self.skipped.append(what)
        return False

    def _record(self, stage: str, label: str, figure: float, seconds: float, **extra) -> None:
        self.trials.append({"stage": stage, "trial": label, "recall@20": round(figure, 4), "seconds": round(seconds, 2), **extra})
        self.say(f"tuning {stage}: {label} recall@20 {figure:.4f} ({seconds:.1f} s)")

    def _better(self, figure: float, than: float) -> bool:
        return figure > than * (1 + MIN_GAIN) or (than == 0 and figure > 0)

    # -- stages ------------------------------------------------------------------------------------------------
    def _als_trial(self, label: str, params: Parameters, run: _AlsRun | None = None, iterations: int | None = None) -> _AlsRun:
        started = self.clock()
        run = run or _AlsRun(self.bench.confidence, params.als)
        run.advance(iterations or self.rung)
        figure = self.bench.warm_recall(self.bench.model(run.item_factors, params))
        self.eval_seconds = max(0.0, self.clock() - started - run.seconds) if label == "start" else self.eval_seconds
        run.figure = figure
        self._record("als", label, figure, self.clock() - started, iterations=run.done)
        return run

    def _graph_stage(self, start_run: _AlsRun) -> None:
        factors = start_run.item_factors
        current = start_run.figure
        for label, candidate in neighbourhood(self.best, ("graph.alpha", "graph.beta", "graph.neighbours"), self.pinned):
            if not self._affordable(
                self.graph_seconds * candidate.graph.neighbours / self.start.graph.neighbours + self.eval_seconds, f"graph {label}"
            ):
                break
            started = self.clock()
            figure = self.bench.warm_recall(self.bench.model(factors, candidate))
            seconds = self.clock() - started
            self._record("graph", label, figure, seconds)
            if self._better(figure, current):
                self.best, current = (
                    self.best.changed({n: candidate.value(n) for n in ("graph.alpha", "graph.beta", "graph.neighbours")}),
                    figure,
                )

    def _als_cost(self, params: ALSParams, iterations: int) -> float:
        return self.per_iteration * iterations * (params.factors / self.start.als.factors) ** 1.5 + self.eval_seconds

    def _als_stage(self, runs: dict[ALSParams, _AlsRun]) -> _AlsRun:
        """Steps around the best ALS parameters at the rung, re-centred on each new best; then the finalists in full."""
        start_run = runs[self.start.als]
        if self.best.graph != self.start.graph:  # the start's figure with the chosen graph, so the ALS steps compare fairly
            start_run.figure = self.bench.warm_recall(self.bench.model(start_run.item_factors, self.best))
        center = start_run
        while True:
            moved = False
            for label, candidate in neighbourhood(self.best, ("als.factors", "als.regularization", "als.alpha"), self.pinned):
                if candidate.als in runs:
                    continue
                if not self._affordable(self._als_cost(candidate.als, self.rung), f"ALS {label}"):
                    break
                runs[candidate.als] = self._als_trial(label, candidate)
            leader = max(runs.values(), key=lambda run: run.figure)
            if leader is not center and self._better(leader.figure, center.figure):
                center, moved = leader, True
                self.best = dataclasses.replace(self.best, als=leader.params)
            if not moved or self.skipped:
                break
        for run in [start_run] + ([center] if center is not start_run else []):  # the finalists, in full
            if self._affordable(self._als_cost(run.params, run.params.iterations - run.done), f"ALS {run.params.factors} factors in full"):
                label = "start in full" if run is start_run else "best in full"
                self._als_trial(label, dataclasses.replace(self.best, als=run.params), run, run.params.iterations)
        if center is start_run:
            return start_run
        if center.done == start_run.done and not self._better(center.figure, start_run.figure):  # the rung's lead did not last
            self.best = dataclasses.replace(self.best, als=start_run.params)
            return start_run
        return center

    def _share_stage(self, model: HybridModel) -> None:
        names = [n for n in ("blend.cf_weight", "blend.graph_share") if n not in self.pinned]
        if not names or not self._affordable(2 * self.eval_seconds, "blend shares"):
            return
        started = self.clock()
        pools = self.bench.pools(model)
        current = pools.recall(self.best.blend)
        values = {"blend.cf_weight": CF_WEIGHTS, "blend.graph_share": GRAPH_SHARES}
        grid = [dict(zip(names, point)) for point in itertools.product(*(values[name] for name in names))]
        scored = [(pools.recall(self.best.changed(point).blend), point) for point in grid]
        figure, point = max(scored, key=lambda pair: pair[0])
        if self.bench.meaning is not None and "blend.meaning_share" not in self.pinned:  # then the meaning's share, at that point
            scored = [(pools.recall(self.best.changed(point | {"blend.meaning_share": share}).blend), share) for share in MEANING_SHARES]
            figure, share = max(scored, key=lambda pair: pair[0])
            point = point | {"blend.meaning_share": share}
        self._record("shares", ", ".join(f"{k}={v:g}" for k, v in point.items()), figure, self.clock() - started, before=round(current, 4))
        if self._better(figure, current):
            self.best = self.best.changed(point)
        self.pools = pools

    def _cold_stage(self, factors: np.ndarray) -> None:
        """The map's ridges (the TF-IDF stage's, then the meaning stage's at the best of those) and the share of mapped
        factors, on the cold readers; every pair of ridges is scored at every share at once."""
        searched = ("blend.map_regularization", "blend.cold_cf_weight") + (
            ("blend.meaning_map_regularization",) if self.bench.meaning is not None else ()
        )
        names = [n for n in searched if n not in self.pinned]
        if not names or len(self.bench.split.cold_readers) < MIN_READERS // 5:
            return
        blend = self.best.blend
        start = (blend.map_regularization, blend.meaning_map_regularization)
        shares = tuple(sorted({blend.cold_cf_weight, *COLD_CF_WEIGHTS})) if "blend.cold_cf_weight" in names else (blend.cold_cf_weight,)
        figures: dict[tuple[float, float, float], float] = {}  # (ridge, meaning ridge, share) -> recall

        def trial(ridge: float, meaning_ridge: float) -> bool:
            label = f"blend.map_regularization={ridge:g}, blend.meaning_map_regularization={meaning_ridge:g}"
            if not self._affordable(3 * self.eval_seconds, label):
                return False
            started = self.clock()
            params = self.best.changed({"blend.map_regularization": ridge, "blend.meaning_map_regularization": meaning_ridge})
            model = self.bench.model(factors, params, self.bench.content_map(factors, params.blend))
            by_share = self.bench.cold_recalls(model, shares)
            figures.update({(ridge, meaning_ridge, s): figure for s, figure in by_share.items()})
            best_share = max(by_share, key=by_share.get)
            self._record("cold", f"{label}, blend.cold_cf_weight={best_share:g}", by_share[best_share], self.clock() - started)
            return True

        ridge, meaning_ridge = start
        steps = [ridge, ridge / 3, ridge * 3] if "blend.map_regularization" in names else [ridge]
        if not all(trial(value, meaning_ridge) for value in steps) and not figures:
            return
        ridge = max(figures.items(), key=lambda item: item[1])[0][0]
        if "blend.meaning_map_regularization" in names:
            for value in (meaning_ridge / 10, meaning_ridge * 10):
                if not trial(ridge, value):
                    break
        current = figures.get((*start, blend.cold_cf_weight), -1.0)
        (best_ridge, best_meaning_ridge, best_share), best_figure = max(figures.items(), key=lambda item: item[1])
        self.figures["cold_before"] = current  # the start's ridges and share, on the chosen ALS
        if self._better(best_figure, current):
            self.best = self.best.changed(
                {
                    "blend.map_regularization": best_ridge,
                    "blend.meaning_map_regularization": best_meaning_ridge,
                    "blend.cold_cf_weight": best_share,
                }
            )
            current = best_figure
        self.figures["cold_chosen"] = current

    def _diversity_stage(self, model: HybridModel) -> None:
        if "blend.diversity" in self.pinned or self.pools is None:
            return
        if not self._affordable(4 * self.eval_seconds, "diversity"):
            return
        started = self.clock()
        figures = {d: self.pools.diversified_recall(self.best.blend, self.bench.content, d, DIVERSITY_READERS) for d in DIVERSITIES}
        best = max(figures.values())
        chosen = max(d for d, figure in figures.items() if figure >= (1 - DIVERSITY_COST) * best)
        self._record(
            "diversity",
            f"blend.diversity={chosen:g}",
            figures[chosen],
            self.clock() - started,
            all={f"{d:g}": round(f, 4) for d, f in figures.items()},
        )
        self.best = self.best.changed({"blend.diversity": chosen})

    def _final_figures(self, runs: dict[ALSParams, _AlsRun], best_run: _AlsRun) -> None:
        start_run = runs[self.start.als]
        iterations = min(start_run.done, best_run.done)
        if start_run.done == best_run.done:
            at_rung = start_run.done == self.rung
            self.figures["start"] = (
                self.start_figure if at_rung else self.bench.warm_recall(self.bench.model(start_run.item_factors, self.start))
            )
            unchanged = self.best == self.start and best_run is start_run
            self.figures["chosen"] = (
                self.figures["start"] if unchanged else self.bench.warm_recall(self.bench.model(best_run.item_factors, self.best))
            )
            self.figures["iterations"] = iterations

    def validation(self) -> dict:
        split = self.bench.split
        out = {"readers": len(split.warm_readers), "cold_readers": len(split.cold_readers), "cold_papers": len(split.cold_items)}
        for key, value in self.figures.items():
            out[key] = round(value, 4) if isinstance(value, float) else value
        return out

    def summary(self) -> str:
        changed = [
            f"{name} {self.start.value(name):g} -> {self.best.value(name):g}"
            for name in TUNABLE
            if self.best.value(name) != self.start.value(name)
        ]
        text = "changed " + ", ".join(changed) if changed else "kept the start point"
        if "start" in self.figures:
            text += f" (validation recall@20 {self.figures['start']:.4f} -> {self.figures['chosen']:.4f})"
        if self.skipped:
            text += f"; out of time before: {', '.join(self.skipped[:3])}{' ...' if len(self.skipped) > 3 else ''}"
        return text
