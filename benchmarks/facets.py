"""What a reader's interests (facets) cost a feed request: the feed selector with facets and without, side by side.

    cd benchmarks && ../.venv/bin/python facets.py --scale M [--readers 300]

Uses the scale's database and active model from the training benchmark (paperfeed_bench_<scale>). For each of
``--readers`` synthetic readers with ``--min-events`` pieces of feedback or more it first times the request that
finds their facets (a k-means of their papers, once per reader and model), then ``feed_page_for_user`` with the
facets as served and with them switched off (one point per reader, as before facets), three times each in turns,
keeping each way's best (a reader's first request reads its papers' pages from disk). Prints the medians and 95th
percentiles, the median of the paired differences, then one line of JSON.
"""

import argparse
import json
import time

import numpy as np
from common import machine, use_scale_database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="M")
    parser.add_argument("--readers", type=int, default=300)
    parser.add_argument("--min-events", type=int, default=12, help="readers with this much feedback at least (default 12)")
    args = parser.parse_args()
    use_scale_database(args.scale)
    from django.db.models import Count

    from accounts.models import User
    from recommender.model_store import store
    from recommender.models import Facet
    from recommender.selectors import feed
    from recommender.selectors.facets import facets_of

    served = store.current()
    readers = list(
        User.objects.filter(username__startswith="synth")
        .annotate(events=Count("interactions"))
        .filter(events__gte=args.min_events)
        .order_by("pk")[: args.readers]
    )
    Facet.objects.filter(owner__in=readers).delete()  # every reader's facets are found afresh below
    found_in = []
    for reader in readers:
        clock = time.perf_counter()
        feed.feed_page_for_user(user=reader)
        found_in.append(time.perf_counter() - clock)
    counts = np.array([len(facets_of(user=reader)) for reader in readers])
    with_facets, without = feed.reader_facets, lambda *args, **kwargs: []
    seconds: dict[str, list[float]] = {"with facets": [], "without facets": []}
    for turn, reader in enumerate(readers):
        ways = [("with facets", with_facets), ("without facets", without)]
        best = {label: float("inf") for label, _ in ways}
        for label, finder in (ways if turn % 2 else ways[::-1]) * 3:  # each way three times, the best of each kept
            feed.reader_facets = finder
            clock = time.perf_counter()
            feed.feed_page_for_user(user=reader)
            best[label] = min(best[label], time.perf_counter() - clock)
        for label, value in best.items():
            seconds[label].append(value)
    feed.reader_facets = with_facets
    report = {
        "machine": machine(),
        "scale": args.scale,
        "papers": served.n_items,
        "readers": len(readers),
        "facets_mean": round(float(counts.mean()), 2),
        "readers_with_2_or_more": round(float((counts > 1).mean()), 3),
    }
    print(f"feed selector at {args.scale}: {served.n_items:,} papers, {len(readers)} readers ({machine()})")
    print(f"  facets per reader: mean {report['facets_mean']}, {report['readers_with_2_or_more']:.0%} of readers have two or more")
    ms = np.array(found_in) * 1000
    report["first request (facets found)"] = {"p50_ms": round(float(np.median(ms)), 2), "p95_ms": round(float(np.percentile(ms, 95)), 2)}
    for label, values in seconds.items():
        ms = np.array(values) * 1000
        report[label] = {"p50_ms": round(float(np.median(ms)), 2), "p95_ms": round(float(np.percentile(ms, 95)), 2)}
    for label in ("first request (facets found)", "with facets", "without facets"):
        print(f"  {label:<30} p50 {report[label]['p50_ms']:>7.2f} ms   p95 {report[label]['p95_ms']:>7.2f} ms")
    paired = (np.array(seconds["with facets"]) - np.array(seconds["without facets"])) * 1000
    many = counts > 1
    report["extra_ms_p50"] = round(float(np.median(paired)), 2)
    report["extra_ms_p50_two_or_more"] = round(float(np.median(paired[many])), 2) if many.any() else None
    report["extra_ms_p95_two_or_more"] = round(float(np.percentile(paired[many], 95)), 2) if many.any() else None
    print(f"  facets cost a request (median of paired differences): {report['extra_ms_p50']:.2f} ms over all these readers,")
    print(f"    {report['extra_ms_p50_two_or_more']} ms (p95 {report['extra_ms_p95_two_or_more']} ms) for readers with two facets or more")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
