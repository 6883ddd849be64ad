"""Offline evaluation: warm and cold splits, recall@20, nDCG@20, recall@100 (the protocols: docs/data.md).

Methods compared in one run: popularity, content only, ALS only, the item-item graph only and the blend, scored
over every paper and as the site serves it (each reader's candidates only, ``engine.serving``).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from threadpoolctl import threadpool_limits

from recommender.engine import facets as interests
from recommender.engine import serving
from recommender.engine.blend import diversify, profile_coefficients, standardize, top_k
from recommender.engine.content import TfidfEncoder, profile_scores
from recommender.engine.exchange import InteractionRecord, PaperRecord
from recommender.engine.graph import graph_scores
from recommender.engine.matrix import KIND_CODES, Events, wanted_events
from recommender.engine.meaning import embedding_text, meaning_profiles, meaning_scores
from recommender.engine.pipeline import FitResult, fit_hybrid

# served: the blend by candidates, one point per reader; facets: the same with each reader's interests apart, as the site serves it
METHODS = ("popularity", "content", "meaning", "als", "graph", "blend", "served", "facets")


@dataclass
class Dataset:
    """Papers and events as arrays; ``user_ids[i]`` and ``item_ids[j]`` are the external ids of row i and column j."""

    user_ids: list[str]
    item_ids: list[str]
    texts: list[str]
    events: Events
    meaning_texts: list[str] | None = None  # what the sentence encoder reads (title, then abstract)


def dataset_from_records(
    papers: list[PaperRecord], interactions: list[InteractionRecord], extra_users: list[str] = (), *, meaning_titles: bool = True
) -> Dataset:
    """Index papers and users; interactions with unknown papers raise ValueError. ``meaning_titles=False``: the meaning
    reads the abstracts alone (for a data set whose titles are placeholders that carry no meaning, or worse, a number)."""
    item_index = {p.id: i for i, p in enumerate(papers)}
    user_index: dict[str, int] = {}
    users, items, kinds, values = [], [], [], []
    for r in interactions:
        if r.paper not in item_index:
            raise ValueError(f"line {r.line}: unknown paper {r.paper!r}")
        users.append(user_index.setdefault(r.user, len(user_index)))
        items.append(item_index[r.paper])
        kinds.append(KIND_CODES[r.kind])
        values.append(r.value or 0)
    for name in extra_users:
        user_index.setdefault(name, len(user_index))
    texts = [f"{p.title}. {p.title}. {p.abstract}" for p in papers]
    meaning_texts = [embedding_text(p.title if meaning_titles else "", p.abstract) for p in papers]
    return Dataset(list(user_index), [p.id for p in papers], texts, Events(users, items, kinds, values), meaning_texts)


def split_warm(events: Events, *, seed: int = 0, fraction: float = 0.2, min_items: int = 5) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Hold out ``fraction`` of the papers of each reader with at least ``min_items`` papers.

    Returns the training mask over events and the held-out relevant papers per reader.
    """
    rng = np.random.default_rng(seed)
    pairs = np.unique(np.stack([events.users, events.items], axis=1), axis=0)
    held: set[tuple[int, int]] = set()
    order = np.argsort(pairs[:, 0], kind="stable")
    pairs = pairs[order]
    bounds = np.flatnonzero(np.diff(pairs[:, 0])) + 1
    for group in np.split(pairs, bounds):
        if len(group) >= min_items:
            n_test = max(1, int(round(fraction * len(group))))
            for item in rng.choice(group[:, 1], size=n_test, replace=False):
                held.add((int(group[0, 0]), int(item)))
    in_test = np.fromiter(((int(u), int(i)) in held for u, i in zip(events.users, events.items)), dtype=bool, count=len(events.users))
    return ~in_test, _truth(events, in_test)


