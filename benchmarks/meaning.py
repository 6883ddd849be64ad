"""What reading papers by meaning buys and costs: title-to-abstract retrieval on the demo catalogue, the encoder's
throughput, and the meaning signal's share of a feed request at a scale.

    cd benchmarks && ../.venv/bin/python meaning.py demo               # MRR and throughput (a minute or two)
    cd benchmarks && ../.venv/bin/python meaning.py feed --scale M     # the feed request with and without meaning
    cd benchmarks && ../.venv/bin/python meaning.py engine --papers 1000000   # its engine part at 10^6 papers

``demo``: each of the demo catalogue's 119 real papers asks by its title for its own abstract among all 119 abstracts
(reciprocal rank of the right one, averaged): TF-IDF (fitted on the abstracts), the sentence encoder (title and
abstracts embedded apart), and both as the blend mixes them (each side standardised per query, then
``(1 - meaning_share) * tfidf + meaning_share * meaning``). Then the time to embed 2,000 papers (the demo abstracts
with titles, repeated; at 128 word pieces as served, and at 256 for comparison), and what a million would take.

``feed``: the scale's database and active model (training_scale.py --model-only, trained with CONTENT_EMBEDDINGS=off);
the model gets random unit float16 meaning vectors in memory (embedding 10^5 or 10^6 synthetic texts would take hours
here, and the cost of a request does not depend on the vectors' values), with their moments and faiss index, as a
retrain makes them. For each reader, in turns, ``feed_page_for_user`` with the meaning's share at the settings' value
and at 0 with no vectors (TF-IDF alone): medians and 95th percentiles, and the median of the paired differences.

``engine``: the part of a feed request that the meaning changes (``serving.readers``, ``candidates``, ``score_many``)
on a synthetic catalogue built in memory (no database: a 10^6-paper one takes half an hour to generate here), with and
without meaning, in turns.
"""

import argparse
import dataclasses
import json
import time

import numpy as np
from common import REPO, machine, setup_django, use_scale_database

SEED = 0


def demo_catalogue() -> tuple[list[str], list[str]]:
    lines = (REPO / "data" / "trending_papers.txt").read_text(encoding="utf-8").splitlines()[2:]
    pairs = [(lines[i].strip(), lines[i + 1].strip()) for i in range(0, len(lines) - 1, 2) if lines[i].strip()]
    return [title for title, _ in pairs], [abstract for _, abstract in pairs]


def mean_reciprocal_rank(scores: np.ndarray) -> float:
    """``scores`` (queries, documents), query i's right document being i."""
    right = scores[np.arange(len(scores)), np.arange(len(scores))]
    ranks = 1 + (scores > right[:, None]).sum(axis=1)
    return float(np.mean(1.0 / ranks))


def standardised(scores: np.ndarray) -> np.ndarray:
    return (scores - scores.mean(axis=1, keepdims=True)) / np.maximum(scores.std(axis=1, keepdims=True), 1e-9)


def demo() -> dict:
    setup_django()
    from django.conf import settings

    from recommender.engine import meaning as engine_meaning
    from recommender.engine.content import TfidfEncoder
    from recommender.engine.meaning import SentenceEncoder

    titles, abstracts = demo_catalogue()
    tfidf = TfidfEncoder()
    documents = tfidf.fit_transform(abstracts)
    by_words = np.asarray((tfidf.transform(titles) @ documents.T).todense())
    encoder = SentenceEncoder(device="cpu")
    by_meaning = encoder.transform(titles).astype(np.float32) @ encoder.transform(abstracts).astype(np.float32).T
    share = settings.BLEND_MEANING_SHARE
    both = (1 - share) * standardised(by_words) + share * standardised(by_meaning)
    report = {
        "papers": len(titles),
        "mrr": {
            "tfidf": round(mean_reciprocal_rank(by_words), 4),
            "meaning": round(mean_reciprocal_rank(by_meaning), 4),
            f"both ({share:g} meaning)": round(mean_reciprocal_rank(both), 4),
        },
    }
    texts = [engine_meaning.embedding_text(t, a) for t, a in zip(titles, abstracts)]
    batch = [f"{i}. {texts[i % len(texts)]}" for i in range(2000)]
    throughput = {}
    for tokens in (engine_meaning.MAX_TOKENS, 256):
        engine_meaning.MAX_TOKENS = tokens
        timed = SentenceEncoder(device="cpu")
        timed.transform(batch[:64])  # the weights loaded before the clock
        clock = time.perf_counter()
        timed.transform(batch)
        seconds = time.perf_counter() - clock
        throughput[tokens] = {"seconds_for_2000": round(seconds, 1), "papers_per_second": round(2000 / seconds, 1)}
    engine_meaning.MAX_TOKENS = 128
    report["throughput"] = throughput
    served = throughput[128]["papers_per_second"]
    report["million_hours"] = round(1e6 / served / 3600, 1)
    print(f"title -> own abstract on the demo catalogue ({len(titles)} papers), mean reciprocal rank ({machine()}):")
    for name, value in report["mrr"].items():
        print(f"  {name:<22} {value:.4f}")
    for tokens, figures in throughput.items():
        seconds, rate = figures["seconds_for_2000"], figures["papers_per_second"]
        print(f"  embedding 2,000 papers at {tokens} word pieces: {seconds} s ({rate} a second)")
    print(f"  a backfill of 10^6 papers at that rate: {report['million_hours']} hours on this machine")
    return report


