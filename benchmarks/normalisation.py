"""How the three signals are put on one scale: z-scores against rank, quantile and top-based normalisations.

    cd benchmarks && ../.venv/bin/python normalisation.py [--users 2500]

On citeulike-a's warm validation split (the warm split's training part, split again the same way with seed 1; the
test part is never read): ALS (256 factors), the item-item graph (RP3beta) and the content profile are scored for
each validation reader, normalised per reader in each way below, and blended with the best shares of a grid (chosen
per normalisation, on the same readers). Content scores are largely exact zeros (a reader's profile shares no term
with many papers), which a z-score over all papers lets shape the scale; the others do not depend on the zeros.

- ``z``: (score - mean) / std over every paper (what the product does);
- ``rank``: the per-reader rank turned into a standard normal quantile (a zero-independent, fully rank-based scale);
- ``z-top-K``: (score - mean) / std over the reader's K best papers, so only the top shapes the scale;
- ``max``: score / the reader's best score.
"""

import argparse
import itertools
import json

import numpy as np
from common import CITEULIKE, machine, setup_django

SHARES = [
    (a, g, c)
    for a, g in itertools.product((0.2, 0.35, 0.45, 0.6, 0.8, 1.0), (0.0, 0.2, 0.35, 0.5))
    for c in [round(1 - a - g, 2)]
    if c >= 0
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=str(CITEULIKE))
    parser.add_argument("--users", type=int, default=2500, help="validation readers")
    args = parser.parse_args()
    setup_django()
    from scipy.special import ndtri

    from recommender.engine.collaborative import ALSParams
    from recommender.engine.content import profile_scores
    from recommender.engine.evaluation import dataset_from_records, metrics, split_warm, subset
    from recommender.engine.exchange import read_interactions_csv, read_papers
    from recommender.engine.graph import graph_scores
    from recommender.engine.pipeline import fit_hybrid

    dataset = dataset_from_records(read_papers(f"{args.dataset}/papers.jsonl"), read_interactions_csv(f"{args.dataset}/interactions.csv"))
    mask, _ = split_warm(dataset.events, seed=0)
    train = subset(dataset.events, mask)
    vmask, vtruth = split_warm(train, seed=1)
    users = np.array(sorted(vtruth))[: args.users]
    truth = [vtruth[u] for u in users]
    fit = fit_hybrid(
        subset(train, vmask), n_users=len(dataset.user_ids), texts=dataset.texts, als=ALSParams(factors=256, regularization=10.0)
    )
    model, rows = fit.model, fit.confidence[users]
    seen = rows.nonzero()
    signals = {
        "ALS": model.user_factors(rows) @ np.where(model.known_items[:, None], model.item_factors, 0).T,
        "graph": graph_scores(model.graph, rows),
        "content": profile_scores(model.content, rows),
    }
    zeros = {name: float((s == 0).mean()) for name, s in signals.items()}

    def masked(scores):
        scores = np.array(scores, dtype=np.float64)
        scores[seen] = np.nan
        return scores

    def z(scores):
        s = masked(scores)
        return (s - np.nanmean(s, axis=1, keepdims=True)) / np.maximum(np.nanstd(s, axis=1, keepdims=True), 1e-9)

    def rank(scores):
        s = np.nan_to_num(masked(scores), nan=-np.inf)
        order = np.argsort(np.argsort(s, axis=1, kind="stable"), axis=1)
        return ndtri((order + 0.5) / s.shape[1])

    def z_top(k):
        def normalise(scores):
            s = masked(scores)
            top = -np.sort(-np.nan_to_num(s, nan=-np.inf), axis=1)[:, :k]
            return (s - top.mean(axis=1, keepdims=True)) / np.maximum(top.std(axis=1, keepdims=True), 1e-9)

        return normalise

    def maximum(scores):
        s = masked(scores)
        return s / np.maximum(np.nanmax(s, axis=1, keepdims=True), 1e-12)

    def recall(blended) -> float:
        blended = np.nan_to_num(blended, nan=-np.inf)
        top = np.argsort(-blended, axis=1)[:, :100]
        return metrics(top, truth)["recall@20"]

    report = {"machine": machine(), "readers": len(users), "zero_share": zeros, "normalisations": {}}
    print(f"{len(users)} validation readers; share of exact zeros: " + ", ".join(f"{k} {v:.0%}" for k, v in zeros.items()))
    print(f"{'normalisation':<14}{'three signals':>15}{'  shares (ALS, graph, content)':<32}{'two signals':>12}")
    for name, normalise in {"z": z, "rank": rank, "z-top-100": z_top(100), "z-top-1000": z_top(1000), "max": maximum}.items():
        parts = {k: normalise(v) for k, v in signals.items()}
        scored = [(recall(a * parts["ALS"] + g * parts["graph"] + c * parts["content"]), (a, g, c)) for a, g, c in SHARES]
        best, shares = max(scored)
        two = max(figure for figure, (a, g, c) in scored if g == 0)
        report["normalisations"][name] = {"three": round(best, 4), "shares": shares, "two": round(two, 4)}
        print(f"{name:<14}{best:>15.4f}  {str(shares):<30}{two:>12.4f}", flush=True)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
