"""What the item-item graph costs a feed request: the feed selector with the graph and without it, side by side.

    cd benchmarks && ../.venv/bin/python feed_signals.py --scale M [--readers 300]

Uses the scale's database and active model from the training benchmark (paperfeed_bench_<scale>). For each of
``--readers`` synthetic readers with feedback, in turns, it times ``feed_page_for_user`` (the reader's feedback
read from the database, folded in, every paper scored, the diversity re-rank and the reasons) twice: with the
model as trained (ALS, graph and content) and with the graph's share set to 0 (ALS and content, the blend
before the graph). Prints the medians and 95th percentiles, then one line of JSON.
"""

import argparse
import dataclasses
import json
import time

import numpy as np
from common import machine, use_scale_database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="M")
    parser.add_argument("--readers", type=int, default=300)
    args = parser.parse_args()
    use_scale_database(args.scale)
    from accounts.models import User
    from recommender.model_store import store
    from recommender.selectors.feed import feed_page_for_user

    served = store.current()
    model = served.model
    if model.graph is None:
        raise SystemExit("the active model has no item-item graph; retrain first (training_scale.py)")
    with_graph, without = model.blend, dataclasses.replace(model.blend, graph_share=0.0)
    readers = list(User.objects.filter(username__startswith="synth", interactions__isnull=False).distinct().order_by("pk")[: args.readers])
    for reader in readers[:10]:  # warm caches and the model's lazily computed parts
        feed_page_for_user(user=reader)
    seconds: dict[str, list[float]] = {"with the graph": [], "without the graph": []}
    for reader in readers:
        for label, blend in (("with the graph", with_graph), ("without the graph", without)):
            model.blend = blend
            clock = time.perf_counter()
            feed_page_for_user(user=reader)
            seconds[label].append(time.perf_counter() - clock)
    model.blend = with_graph
    report = {
        "machine": machine(),
        "scale": args.scale,
        "papers": model.n_items,
        "graph_entries": int(model.graph.nnz),
        "readers": len(readers),
    }
    print(
        f"feed selector at {args.scale}: {model.n_items:,} papers, graph {model.graph.nnz:,} entries, {len(readers)} readers ({machine()})"
    )
    for label, values in seconds.items():
        ms = np.array(values) * 1000
        report[label] = {"p50_ms": round(float(np.median(ms)), 2), "p95_ms": round(float(np.percentile(ms, 95)), 2)}
        print(f"  {label:<20} p50 {report[label]['p50_ms']:>7.2f} ms   p95 {report[label]['p95_ms']:>7.2f} ms")
    ratio = report["with the graph"]["p50_ms"] / report["without the graph"]["p50_ms"]
    report["p50_ratio"] = round(ratio, 3)
    print(f"  with / without (p50): {ratio:.2f}")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
