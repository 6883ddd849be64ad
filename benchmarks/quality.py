"""Quality benchmark: the warm and cold protocols (docs/data.md) on citeulike-a, every method side by side.

    .venv/bin/python benchmarks/quality.py [--protocol warm cold] [--diversity 0 0.15 0.5 1] [--users N]

Prints a table per protocol and, last, one line of JSON with every figure. Parameters are
the product's own (settings), which were chosen on a validation split (benchmarks/tune.py).
"""

import argparse
import json
import time

import numpy as np
from common import CITEULIKE, machine, setup_django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=str(CITEULIKE))
    parser.add_argument("--protocol", nargs="+", default=["warm", "cold"], choices=["warm", "cold"])
    parser.add_argument(
        "--diversity", nargs="*", type=float, default=[0.0, 0.15, 0.5, 1.0], help="MMR trade-offs to measure on the warm feed"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    setup_django()
    from recommender.engine.evaluation import dataset_from_records, run_evaluation, split_cold, split_warm, subset
    from recommender.engine.exchange import read_interactions_csv, read_papers
    from recommender.services.tuning import als_params, feedback_weights

    started = time.perf_counter()
    dataset = dataset_from_records(read_papers(f"{args.dataset}/papers.jsonl"), read_interactions_csv(f"{args.dataset}/interactions.csv"))
    options = {"als": als_params(), "weights": feedback_weights()}
    report: dict = {"machine": machine(), "dataset": args.dataset, "als": options["als"].as_dict(), "protocols": {}}
    for protocol in args.protocol:
        if protocol == "warm":
            mask, truth = split_warm(dataset.events, seed=args.seed)
            candidates = None
        else:
            mask, truth, candidates = split_cold(dataset.events, len(dataset.item_ids), seed=args.seed)
        result = run_evaluation(dataset, subset(dataset.events, mask), truth, candidates=candidates, fit_options=options)
        report["protocols"][protocol] = {"metrics": result.metrics, "timings": result.timings}
        print(f"\n{protocol} (seed {args.seed}, {result.metrics['blend']['users']} readers)")
        print(f"{'method':<12}{'recall@20':>11}{'nDCG@20':>10}{'recall@100':>12}")
        for method, m in result.metrics.items():
            print(f"{method:<12}{m['recall@20']:>11.4f}{m['ndcg@20']:>10.4f}{m['recall@100']:>12.4f}")
        print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in result.timings.items()))
        if protocol == "warm" and args.diversity:
            report["diversity"] = diversity_sweep(dataset, subset(dataset.events, mask), truth, options, args.diversity)
    report["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report))


def diversity_sweep(dataset, train, truth, options, trade_offs) -> list[dict]:
    """recall@20 and intra-list similarity (mean pairwise content cosine of the top 20) of the blend after MMR."""
    from recommender.engine.blend import diversify, top_k
    from recommender.engine.evaluation import metrics
    from recommender.engine.pipeline import fit_hybrid

    fit = fit_hybrid(train, n_users=len(dataset.user_ids), texts=dataset.texts, **options)
    users = np.array(sorted(truth))[:2000]
    weights = fit.confidence[users]
    scores = fit.model.scores(weights)
    pools = top_k(scores, 100, exclude=weights)
    rows = []
    print(f"\ndiversity (MMR) on the warm feed, {len(users)} readers")
    print(f"{'trade-off':<11}{'recall@20':>11}{'similarity@20':>15}")
    for trade_off in trade_offs:
        ranked = np.array([diversify(pool, scores[i, pool], fit.model.content, 20, trade_off) for i, pool in enumerate(pools)])
        recall = metrics(np.pad(ranked, ((0, 0), (0, 80)), constant_values=-1), [truth[u] for u in users])["recall@20"]
        similarity = np.mean([_mean_pairwise(fit.model.content, row) for row in ranked[:500]])
        rows.append({"trade_off": trade_off, "recall@20": round(recall, 4), "similarity@20": round(float(similarity), 4)})
        print(f"{trade_off:<11}{recall:>11.4f}{similarity:>15.4f}")
    return rows


def _mean_pairwise(content, columns) -> float:
    block = (content[columns] @ content[columns].T).toarray()
    n = len(columns)
    return (block.sum() - np.trace(block)) / (n * (n - 1))


if __name__ == "__main__":
    main()
