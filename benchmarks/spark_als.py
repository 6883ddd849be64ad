"""Spark's ALS (TRAINER=spark) against implicit's with the same parameters: warm quality, and time and memory at scale.

    .venv/bin/python benchmarks/spark_als.py [--part quality scale] [--scale M]

quality: the warm split `manage.py evaluate --protocol warm` makes of citeulike-a (seed 0), the settings' parameters
as they are (as with --fixed), one fit per trainer through the pipeline; recall@20 of ALS alone, of the blend over
every paper and of the blend as served (Spark's ALS stage includes starting its session). scale: the synthetic
community training_scale.py generates for --scale, built here from the same generator without a database; each
trainer fits its confidence matrix in a fresh child process. Memory is each process's peak resident set (VmHWM in
/proc) at the end of the fit: the Python process, and for Spark also the JVM it starts (a child of it; local mode
runs the executors in that JVM). Their sum bounds the tree's peak from above. Prints markdown tables, then one line
of JSON.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from common import CITEULIKE, REPO, machine, setup_django
from training_scale import SCALES

TRAINERS = ("implicit", "spark")
METHODS = ("als", "blend", "served")


def factorizer(trainer: str):
    if trainer == "spark":
        from recommender.engine.spark_als import spark_als_fit

        return spark_als_fit
    from recommender.engine.collaborative import als_fit

    return als_fit


def quality(dataset_dir: str, seed: int) -> dict:
    """recall@20 per trainer and method on the warm split, fitted with the settings' parameters."""
    import numpy as np

    from recommender.engine.evaluation import content_as_served, dataset_from_records, metrics, rank_users, split_warm, subset
    from recommender.engine.exchange import read_interactions_csv, read_papers
    from recommender.engine.pipeline import fit_hybrid
    from recommender.services.training import feedback_weights
    from recommender.services.tuning import parameters_from_settings

    dataset = dataset_from_records(read_papers(f"{dataset_dir}/papers.jsonl"), read_interactions_csv(f"{dataset_dir}/interactions.csv"))
    mask, truth = split_warm(dataset.events, seed=seed)
    users = np.array(sorted(truth))
    parameters = parameters_from_settings()
    encoder, content = content_as_served(dataset.texts, np.ones(len(dataset.item_ids), dtype=bool))
    options = {"als": parameters.als, "graph": parameters.graph, "blend": parameters.blend, "weights": feedback_weights()}
    results = {}
    for trainer in TRAINERS:
        fit = fit_hybrid(
            subset(dataset.events, mask),
            n_users=len(dataset.user_ids),
            texts=dataset.texts,
            encoder=encoder,
            content=content,
            factorize=factorizer(trainer),
            **options,
        )
        ranked = rank_users(fit, users, methods=METHODS)
        recall = {method: round(metrics(ranked[method], [truth[u] for u in users])["recall@20"], 4) for method in METHODS}
        results[trainer] = {"fit_seconds": fit.timings["als"], **recall}
    return {"readers": len(users), "als": parameters.als.as_dict(), "trainers": results}


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def descendants(pid: int) -> list[int]:
    """The live processes started by ``pid``, their children and so on."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def child_fit(trainer: str, scale: str) -> dict:
    """Build the scale's confidence matrix, then fit it with ``trainer``; the clock starts after the matrix (and, for
    Spark, after the session has started)."""
    setup_django()
    from recommender.engine.matrix import Events, confidence_matrix
    from recommender.engine.synthetic import synthetic_feedback, synthetic_papers
    from recommender.services.training import als_params, feedback_weights

    users, papers, interactions = SCALES[scale]
    feedback = synthetic_feedback(users, synthetic_papers(papers, seed=0), interactions, seed=0)
    events = Events(feedback.users, feedback.papers, feedback.kinds, feedback.values, feedback.ages_seconds / 86400)
    confidence = confidence_matrix(events, (users, papers), feedback_weights())
    del feedback, events
    before = peak_rss_mib(os.getpid())
    startup = 0.0
    if trainer == "spark":
        from recommender.engine.spark_als import spark_session

        clock = time.perf_counter()
        spark_session()
        startup = time.perf_counter() - clock
    params = als_params()
    clock = time.perf_counter()
    factorizer(trainer)(confidence, params)
    seconds = time.perf_counter() - clock
    jvm = sum(peak_rss_mib(pid) for pid in descendants(os.getpid()))
    return {
        "seconds": round(seconds, 1),
        "startup_seconds": round(startup, 1),
        "python_peak_mib": round(peak_rss_mib(os.getpid())),
        "python_before_fit_mib": round(before),
        "jvm_peak_mib": round(jvm),
        "nonzeros": int(confidence.nnz),
        "factors": params.factors,
    }


def run_child(trainer: str, scale: str) -> dict:
    command = [sys.executable, __file__, "--child", trainer, "--scale", scale]
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO / "benchmarks")
    if result.returncode:
        sys.stderr.write(result.stderr)
        raise SystemExit(f"{trainer} fit failed")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", nargs="+", choices=["quality", "scale"], default=["quality", "scale"])
    parser.add_argument("--scale", choices=SCALES, default="M")
    parser.add_argument("--dataset", default=str(CITEULIKE))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", choices=TRAINERS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child_fit(args.child, args.scale)))
        return

    report: dict = {"benchmark": "spark_als", "machine": machine()}
    if "quality" in args.part:
        setup_django()
        report["quality"] = found = quality(args.dataset, args.seed)
        als = found["als"]
        print(f"\nwarm, citeulike-a, seed {args.seed}, {found['readers']} readers; {als['factors']} factors, reg {als['regularization']}")
        print(f"alpha {als['alpha']}, {als['iterations']} iterations ({machine()})\n")
        print("| trainer | ALS recall@20 | blend recall@20 | served recall@20 | ALS stage s |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for trainer, row in found["trainers"].items():
            print(f"| {trainer} | {row['als']:.4f} | {row['blend']:.4f} | {row['served']:.4f} | {row['fit_seconds']:.1f} |")
    if "scale" in args.part:
        users, papers, interactions = SCALES[args.scale]
        report["scale"] = {"scale": args.scale, **{trainer: run_child(trainer, args.scale) for trainer in TRAINERS}}
        nonzeros = report["scale"]["implicit"]["nonzeros"]
        print(f"\nscale {args.scale}: {users:,} readers, {papers:,} papers, {interactions:,} interactions, {nonzeros:,} cells")
        print(f"({machine()})\n")
        print("| trainer | fit s | session start s | Python peak MiB (before fit) | JVM peak MiB |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for trainer in TRAINERS:
            row = report["scale"][trainer]
            print(
                f"| {trainer} | {row['seconds']:.1f} | {row['startup_seconds']:.1f} | "
                f"{row['python_peak_mib']:,} ({row['python_before_fit_mib']:,}) | {row['jvm_peak_mib']:,} |"
            )
    print(json.dumps(report))


if __name__ == "__main__":
    main()