def split_cold(
    events: Events, n_items: int, *, seed: int = 0, fraction: float = 0.2
) -> tuple[np.ndarray, dict[int, np.ndarray], np.ndarray]:
    """Hold out ``fraction`` of all papers entirely. Returns the training mask, truth per reader and the held-out papers."""
    rng = np.random.default_rng(seed)
    cold = np.sort(rng.choice(n_items, size=int(round(fraction * n_items)), replace=False))
    in_test = np.isin(events.items, cold)
    return ~in_test, _truth(events, in_test), cold


def _truth(events: Events, in_test: np.ndarray) -> dict[int, np.ndarray]:
    """Per reader, the held-out papers they wanted: their final cell is positive (a read then "not interested" is not)."""
    n_items = int(events.items.max()) + 1 if len(events.items) else 1
    relevant = in_test & wanted_events(events, n_items)
    truth: dict[int, set[int]] = {}
    for u, i in zip(events.users[relevant], events.items[relevant]):
        truth.setdefault(int(u), set()).add(int(i))
    return {u: np.array(sorted(items)) for u, items in truth.items()}


def subset(events: Events, mask: np.ndarray) -> Events:
    values = events.values[mask]
    ages = None if events.ages_days is None else events.ages_days[mask]
    return Events(events.users[mask], events.items[mask], events.kinds[mask], values, ages)


def recall_per_reader(ranked: np.ndarray | list[np.ndarray], truth: list[np.ndarray], k: int = 20) -> np.ndarray:
    """(n_readers,) hits in each reader's top ``k`` (a row of ``ranked``) over min(k, |truth|)."""
    return np.array([np.isin(row[:k], wanted).sum() / min(k, len(wanted)) for row, wanted in zip(ranked, truth)], dtype=np.float64)


def metrics(ranked: np.ndarray, truth: list[np.ndarray]) -> dict[str, float]:
    """recall@20 (hits / min(20, |test|)), nDCG@20 and recall@100, averaged over readers; ``ranked`` is (n, >=100)."""
    ndcg20 = []
    discounts = 1.0 / np.log2(np.arange(2, 22))
    for row, relevant in zip(ranked, truth):
        hits = np.isin(row[:20], relevant)
        ideal = discounts[: min(20, len(relevant))].sum()
        ndcg20.append((hits * discounts[: len(hits)]).sum() / ideal)
    return {
        "recall@20": float(np.mean(recall_per_reader(ranked, truth, 20))),
        "ndcg@20": float(np.mean(ndcg20)),
        "recall@100": float(np.mean(recall_per_reader(ranked, truth, 100))),
        "users": len(truth),
    }


def method_scores(fit: FitResult, method: str, weights: sparse.csr_matrix, candidates: np.ndarray | None) -> np.ndarray:
    """Scores (n_readers, n_items) of one method for readers with feedback rows ``weights``."""
    model = fit.model
    if method == "popularity":
        return np.broadcast_to(model.popularity, (weights.shape[0], model.n_items)).copy()
    if method == "content":
        return profile_scores(model.content, weights, negative_weight=model.blend.negative_weight)
    if method == "meaning":
        if model.meaning is None:
            return np.zeros((weights.shape[0], model.n_items), dtype=np.float32)
        vectors = model.meaning_float32
        return meaning_scores(vectors, meaning_profiles(vectors, profile_coefficients(weights, model.blend.negative_weight)))
    if method == "als":
        factors = np.where(model.known_items[:, None], model.item_factors, 0.0)
        return model.user_factors(weights) @ factors.T
    if method == "graph":
        if model.graph is None:
            return np.zeros((weights.shape[0], model.n_items), dtype=np.float32)
        return graph_scores(model.graph, weights, negative_weight=model.blend.negative_weight)
    if method == "blend":
        return model.scores(weights, candidates)
    raise ValueError(f"unknown method {method!r}")


