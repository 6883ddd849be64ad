"""Fixed against self-tuned parameters, two signals against three, on citeulike-a and sparser variants of it.

    cd benchmarks && ../.venv/bin/python robustness.py [--variants full keep45 light20 keep25] [--budget 300]

Each variant is split by the warm protocol (docs/data.md, seed 0; ``--cold`` adds the cold protocol on the full set)
and evaluated as ``manage.py evaluate`` does (``engine.protocol.evaluate_as_served``):

- *shipped*: the parameters Paperfeed shipped before it tuned itself (256 factors, regularization 10, alpha 40,
  ALS and content only), fixed;
- *fixed, three signals*: the new starting point (the same, plus the item-item graph), fixed;
- *self-tuned, two signals*: searched from *shipped* with the graph's share pinned at 0;
- *self-tuned, three signals*: searched from the new starting point, as the nightly retrain and ``evaluate`` do.

The search sees only a validation split of the training part. Prints a table per protocol and, last, one line of JSON.
"""

import argparse
import json
import os
import time

import numpy as np
from common import CITEULIKE, machine, setup_django

VARIANTS = {
    "full": "citeulike-a as it is (37 papers a reader)",
    "keep45": "a random 45% of each reader's papers",
    "light20": "only readers with at most 20 papers",
    "keep25": "a random 25% of each reader's papers",
}


def sparser(events, variant: str, seed: int = 0):
    """The events of ``variant`` (see VARIANTS); the papers stay, readers keep their row numbers."""
    from recommender.engine.evaluation import subset

    if variant == "full":
        return events
    rng = np.random.default_rng(seed)
    if variant.startswith("keep"):
        share = int(variant[4:]) / 100
        keep = np.zeros(len(events.users), dtype=bool)
        order = np.argsort(events.users, kind="stable")
        bounds = np.flatnonzero(np.diff(events.users[order])) + 1
        for group in np.split(order, bounds):
            keep[rng.choice(group, size=max(1, int(round(share * len(group)))), replace=False)] = True
        return subset(events, keep)
    if variant.startswith("light"):
        limit = int(variant[5:])
        counts = np.bincount(events.users)
        return subset(events, counts[events.users] <= limit)
    raise ValueError(f"unknown variant {variant!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=str(CITEULIKE))
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--cold", action="store_true", help="also the cold protocol on the full data set")
    parser.add_argument("--budget", type=float, default=300.0, help="seconds each search may take")
    args = parser.parse_args()
    setup_django()
    from recommender.engine.blend import BlendParams
    from recommender.engine.collaborative import ALSParams
    from recommender.engine.evaluation import Dataset, dataset_from_records, split_cold, split_warm, subset
    from recommender.engine.exchange import read_interactions_csv, read_papers
    from recommender.engine.graph import GraphParams
    from recommender.engine.protocol import evaluate_as_served
    from recommender.engine.tuning import Parameters

    threads = os.cpu_count() or 1
    full = dataset_from_records(read_papers(f"{args.dataset}/papers.jsonl"), read_interactions_csv(f"{args.dataset}/interactions.csv"))
    als = ALSParams(factors=256, regularization=10.0, alpha=40.0, num_threads=threads)
    shipped = Parameters(als, GraphParams(), BlendParams(graph_share=0.0))
    three = Parameters(als, GraphParams(), BlendParams())
    setups = {
        "shipped": (shipped, None, frozenset()),
        "fixed, three signals": (three, None, frozenset()),
        "self-tuned, two signals": (shipped, args.budget, frozenset({"blend.graph_share"})),
        "self-tuned, three signals": (three, args.budget, frozenset()),
    }
    report: dict = {"machine": machine(), "budget_seconds": args.budget, "runs": []}
    protocols = [(variant, "warm") for variant in args.variants] + ([("full", "cold")] if args.cold else [])
    for variant, protocol in protocols:
        events = sparser(full.events, variant)
        dataset = Dataset(full.user_ids, full.item_ids, full.texts, events)
        if protocol == "warm":
            mask, truth = split_warm(events, seed=0)
            candidates = None
        else:
            mask, truth, candidates = split_cold(events, len(full.item_ids), seed=0)
        train = subset(events, mask)
        readers = len(np.unique(events.users))
        print(
            f"\n{variant} ({VARIANTS[variant]}), {protocol}: {readers} readers, {len(events.users)} events, "
            f"{len(events.users) / readers:.1f} a reader, {len(truth)} test readers",
            flush=True,
        )
        for name, (start, budget, pinned) in setups.items():
            started = time.perf_counter()
            result, chosen, tuning = evaluate_as_served(
                dataset,
                train,
                truth,
                parameters=start,
                candidates=candidates,
                search_seconds=budget,
                pinned=pinned,
                threads=threads,
            )
            blend = result.metrics["blend"]
            row = {
                "variant": variant,
                "protocol": protocol,
                "setup": name,
                "recall@20": round(blend["recall@20"], 4),
                "ndcg@20": round(blend["ndcg@20"], 4),
                "seconds": round(time.perf_counter() - started, 1),
                "parameters": {k: v for k, v in chosen.tunable_values().items()},
                "search": tuning.reason if tuning else None,
                "parts": {m: round(v["recall@20"], 4) for m, v in result.metrics.items()},
            }
            report["runs"].append(row)
            print(
                f"  {name:<28} recall@20 {row['recall@20']:.4f}  nDCG@20 {row['ndcg@20']:.4f}  ({row['seconds']:.0f} s)"
                + (f"  search: {tuning.reason}" if tuning else ""),
                flush=True,
            )
    print(json.dumps(report))


if __name__ == "__main__":
    main()