def feed(scale: str, readers_wanted: int) -> dict:
    use_scale_database(scale)
    from accounts.models import User
    from recommender.engine.serving import Catalogue, meaning_moments
    from recommender.model_store import store
    from recommender.selectors.feed import feed_page_for_user

    served = store.current()
    if served is None or not served.version:
        raise SystemExit(f"no model for {scale}: run training_scale.py --scale {scale} --model-only first")
    model, catalogue = served.model, served.catalogue
    rng = np.random.default_rng(SEED)
    started = time.perf_counter()
    vectors = rng.standard_normal((model.n_items, 384), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    meaning = vectors.astype(np.float16)
    del vectors
    moments = meaning_moments(meaning)
    built = time.perf_counter() - started
    with_index = dataclasses.replace(catalogue.index, **moments)
    plain, blend = model.blend, model.blend
    if not blend.meaning_share:
        blend = dataclasses.replace(blend, meaning_share=0.5)

    def use(with_meaning: bool) -> None:
        model.meaning = meaning if with_meaning else None
        model.blend = blend if with_meaning else dataclasses.replace(plain, meaning_share=0.0)
        index = with_index if with_meaning else catalogue.index
        served.catalogue = Catalogue(model, index, catalogue.side_factors, catalogue.side_content)

    readers = list(User.objects.filter(username__startswith="synth", interactions__isnull=False).distinct().order_by("pk")[:readers_wanted])
    seconds: dict[bool, list[float]] = {True: [], False: []}
    for with_meaning in (True, False):
        use(with_meaning)
        for reader in readers[:10]:
            feed_page_for_user(user=reader)
    for reader in readers:
        for with_meaning in (True, False):
            use(with_meaning)
            best = float("inf")
            for _ in range(3):
                clock = time.perf_counter()
                feed_page_for_user(user=reader)
                best = min(best, time.perf_counter() - clock)
            seconds[with_meaning].append(best)
    on, off = np.array(seconds[True]) * 1000, np.array(seconds[False]) * 1000
    index_bytes = _index_bytes(moments["meaning_ann"])
    report = {
        "machine": machine(),
        "scale": scale,
        "papers": model.n_items,
        "readers": len(readers),
        "with_meaning": {"p50_ms": round(float(np.median(on)), 2), "p95_ms": round(float(np.percentile(on, 95)), 2)},
        "tfidf_alone": {"p50_ms": round(float(np.median(off)), 2), "p95_ms": round(float(np.percentile(off, 95)), 2)},
        "cost_ms": {"p50": round(float(np.median(on - off)), 2), "p95": round(float(np.percentile(on - off, 95)), 2)},
        "vectors_mib": round(meaning.nbytes / 2**20, 1),
        "index_mib": round(index_bytes / 2**20, 1),
        "moments_and_index_seconds": round(built, 1),
    }
    print(f"feed request at {scale}: {model.n_items:,} papers, {len(readers)} readers, best of 3 each ({machine()})")
    print(f"  with meaning   p50 {report['with_meaning']['p50_ms']:>7.2f} ms   p95 {report['with_meaning']['p95_ms']:>7.2f} ms")
    print(f"  TF-IDF alone   p50 {report['tfidf_alone']['p50_ms']:>7.2f} ms   p95 {report['tfidf_alone']['p95_ms']:>7.2f} ms")
    print(f"  meaning costs  p50 {report['cost_ms']['p50']:>7.2f} ms   p95 {report['cost_ms']['p95']:>7.2f} ms (paired differences)")
    built = report["moments_and_index_seconds"]
    print(f"  float16 vectors {report['vectors_mib']} MiB, faiss index {report['index_mib']} MiB (built in {built} s)")
    return report


def engine(papers: int, readers_wanted: int) -> dict:
    """The engine's part of a feed request (fold-in and profiles, candidates, scoring) at ``papers`` papers, with and
    without meaning, on a synthetic catalogue built in memory (100 topics: factors, TF-IDF rows and meaning vectors
    clustered by topic)."""
    setup_django()
    from scipy import sparse

    from recommender.engine.blend import BlendParams, HybridModel
    from recommender.engine.collaborative import ALSParams
    from recommender.engine.serving import Catalogue, candidates, meaning_moments, readers, score_many, serving_index

    rng = np.random.default_rng(SEED)
    n, f, d, topics_n = papers, 256, 384, 100
    started = time.perf_counter()
    topics = rng.integers(0, topics_n, size=n)
    terms = (topics[:, None] * 100 + rng.integers(0, 100, size=(n, 40))).ravel()
    content = sparse.csr_matrix((np.ones(len(terms), np.float32), terms, np.arange(0, len(terms) + 1, 40)), shape=(n, topics_n * 100))
    content.sum_duplicates()
    content = sparse.csr_matrix(content.multiply(1 / np.sqrt(content.multiply(content).sum(axis=1))))
    factors = (rng.normal(size=(topics_n, f))[topics] + 0.5 * rng.normal(size=(n, f))).astype(np.float32) * 0.05
    centres = rng.normal(size=(topics_n, d)).astype(np.float32)
    meaning = np.empty((n, d), dtype=np.float16)
    for start in range(0, n, 65_536):
        block = centres[topics[start : start + 65_536]] + 1.5 * rng.normal(size=(min(65_536, n - start), d)).astype(np.float32)
        meaning[start : start + 65_536] = block / np.linalg.norm(block, axis=1, keepdims=True)
    popularity = np.log1p(rng.pareto(1.2, size=n)).astype(np.float32)
    known = np.ones(n, bool)
    plain = HybridModel(factors, content, popularity, known, ALSParams(factors=f), BlendParams(meaning_share=0.0))
    index = serving_index(plain)
    with_meaning = HybridModel(factors, content, popularity, known, ALSParams(factors=f), BlendParams(), gram=plain.gram, meaning=meaning)
    moments = meaning_moments(meaning)
    catalogues = {False: Catalogue(plain, index), True: Catalogue(with_meaning, dataclasses.replace(index, **moments))}
    built = time.perf_counter() - started
    seconds: dict[bool, list[float]] = {True: [], False: []}
    for r in range(readers_wanted + 10):
        favourite = rng.integers(0, topics_n)
        mine = rng.choice(np.flatnonzero(topics[: min(n, 200_000)] == favourite), size=15, replace=False)
        weights = sparse.csr_matrix((np.full(15, 4.0, np.float32), (np.zeros(15, int), np.sort(mine))), shape=(1, n))
        for on in (True, False):
            best = float("inf")
            for _ in range(3):
                clock = time.perf_counter()
                reader = readers(catalogues[on], weights)[0]
                columns = candidates(catalogues[on], reader)
                score_many(catalogues[on], [reader], columns)
                best = min(best, time.perf_counter() - clock)
            if r >= 10:  # the first ten warm the caches
                seconds[on].append(best)
    on, off = np.array(seconds[True]) * 1000, np.array(seconds[False]) * 1000
    report = {
        "machine": machine(),
        "papers": n,
        "readers": readers_wanted,
        "with_meaning_p50_ms": round(float(np.median(on)), 2),
        "tfidf_alone_p50_ms": round(float(np.median(off)), 2),
        "cost_ms": {"p50": round(float(np.median(on - off)), 2), "p95": round(float(np.percentile(on - off, 95)), 2)},
        "vectors_mib": round(meaning.nbytes / 2**20, 1),
        "codes_mib": round(moments["meaning_codes"].nbytes / 2**20, 1),
        "index_mib": round(_index_bytes(moments["meaning_ann"]) / 2**20, 1),
        "built_seconds": round(built, 1),
    }
    print(f"the engine's part of a feed request at {n:,} papers, {readers_wanted} readers, best of 3 each ({machine()})")
    print(f"  with meaning p50 {report['with_meaning_p50_ms']} ms, TF-IDF alone p50 {report['tfidf_alone_p50_ms']} ms")
    print(f"  meaning costs p50 {report['cost_ms']['p50']} ms, p95 {report['cost_ms']['p95']} ms (paired differences)")
    print(f"  float16 vectors {report['vectors_mib']} MiB, 8-bit copy {report['codes_mib']} MiB, index {report['index_mib']} MiB")
    return report


def _index_bytes(index) -> int:
    import faiss

    return len(faiss.serialize_index(index))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("demo", "feed", "engine"))
    parser.add_argument("--papers", type=int, default=1_000_000)
    parser.add_argument("--scale", default="M")
    parser.add_argument("--readers", type=int, default=200)
    args = parser.parse_args()
    if args.what == "demo":
        report = demo()
    elif args.what == "feed":
        report = feed(args.scale, args.readers)
    else:
        report = engine(args.papers, args.readers)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
