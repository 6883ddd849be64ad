"""Training at scale: the whole nightly pipeline against a bare implicit ALS fit of the same matrix, in one run.

    .venv/bin/python benchmarks/training_scale.py --scale S      # M and L take minutes and gigabytes

For the scale's synthetic community (generated once into its own PostgreSQL database,
paperfeed_bench_<scale>, with generate_synthetic), it runs in fresh child processes, one after the
other: (1) the retrain as the training worker runs it (database to activated model: extraction,
matrix, content model, ALS, content map, hold-out evaluation, artifact, activation), first with
no active model if there is none yet (the first night), then again with the model it made
active (every later night: TF-IDF reused, the active model scored on the same hold-out); then
(2) a bare `implicit` ALS fit of the same confidence matrix with the same parameters (the matrix
is built before its clock starts). Each child reports its stage timings and its peak memory
(max RSS). The ratio is the later night's pipeline over the bare fit. Prints a table, then one
line of JSON.
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time

from common import REPO, machine

SCALES = {
    "S": (10_000, 10_000, 100_000),
    "M": (100_000, 100_000, 1_000_000),
    "L": (1_000_000, 200_000, 10_000_000),
    "XL": (100_000, 1_000_000, 10_000_000),  # a catalogue of a million papers, for serving
}
SERVER = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_pipeline() -> dict:
    from common import setup_django

    setup_django()
    from recommender.services.training import retrain

    clock = time.perf_counter()
    run = retrain()
    wall = time.perf_counter() - clock
    if run.status != "activated":
        raise SystemExit(f"retrain ended {run.status}: {run.message}")
    return {
        "seconds": round(wall, 2),
        "stages": run.timings,
        "sizes": run.sizes,
        "gate": {key: run.metrics.get("gate", {}).get(key) for key in ("reason", "detectable", "readers_needed", "reference")},
        "peak_rss_mib": round(peak_rss_mib()),
        "searched": bool(run.tuning.get("searched")),
        "tuning": {k: v for k, v in run.tuning.items() if k != "trials"},
    }


def child_bare() -> dict:
    from common import setup_django

    setup_django()
    from threadpoolctl import threadpool_limits

    from recommender.engine.collaborative import ALSParams, als_model
    from recommender.engine.matrix import confidence_matrix
    from recommender.models import TrainingRun
    from recommender.selectors.training import training_snapshot
    from recommender.services.tuning import als_params, feedback_weights

    snapshot = training_snapshot()
    matrix = confidence_matrix(snapshot.events, (len(snapshot.user_pks), len(snapshot.paper_pks)), feedback_weights()).astype("float32")
    del snapshot
    before = peak_rss_mib()
    active = TrainingRun.objects.filter(is_active=True).first()
    params = ALSParams(**active.parameters["als"]) if active and "als" in active.parameters else als_params()  # the model's own
    model = als_model(params)
    with threadpool_limits(limits=1, user_api="blas"):
        clock = time.perf_counter()
        model.fit(matrix, show_progress=False)
        fit = time.perf_counter() - clock
    return {
        "seconds": round(fit, 2),
        "nonzeros": int(matrix.nnz),
        "peak_rss_mib": round(peak_rss_mib()),
        "rss_before_fit_mib": round(before),
        "factors": params.factors,
    }


def run_child(stage: str, env: dict) -> dict:
    result = subprocess.run([sys.executable, __file__, "--child", stage], env=env, capture_output=True, text=True, cwd=REPO / "benchmarks")
    if result.returncode:
        sys.stderr.write(result.stderr)
        raise SystemExit(f"{stage} failed")
    return json.loads(result.stdout.strip().splitlines()[-1])


def prepare_database(scale: str, env: dict, fresh: bool) -> dict:
    """Create paperfeed_bench_<scale> with its synthetic community unless it is already there."""
    import psycopg

    name = f"paperfeed_bench_{scale.lower()}"
    env["DATABASE_URL"] = f"{SERVER}/{name}"
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and fresh:
            conn.execute(f'DROP DATABASE "{name}"')
        if not exists or fresh:
            conn.execute(f'CREATE DATABASE "{name}"')
    manage = [sys.executable, str(REPO / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True)
    users, papers, interactions = SCALES[scale]
    clock = time.perf_counter()
    generated = subprocess.run(
        [*manage, "generate_synthetic", f"--users={users}", f"--papers={papers}", f"--interactions={interactions}"],
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - clock
    if generated.returncode and "already holds" not in generated.stderr:
        sys.stderr.write(generated.stderr)
        raise SystemExit("generate_synthetic failed")
    return {"database": name, "generated_seconds": round(seconds, 1) if not generated.returncode else None}


def active_model_exists(env: dict) -> bool:
    check = "from recommender.services.training import active_model; print(active_model() is not None)"
    out = subprocess.run(
        [sys.executable, str(REPO / "manage.py"), "shell", "-c", check], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.strip().endswith("True")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=SCALES, default="S")
    parser.add_argument("--fresh", action="store_true", help="drop and regenerate the scale's database")
    parser.add_argument("--child", choices=["pipeline", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--model-only", action="store_true", help="one retrain, for serving benchmarks (no later nights, no bare fit)")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child_pipeline() if args.child == "pipeline" else child_bare()))
        return

    env = {**os.environ, "SECRET_KEY": os.environ.get("SECRET_KEY", "bench"), "OPENBLAS_NUM_THREADS": "1", "HOLDOUT_USERS": "1000"}
    env["MODEL_DIR"] = str(REPO / "var" / "bench-models" / args.scale)
    if args.fresh:
        shutil.rmtree(env["MODEL_DIR"], ignore_errors=True)
    prepared = prepare_database(args.scale, env, args.fresh)
    first = run_child("pipeline", env) if not active_model_exists(env) else None
    if args.model_only:
        ran = first or run_child("pipeline", env)
        print(json.dumps({"benchmark": "training_scale", "scale": args.scale, "model_only": ran, **prepared}))
        return
    pipeline = run_child("pipeline", env)  # a later night that reuses the last search's choice
    searching = run_child("pipeline", {**env, "TUNING_EVERY_DAYS": "0"})  # a later night that searches again (weekly)
    bare = run_child("bare", env)
    users, papers, interactions = SCALES[args.scale]
    ratio = pipeline["seconds"] / bare["seconds"]
    search_ratio = searching["seconds"] / bare["seconds"]
    print(f"training scale {args.scale}: {users:,} users, {papers:,} papers, {interactions:,} interactions ({machine()})")
    print(f"{'stage':<14}{'first night':>12}{'later night':>12}{'search night':>13}")
    for stage in {**pipeline["stages"], **searching["stages"]}:
        first_seconds = first["stages"].get(stage, 0) if first else float("nan")
        print(f"{stage:<14}{first_seconds:>12.2f}{pipeline['stages'].get(stage, 0):>12.2f}{searching['stages'].get(stage, 0):>13.2f}")
    if first:
        print(
            f"{'pipeline':<14}{first['seconds']:>12.2f}{'':>12}   first night (searched: {first['searched']}), "
            f"peak RSS {first['peak_rss_mib']:,} MiB"
        )
    print(
        f"{'pipeline':<14}{'':>12}{pipeline['seconds']:>12.2f}   later night (searched: {pipeline['searched']}), "
        f"peak RSS {pipeline['peak_rss_mib']:,} MiB"
    )
    print(f"{'pipeline':<14}{'':>24}{searching['seconds']:>13.2f}   search night, peak RSS {searching['peak_rss_mib']:,} MiB")
    print(f"{'bare ALS fit':<14}{bare['seconds']:>10.2f}   {bare['factors']} factors, peak RSS {bare['peak_rss_mib']:,} MiB")
    print(f"pipeline / bare fit = {ratio:.2f} (later night), {search_ratio:.2f} (search night)")
    gate_ratio = pipeline["stages"].get("evaluate", 0) / bare["seconds"]
    print(f"the gate (scoring the hold-out, the references and the fit check) / bare fit = {gate_ratio:.2f} (later night)")
    print(f"search night: {searching['tuning'].get('reason')}")
    print(
        json.dumps(
            {
                "benchmark": "training_scale",
                "scale": args.scale,
                "users": users,
                "papers": papers,
                "interactions": interactions,
                "pipeline_seconds": pipeline["seconds"],
                "stages": pipeline["stages"],
                "content_reused": pipeline["sizes"].get("content_reused"),
                "search_night": searching,
                "search_ratio": round(search_ratio, 3),
                "first_night": first,
                "bare_fit_seconds": bare["seconds"],
                "ratio": round(ratio, 3),
                "gate_ratio": round(gate_ratio, 3),
                "pipeline_peak_rss_mib": pipeline["peak_rss_mib"],
                "bare_peak_rss_mib": bare["peak_rss_mib"],
                "nonzeros": bare["nonzeros"],
                "machine": machine(),
                **prepared,
            }
        )
    )


if __name__ == "__main__":
    main()