def rank_users(
    fit: FitResult,
    users: np.ndarray,
    *,
    methods=METHODS,
    k: int = 100,
    candidates: np.ndarray | None = None,
    batch: int = 512,
    threads: int = 1,
) -> dict[str, np.ndarray]:
    """Top-``k`` paper indices (len(users), k) per method, excluding each reader's training papers."""
    weights = fit.confidence[users]
    width = min(k, fit.model.n_items if candidates is None else len(candidates))
    batch = readers_per_chunk(fit.model.n_items, most=batch)
    out = {}
    for method in methods:
        if method in ("served", "facets"):
            out[method] = served_ranking(fit, weights, k=k, candidates=candidates, facets=method == "facets")
            continue

        def rank(chunk: sparse.csr_matrix, method: str = method) -> np.ndarray:
            scores = method_scores(fit, method, chunk, candidates)
            if method != "blend":
                scores = standardize(scores, candidates)
            top = top_k(scores, k, exclude=chunk, candidates=candidates)
            if method == "blend" and fit.model.blend.diversity > 0:  # the diversity re-rank, as the feed serves it
                return np.vstack(
                    [diversify(row, scores[i, row], fit.model.content, len(row), fit.model.blend.diversity) for i, row in enumerate(top)]
                )
            return top

        out[method] = ranked_in_chunks(rank, weights, batch=batch, threads=threads) if len(users) else np.zeros((0, width), dtype=np.int64)
    return out


def served_ranking(
    fit: FitResult,
    weights: sparse.csr_matrix,
    *,
    k: int,
    candidates: np.ndarray | None = None,
    breadth: float = 1.0,
    facets: bool = False,
) -> np.ndarray:
    """(n_readers, k) the blend as the site serves it (``engine.serving``): each reader's candidates only (``breadth``
    as in ``serving.candidates``), each signal standardised by closed forms over the catalogue, the diversity re-rank;
    within ``candidates`` when given. With ``facets``, each reader's wanted papers are split into interests
    (``engine.facets``) and ranked as the feed ranks them."""

    model = fit.model
    catalogue = serving.Catalogue(model, serving.serving_index(model))
    rows = []
    for row, reader in enumerate(serving.readers(catalogue, weights)):
        mine = weights[row]
        members = interests.members_of(catalogue, mine) if facets else []
        parts = serving.readers(catalogue, interests.facet_rows(mine, members)) if len(members) > 1 else [reader]
        columns = interests.candidates_of(catalogue, parts, breadth=breadth)
        if candidates is not None:
            columns = np.intersect1d(columns, candidates, assume_unique=True)
        scored = [part.blended for part in serving.score_many(catalogue, parts, columns)]
        scores = interests.combined(np.vstack(scored), np.array([len(m) for m in members])) if len(parts) > 1 else scored[0]
        seen = np.isin(columns, mine.indices)
        scores[seen] = -np.inf
        order = _best_first(scores, k)
        top = columns[order]
        if model.blend.diversity > 0:
            top = top[diversify(np.arange(len(top)), scores[order], catalogue.vectors(top), len(top), model.blend.diversity)]
        bests = [columns[_best_first(np.where(seen, -np.inf, part), interests.HEADS_PER_FACET)] for part in scored]
        top = interests.page_floor(top, bests, [len(m) for m in members], page=min(interests.FIRST_PAGE, k))[0][:k]
        rows.append(np.pad(top, (0, k - len(top)), constant_values=-1))
    return np.vstack(rows) if rows else np.zeros((0, k), dtype=np.int64)


