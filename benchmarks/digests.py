"""Digest composition at scale: 10^5 readers over a 10^5-paper synthetic catalogue, batched.

    .venv/bin/python benchmarks/digests.py [--papers 100000] [--readers 100000] [--sample 2000]

Builds a served model in memory (topic-structured TF-IDF, ALS-sized factors, no database) and
runs the digest's ranking step (`rank_readers`: each reader's candidates, as the feed's; batch of
DIGEST_BATCH_SIZE readers, fold-in, blend, exclusion, diversity, reasons) on a sample of
readers; reports digests per second and the projected time for all readers, then a JSON line.
Rendering and sending are not included (see BENCHMARKS.md).
"""

import argparse
import json
import time

import numpy as np
from common import machine, setup_django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=100_000)
    parser.add_argument("--readers", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=2000)
    parser.add_argument("--events", type=int, default=10, help="mean feedback events per reader")
    args = parser.parse_args()
    setup_django()
    from django.conf import settings
    from scipy import sparse

    from recommender.engine.artifacts import Artifact
    from recommender.engine.blend import BlendParams, HybridModel
    from recommender.engine.collaborative import ALSParams
    from recommender.engine.content import TfidfEncoder
    from recommender.engine.matrix import FeedbackWeights
    from recommender.engine.serving import Catalogue, serving_index
    from recommender.model_store import ServedModel
    from recommender.selectors.feed import SHORT_LIST_BREADTH, ReaderFeedback, rank_readers

    rng = np.random.default_rng(0)
    n, f = args.papers, settings.ALS_FACTORS
    vocabulary = [f"term{i}" for i in range(10_000)]
    topics = rng.integers(0, 100, size=n)
    texts = [" ".join(rng.choice(vocabulary[t * 100 : (t + 1) * 100], size=40)) for t in topics]
    started = time.perf_counter()
    encoder = TfidfEncoder()
    content = encoder.fit_transform(texts)
    item_factors = (rng.normal(size=(100, f))[topics] + 0.3 * rng.normal(size=(n, f))).astype(np.float32) * 0.05
    popularity = np.log1p(rng.pareto(1.2, size=n)).astype(np.float32)
    model = HybridModel(
        item_factors=item_factors,
        content=content,
        popularity=popularity,
        known_items=np.ones(n, bool),
        als=ALSParams(factors=f),
        blend=BlendParams(),
    )
    now = time.time()
    added = now - rng.uniform(0, 365 * 86400, size=n)
    artifact = Artifact(model, np.array([str(i) for i in range(n)]), encoder, FeedbackWeights(), {})
    served = ServedModel(artifact, "bench", Catalogue(model, serving_index(model)), np.arange(n), added, added)
    build = time.perf_counter() - started

    batch = settings.DIGEST_BATCH_SIZE
    sample = min(args.sample, args.readers)
    timed = 0.0
    for start in range(0, sample, batch):
        size = min(batch, sample - start)
        counts = np.maximum(1, rng.poisson(args.events, size=size))
        rows = np.repeat(np.arange(size), counts)
        favourite = rng.integers(0, 100, size=size)[rows]
        pool = np.flatnonzero(topics == 0)
        cols = np.array([rng.choice(np.flatnonzero(topics == t)) for t in favourite]) if len(pool) else rng.integers(0, n, size=len(rows))
        weights = sparse.csr_matrix((np.full(len(rows), 4.0, np.float32), (rows, cols)), shape=(size, n))
        weights.sum_duplicates()
        seen = [weights.indices[weights.indptr[r] : weights.indptr[r + 1]] for r in range(size)]
        nothing = [np.array([], dtype=np.int64)] * size
        feedback = ReaderFeedback(
            list(range(size)), weights, np.full(size, np.nan), seen, [{int(c): "liked" for c in s} for s in seen], nothing, nothing
        )
        t0 = time.perf_counter()
        new_since = np.full(size, now - 7 * 86400)
        picks = rank_readers(
            served,
            feedback,
            limit=settings.DIGEST_SIZE,
            now=now,
            new_since=new_since,
            new_boost=1.0,
            pool_size=50,
            breadth=SHORT_LIST_BREADTH,
        )  # as digests_compose calls it
        timed += time.perf_counter() - t0
        assert all(len(p) == settings.DIGEST_SIZE for p in picks)
    per_second = sample / timed
    projected = args.readers / per_second
    report = {
        "machine": machine(),
        "papers": n,
        "factors": f,
        "sample_readers": sample,
        "batch": batch,
        "seconds": round(timed, 2),
        "digests_per_second": round(per_second, 1),
        "projected_seconds_for_readers": round(projected, 1),
        "readers": args.readers,
        "setup_seconds": round(build, 1),
    }
    print(f"{'papers':<22}{n:>12}\n{'factors':<22}{f:>12}")
    print(
        f"{'readers timed':<22}{sample:>12}\n{'digests / second':<22}{per_second:>12.1f}\n"
        f"{'all ' + str(args.readers) + ' readers':<22}{projected:>11.0f}s"
    )
    print(json.dumps(report))


if __name__ == "__main__":
    main()
