"""How the engine's parameters were chosen: sweeps on a validation split carved from the training part.

    .venv/bin/python benchmarks/tune.py [--users 2500]

Warm: the warm split (seed 0, docs/data.md) gives the training part; the same split again (seed 1)
inside it gives validation. Cold: 20% of the training part's papers are held out again
(seed 1). The test part is never looked at. Prints tables and, last, one line of JSON.
"""

import argparse
import dataclasses
import json

import numpy as np
from common import CITEULIKE, machine, setup_django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=str(CITEULIKE))
    parser.add_argument("--users", type=int, default=2500, help="validation readers to score")
    args = parser.parse_args()
    setup_django()
    from recommender.engine.blend import BlendParams
    from recommender.engine.collaborative import ALSParams
    from recommender.engine.evaluation import dataset_from_records, metrics, rank_users, split_cold, split_warm, subset
    from recommender.engine.exchange import read_interactions_csv, read_papers
    from recommender.engine.pipeline import fit_hybrid

    dataset = dataset_from_records(read_papers(f"{args.dataset}/papers.jsonl"), read_interactions_csv(f"{args.dataset}/interactions.csv"))
    n_users, n_items = len(dataset.user_ids), len(dataset.item_ids)
    report: dict = {"machine": machine(), "warm_als": [], "warm_blend": [], "cold": []}

    def score(fit, truth, users, methods, candidates=None):
        ranked = rank_users(fit, users, methods=methods, candidates=candidates)
        return {m: {k: round(v, 4) for k, v in metrics(r, [truth[u] for u in users]).items() if k != "users"} for m, r in ranked.items()}

    mask, _ = split_warm(dataset.events, seed=0)
    train = subset(dataset.events, mask)
    vmask, vtruth = split_warm(train, seed=1)
    users = np.array(sorted(vtruth))[: args.users]
    print("warm validation: ALS parameters (blend at its defaults)")
    for changes in (
        {"factors": 64},
        {"factors": 128},
        {"factors": 256},
        {"factors": 256, "alpha": 20},
        {"factors": 256, "alpha": 80},
        {"factors": 256, "regularization": 0.1},
        {"factors": 256, "regularization": 10},
    ):
        als = ALSParams(**{"regularization": 1.0, **changes})
        fit = fit_hybrid(subset(train, vmask), n_users=n_users, texts=dataset.texts, als=als)
        result = score(fit, vtruth, users, ("als", "blend"))
        report["warm_als"].append({"als": changes, **result})
        print(f"  {json.dumps(changes):<45} ALS {result['als']['recall@20']:.4f}  blend {result['blend']['recall@20']:.4f}", flush=True)

    print("warm validation: collaborative share (cf_weight, cf_half_count), 256 factors")
    fit = fit_hybrid(subset(train, vmask), n_users=n_users, texts=dataset.texts, als=ALSParams(factors=256, regularization=1.0))
    for cf_weight in (0.6, 0.7, 0.8, 0.85, 0.9, 1.0):
        for half in (0.5, 3.0):
            fit.model.blend = dataclasses.replace(BlendParams(), cf_weight=cf_weight, cf_half_count=half)
            result = score(fit, vtruth, users, ("blend",))["blend"]
            report["warm_blend"].append({"cf_weight": cf_weight, "cf_half_count": half, **result})
            print(
                f"  cf_weight {cf_weight:<5} half {half:<4} recall@20 {result['recall@20']:.4f} nDCG@20 {result['ndcg@20']:.4f}", flush=True
            )

    print("cold validation: content-to-factor ridge and the share of mapped factors")
    cmask, _, cold = split_cold(dataset.events, n_items, seed=0)
    ctrain = subset(dataset.events, cmask)
    vmask, vtruth, vcold = split_cold(ctrain, n_items, seed=1)
    vcold = np.setdiff1d(vcold, cold)
    vtruth = {u: np.setdiff1d(v, cold) for u, v in vtruth.items()}
    vtruth = {u: v for u, v in vtruth.items() if len(v)}
    users = np.array(sorted(vtruth))[: args.users]
    for ridge in (0.1, 1.0, 10.0):
        fit = fit_hybrid(
            subset(ctrain, vmask),
            n_users=n_users,
            texts=dataset.texts,
            als=ALSParams(factors=256, regularization=1.0),
            blend=BlendParams(map_regularization=ridge),
        )
        for share in (0.0, 0.3, 0.5, 0.7, 0.9):
            fit.model.blend = dataclasses.replace(fit.model.blend, cold_cf_weight=share)
            result = score(fit, vtruth, users, ("blend",), candidates=vcold)["blend"]
            report["cold"].append({"map_regularization": ridge, "cold_cf_weight": share, **result})
            print(
                f"  ridge {ridge:<5} cold_cf_weight {share:<4} recall@20 {result['recall@20']:.4f} nDCG@20 {result['ndcg@20']:.4f}",
                flush=True,
            )
    print(json.dumps(report))


if __name__ == "__main__":
    main()