def _best_first(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the best ``k`` finite scores, best first."""
    order = np.argsort(-scores, kind="stable")[:k]
    return order[np.isfinite(scores[order])]


def readers_per_chunk(n_items: int, *, most: int = 256, cells: int = 2**24) -> int:
    """How many readers to score over ``n_items`` papers at once: at most ``most``, and no more than ``cells`` scores
    (64 MB of float32 per array; a blend holds about ten such arrays), so memory does not grow with the catalogue."""
    return int(max(8, min(most, cells // max(n_items, 1))))


def ranked_in_chunks(
    rank: Callable[[sparse.csr_matrix], np.ndarray], weights: sparse.csr_matrix, *, batch: int = 512, threads: int = 1
) -> np.ndarray:
    """``rank`` (feedback rows -> (rows, k) paper columns) applied to ``weights`` (n_readers, n_items), ``batch``
    readers at a time, on ``threads`` threads (numpy and BLAS release the GIL; BLAS keeps one thread each)."""
    chunks = [weights[start : start + batch] for start in range(0, weights.shape[0], batch)]
    if threads <= 1:
        return np.vstack([rank(chunk) for chunk in chunks])
    with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(threads) as pool:
        return np.vstack(list(pool.map(rank, chunks)))


@dataclass
class EvaluationResult:
    metrics: dict[str, dict[str, float]]  # method -> metric -> value
    users: np.ndarray  # evaluated reader rows
    ranked: dict[str, np.ndarray]  # method -> (len(users), k) paper columns
    timings: dict[str, float]
    fit: FitResult | None = None  # the model the rankings came from


def run_evaluation(
    dataset: Dataset,
    train: Events,
    truth: dict[int, np.ndarray],
    *,
    candidates: np.ndarray | None = None,
    k: int = 100,
    fit_options: dict | None = None,
) -> EvaluationResult:
    """Fit on ``train`` only, rank for every reader in ``truth`` and score each method against it."""
    import time

    start = time.perf_counter()
    fit = fit_hybrid(train, n_users=len(dataset.user_ids), texts=dataset.texts, **(fit_options or {}))
    fitted = time.perf_counter()
    users = np.array(sorted(truth), dtype=np.int64)
    ranked = rank_users(fit, users, k=max(k, 100), candidates=candidates)
    ranked_at = time.perf_counter()
    results = {method: metrics(ranked[method], [truth[u] for u in users]) for method in METHODS}
    timings = {**fit.timings, "fit_total": round(fitted - start, 3), "rank": round(ranked_at - fitted, 3)}
    return EvaluationResult(results, users, {m: r[:, :k] for m, r in ranked.items()}, timings, fit)


def content_as_served(texts: list[str], known: np.ndarray) -> tuple[TfidfEncoder, sparse.csr_matrix]:
    """TF-IDF vectors of every paper as production has them: the encoder is fitted on the ``known`` papers (n_items,)
    bool, those in the catalogue at training time; the others (arriving later) are encoded with its vocabulary."""
    encoder = TfidfEncoder()
    encoder.fit_transform([text for text, seen in zip(texts, known) if seen])
    return encoder, encoder.transform(texts)


def truth_from_records(dataset: Dataset, records: list[InteractionRecord]) -> dict[int, np.ndarray]:
    """Held-out wanted papers per reader row, from test-file records (the readers must be in ``dataset``)."""
    index = {paper_id: j for j, paper_id in enumerate(dataset.item_ids)}
    users = {name: i for i, name in enumerate(dataset.user_ids)}
    for r in records:
        if r.paper not in index:
            raise ValueError(f"line {r.line}: unknown paper {r.paper!r}")
    events = Events(
        [users[r.user] for r in records],
        [index[r.paper] for r in records],
        [KIND_CODES[r.kind] for r in records],
        [r.value or 0 for r in records],
    )
    return _truth(events, np.ones(len(records), dtype=bool))


@dataclass
class MergedSplit:
    """The multi-interest protocol: pairs of readers with disjoint libraries merged into one reader each (the second
    of a pair leaves the community, so nobody can copy them), a fifth of each original's wanted papers held out.

    ``events`` are all events with each pair's second reader's moved to the first's row; ``train`` (n_events,) bool;
    per merged reader (row): ``truth`` the held-out papers, ``smaller`` / ``larger`` those of the interest with fewer /
    more papers, and ``collection`` the smaller interest's training papers (a collection of it, as a reader keeps one).
    """

    events: Events
    train: np.ndarray
    truth: dict[int, np.ndarray]
    smaller: dict[int, np.ndarray]
    larger: dict[int, np.ndarray]
    collection: dict[int, np.ndarray]


def split_merged(events: Events, *, seed: int = 0, fraction: float = 0.2, min_items: int = 10, most: int = 1000) -> MergedSplit:
    """Pair readers with at least ``min_items`` wanted papers and no paper in common (a seeded shuffle, at most
    ``most`` pairs), merge each pair, and hold out ``fraction`` of each original's wanted papers (see MergedSplit)."""
    rng = np.random.default_rng(seed)
    n_items = int(events.items.max()) + 1 if len(events.items) else 1
    wanted = wanted_events(events, n_items)
    touched: dict[int, set[int]] = {}
    liked: dict[int, set[int]] = {}
    for u, i, w in zip(events.users.tolist(), events.items.tolist(), wanted.tolist()):
        touched.setdefault(u, set()).add(i)
        if w:
            liked.setdefault(u, set()).add(i)
    eligible = [u for u in sorted(liked) if len(liked[u]) >= min_items]
    rng.shuffle(eligible)
    pairs: list[tuple[int, int]] = []
    waiting: list[int] = []
    for reader in eligible:
        partner = next((w for w in waiting if not touched[w] & touched[reader]), None)
        if partner is None:
            waiting.append(reader)
            continue
        waiting.remove(partner)
        pairs.append((partner, reader))
        if len(pairs) == most:
            break
    users = events.users.copy()
    held: set[tuple[int, int]] = set()
    truth, smaller, larger, collection = {}, {}, {}, {}
    for first, second in pairs:
        users[events.users == second] = first
        parts = []
        for original in (first, second):
            library = np.array(sorted(liked[original]))
            out = rng.choice(library, size=max(1, int(round(fraction * len(library)))), replace=False)
            held.update((first, int(i)) for i in out)
            parts.append((len(touched[original]), np.sort(out), np.setdiff1d(library, out)))
        (_, small_out, small_rest), (_, large_out, _) = sorted(parts, key=lambda part: part[0])
        truth[first] = np.union1d(small_out, large_out)
        smaller[first], larger[first], collection[first] = small_out, large_out, small_rest
    merged = Events(users, events.items, events.kinds, events.values, events.ages_days)
    in_test = np.fromiter(((int(u), int(i)) in held for u, i in zip(users, events.items)), dtype=bool, count=len(users))
    return MergedSplit(merged, ~in_test, truth, smaller, larger, collection)


def interest_metrics(ranked: np.ndarray, users: np.ndarray, split: MergedSplit, k: int = 20) -> dict[str, float]:
    """For merged readers ``users`` ranked ``ranked`` (len(users), >=k): recall@k of each interest (hits over
    min(k, its held-out)) and the share of readers with a hit from both."""
    small, large, both = [], [], []
    for row, user in zip(ranked, users):
        top = row[:k]
        hits_small = int(np.isin(top, split.smaller[user]).sum())
        hits_large = int(np.isin(top, split.larger[user]).sum())
        small.append(hits_small / min(k, len(split.smaller[user])))
        large.append(hits_large / min(k, len(split.larger[user])))
        both.append(hits_small > 0 and hits_large > 0)
    mean = lambda values: float(np.mean(values)) if values else 0.0  # noqa: E731
    return {"smaller@20": mean(small), "larger@20": mean(large), "both_share": mean(both)}


def collection_recall(fit: FitResult, users: np.ndarray, split: MergedSplit, k: int = 20) -> dict[str, float]:
    """Each merged reader's smaller interest kept as a collection: recall@k of its held-out papers when ranked for the
    collection (profiled on the collection's papers only, as its feed is) and for the reader (all their papers), both
    leaving out everything the reader has."""
    personal = fit.confidence[users]
    rows, cols = [], []
    for row, user in enumerate(users):
        rows += [row] * len(split.collection[user])
        cols += split.collection[user].tolist()
    kept = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=personal.shape)
    as_collection = personal.multiply(kept > 0).tocsr()
    found = {}
    for name, weights in (("collection", as_collection), ("personal", personal)):
        top = top_k(fit.model.scores(weights), k, exclude=personal)
        found[name] = float(np.mean([np.isin(row, split.smaller[u]).sum() / min(k, len(split.smaller[u])) for row, u in zip(top, users)]))
    return found
