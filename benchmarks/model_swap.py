"""A newly activated model at scale: how long the feed takes while the web workers load it (in the background).

    .venv/bin/python benchmarks/model_swap.py --database-url postgres://postgres@127.0.0.1:5432/paperfeed_bench_pages_xl \
        --model-dir var/bench-pages/after/models

On a database with an active model (trained into --model-dir), it starts gunicorn (DEBUG=0, two workers, config.wsgi as
production does), waits until both workers serve the active model, then activates another version (a hard-linked copy of
the active model's folder, as a retrain would write it: the same arrays, a new version) and times the feed of a signed-in
reader every --every seconds until every worker serves the new version: the first request after the activation, the
slowest, and how long the swap took. A request that loaded the model itself would take as long as the load. Prints a
table, then one line of JSON.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import time
from pathlib import Path

from common import REPO, machine
from pages import Server, fetch, load_serving


def activate_copy(model_dir: Path) -> str:
    """A new TrainingRun, active, whose model folder is a hard-linked copy of the active one's."""
    from django.db import transaction
    from django.utils import timezone

    from recommender.models import TrainingRun

    active = TrainingRun.objects.get(is_active=True)
    version = "swap" + timezone.now().strftime("%Y%m%dT%H%M%S%f")
    shutil.copytree(model_dir / active.artifact, model_dir / version, copy_function=os.link)
    with transaction.atomic():
        TrainingRun.objects.filter(pk=active.pk).update(is_active=False)
        TrainingRun.objects.create(
            version=version,
            status=TrainingRun.Status.ACTIVATED,
            is_active=True,
            artifact=version,
            finished_at=timezone.now(),
            parameters=active.parameters,
            metrics=active.metrics,
            sizes=active.sizes,
            data_until=active.data_until,
        )
    return version


def served(port: int, session: str) -> tuple[int | str, float, str | None]:
    status, seconds, body = fetch(port, "/api/feed/?limit=20", session)
    return status, seconds, json.loads(body).get("model") if status == 200 else None


def until_all_serve(port: int, session: str, version: str, workers: int, every: float, cap: float) -> list[dict]:
    """Feed requests every ``every`` seconds until 4 x ``workers`` in a row come from ``version``: each one's time and model."""
    samples, in_a_row, start = [], 0, time.perf_counter()
    while in_a_row < 4 * workers and time.perf_counter() - start < cap:
        status, seconds, model = served(port, session)
        samples.append({"at": round(time.perf_counter() - start, 2), "status": status, "ms": round(1000 * seconds, 1), "model": model})
        in_a_row = in_a_row + 1 if model == version else 0
        time.sleep(every)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--every", type=float, default=0.25)
    parser.add_argument("--cap", type=float, default=600)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "MODEL_DIR": str(args.model_dir.resolve()),
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench"),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "OPENBLAS_NUM_THREADS": "1",
        "LOG_LEVEL": "WARNING",
        "API_RATE_USER": "1000000/min",
        "MODEL_CHECK_SECONDS": "5",
    }
    os.environ.update(env)
    from common import setup_django

    setup_django()
    from recommender.models import TrainingRun

    session = load_serving().sign_in_readers(1, REPO / "var" / "bench-swap-session.txt")[0]
    first = TrainingRun.objects.get(is_active=True).version
    subprocess.run([str(REPO / ".venv" / "bin" / "python"), "manage.py", "collectstatic", "--no-input", "-v0"], cwd=REPO, env=env)
    server = Server(REPO, env, 2, 120, REPO / "var" / "bench-swap-gunicorn.log")
    try:
        server.healthy()
        loaded = until_all_serve(server.port, session, first, 2, args.every, args.cap)
        first_load = next((s["at"] for s in loaded if s["model"] == first), None)
        new = activate_copy(args.model_dir)
        swap = until_all_serve(server.port, session, new, 2, args.every, args.cap)
    finally:
        server.stop()
    times = [s["ms"] for s in swap if s["status"] == 200]
    report = {
        "benchmark": "model_swap",
        "machine": machine(),
        "first_load_seconds": first_load,
        "served_before_first_load": [s for s in loaded if s["model"] != first][:3],
        "swap_seconds": swap[-1]["at"] if swap else None,
        "first_request_ms": swap[0]["ms"] if swap else None,
        "max_ms": max(times) if times else None,
        "median_ms": statistics.median(times) if times else None,
        "requests": len(swap),
        "errors": sum(s["status"] != 200 for s in swap),
        "served_old_while_loading": sum(s["model"] == first for s in swap),
    }
    print(f"model swap ({machine()}): the first worker served the first model {first_load} s after the start")
    print("| after activation | first request | median | slowest | requests | old model served | errors | all on the new one |")
    print(
        f"| {new} | {report['first_request_ms']} ms | {report['median_ms']} ms | {report['max_ms']} ms | {report['requests']} "
        f"| {report['served_old_while_loading']} | {report['errors']} | {report['swap_seconds']} s |"
    )
    print(json.dumps(report))
    if args.json:
        args.json.write_text(json.dumps({**report, "samples": swap}, indent=1))


if __name__ == "__main__":
    main()
