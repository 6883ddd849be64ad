"""Candidate breadth: the blend as served (candidates only) at several breadths against the blend scored over every
paper, on citeulike-a's warm split, in one run.

    .venv/bin/python benchmarks/candidates.py [--breadth 1 0.5 0.3] [--users 2000]

One fit with the product's parameters (the fixed blend, no search), the vocabulary fitted as production fits it.
For each breadth (``engine.serving.candidates``: 1 is the feed's, the weekly email asks for less) it reports
recall@10 and @20 and nDCG@20 of the served ranking, the share of the exact top 10 and top 20 it keeps, the mean
number of papers scored per reader, then one line of JSON (speed: benchmarks/digests.py and serving.py).
"""

import argparse
import json

import numpy as np
from common import CITEULIKE, machine, setup_django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=str(CITEULIKE))
    parser.add_argument("--breadth", nargs="+", type=float, default=[1.0, 0.5, 0.3])
    parser.add_argument("--users", type=int, default=2000, help="test readers evaluated (a fixed sample)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    setup_django()
    from recommender.engine import serving
    from recommender.engine.evaluation import (
        content_as_served,
        dataset_from_records,
        metrics,
        rank_users,
        served_ranking,
        split_warm,
        subset,
    )
    from recommender.engine.exchange import read_interactions_csv, read_papers
    from recommender.engine.pipeline import fit_hybrid
    from recommender.services.tuning import als_params, feedback_weights

    dataset = dataset_from_records(read_papers(f"{args.dataset}/papers.jsonl"), read_interactions_csv(f"{args.dataset}/interactions.csv"))
    mask, truth = split_warm(dataset.events, seed=args.seed)
    encoder, content = content_as_served(dataset.texts, np.ones(len(dataset.item_ids), dtype=bool))
    train = subset(dataset.events, mask)
    options = {"als": als_params(), "weights": feedback_weights(), "encoder": encoder, "content": content}
    fit = fit_hybrid(train, n_users=len(dataset.user_ids), texts=dataset.texts, **options)
    users = np.array(sorted(truth), dtype=np.int64)
    users = np.sort(np.random.default_rng(args.seed).choice(users, size=min(args.users, len(users)), replace=False))
    relevant = [truth[u] for u in users]
    exact = rank_users(fit, users, methods=("blend",), k=100)["blend"]
    report = {"machine": machine(), "papers": fit.model.n_items, "readers": len(users), "served": {}}
    report["exact"] = _figures(exact, relevant, metrics)
    weights = fit.confidence[users]
    catalogue = serving.Catalogue(fit.model, serving.serving_index(fit.model))
    for breadth in args.breadth:
        ranked = served_ranking(fit, weights, k=100, breadth=breadth)
        sizes = [len(serving.candidates(catalogue, reader, breadth=breadth)) for reader in serving.readers(catalogue, weights[:200])]
        report["served"][str(breadth)] = {
            **_figures(ranked, relevant, metrics),
            "kept_top10": _kept(ranked, exact, 10),
            "kept_top20": _kept(ranked, exact, 20),
            "scored_per_reader": round(float(np.mean(sizes))),
        }
    print(f"citeulike-a warm, {len(users)} readers, {fit.model.n_items:,} papers ({report['machine']})")
    print(f"{'ranking':<16}{'recall@10':>10}{'recall@20':>10}{'nDCG@20':>9}{'kept@10':>9}{'kept@20':>9}{'scored':>8}")
    e = report["exact"]
    print(f"{'every paper':<16}{e['recall@10']:>10.4f}{e['recall@20']:>10.4f}{e['ndcg@20']:>9.4f}")
    for breadth, s in report["served"].items():
        print(
            f"{'breadth ' + breadth:<16}{s['recall@10']:>10.4f}{s['recall@20']:>10.4f}{s['ndcg@20']:>9.4f}"
            f"{s['kept_top10']:>9.3f}{s['kept_top20']:>9.3f}{s['scored_per_reader']:>8}"
        )
    print(json.dumps(report))


def _figures(ranked: np.ndarray, relevant: list[np.ndarray], metrics) -> dict:
    at20 = metrics(ranked, relevant)
    recall10 = np.mean([np.isin(row[:10], truth).sum() / min(10, len(truth)) for row, truth in zip(ranked, relevant)])
    return {"recall@10": round(float(recall10), 4), "recall@20": round(at20["recall@20"], 4), "ndcg@20": round(at20["ndcg@20"], 4)}


def _kept(ranked: np.ndarray, exact: np.ndarray, k: int) -> float:
    """The mean share of the exact top ``k`` that the served top ``k`` holds."""
    return round(float(np.mean([len(set(a[:k]) & set(b[:k])) / k for a, b in zip(ranked, exact)])), 3)


if __name__ == "__main__":
    main()
