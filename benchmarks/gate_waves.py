"""The nightly gate as an operator meets it, on real readers: CiteULike's community arriving in two waves.

    .venv/bin/python benchmarks/gate_waves.py                 # all 5,551 readers (about 20 minutes)
    .venv/bin/python benchmarks/gate_waves.py --users 1500    # a quicker look

90% of the readers (a seeded draw) are imported on day one, the other 10% on day two, into a fresh SQLite
database under var/bench-gate/; then `retrain` runs night after night in this process, with settings as an
operator would put in the environment:

1. day one, defaults (the first model)
2. day two's readers in, defaults
3. ALS_FACTORS=1 ALS_ITERATIONS=1 GRAPH_NEIGHBOURS=1 (every collaborative signal crippled)
4. the same again (two crippled nights in a row)
5. defaults (an honest night after them)
6. ALS_FACTORS=4 ALS_ITERATIONS=1 GRAPH_NEIGHBOURS=25 BLEND_GRAPH_SHARE=0 BLEND_DIVERSITY=2 (crippled within the
   search's space: only the hold-out can see it)
7. defaults

Reported per night: the decision and its reason, the hold-out (kind, readers, papers, readers wanted), the smallest
drop it could see, the reference, and the time of the gate's scoring beside the ALS fit's. Prints a table, then one
line of JSON.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
from common import CITEULIKE, REPO, machine

WORKDIR = REPO / "var" / "bench-gate"
CRIPPLED = {"ALS_FACTORS": 1, "ALS_ITERATIONS": 1, "GRAPH_NEIGHBOURS": 1}
CRIPPLED_IN_SPACE = {"ALS_FACTORS": 4, "ALS_ITERATIONS": 1, "GRAPH_NEIGHBOURS": 25, "BLEND_GRAPH_SHARE": 0.0, "BLEND_DIVERSITY": 2.0}
NIGHTS = [("day one", {}), ("day two", {}), ("crippled", CRIPPLED), ("crippled again", CRIPPLED), ("honest", {}),
          ("crippled within the search's space", CRIPPLED_IN_SPACE), ("honest", {})]  # fmt: skip


def write_waves(users: int | None, seed: int) -> tuple[int, int]:
    """wave_one.csv and wave_two.csv under WORKDIR from citeulike-a (its first ``users`` readers, or all)."""
    with open(CITEULIKE / "interactions.csv") as handle:
        rows = list(csv.reader(handle))
    header, rows = rows[0], rows[1:]
    readers = sorted({row[0] for row in rows}, key=lambda name: int(name[1:]))
    if users:
        readers = readers[:users]
    late = set(np.random.default_rng(seed).choice(readers, size=len(readers) // 10, replace=False).tolist())
    kept = set(readers)
    waves = {"one": [r for r in rows if r[0] in kept and r[0] not in late], "two": [r for r in rows if r[0] in late]}
    for wave, part in waves.items():
        with open(WORKDIR / f"wave_{wave}.csv", "w", newline="") as handle:
            csv.writer(handle).writerows([header, *part])
    return len(readers) - len(late), len(late)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, help="the first N readers of citeulike-a (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    shutil.rmtree(WORKDIR, ignore_errors=True)
    WORKDIR.mkdir(parents=True)
    os.environ.update(
        {
            "DATABASE_URL": f"sqlite:///{WORKDIR / 'gate.sqlite3'}",
            "MODEL_DIR": str(WORKDIR / "models"),
            "SECRET_KEY": os.environ.get("SECRET_KEY", "bench"),
        }
    )
    subprocess.run([sys.executable, str(REPO / "manage.py"), "migrate", "-v0"], check=True)
    wave_one, wave_two = write_waves(args.users, args.seed)
    from common import setup_django

    setup_django()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import override_settings

    from recommender.services.training import retrain

    call_command("import_papers", str(CITEULIKE / "papers.jsonl"), verbosity=0)
    call_command("import_interactions", str(WORKDIR / "wave_one.csv"), verbosity=0)
    rows = []
    for n, (name, overrides) in enumerate(NIGHTS, start=1):
        if n == 2:
            call_command("import_interactions", str(WORKDIR / "wave_two.csv"), verbosity=0)
        pinned = frozenset(settings.TUNABLE_SETTINGS[key] for key in overrides if key in settings.TUNABLE_SETTINGS)
        clock = time.perf_counter()
        with override_settings(**overrides, TUNING_PINNED=pinned):
            run = retrain()
        rows.append(_row(n, name, overrides, run, time.perf_counter() - clock))
        print(f"night {n} ({name}): {run.status}: {run.message}", file=sys.stderr)
    report(args, wave_one, wave_two, rows)


def _row(n: int, name: str, overrides: dict, run, seconds: float) -> dict:
    gate, holdout = run.metrics.get("gate", {}), run.metrics.get("holdout", {})
    return {
        "night": n,
        "name": name,
        "settings": overrides,
        "status": run.status,
        "message": run.message,
        "holdout": holdout,
        "new": run.metrics.get("recall@20"),
        "active": run.metrics.get("active_model", {}).get("recall@20"),
        "reference": gate.get("reference"),
        "detectable": gate.get("detectable"),
        "readers_needed": gate.get("readers_needed"),
        "sanity": run.metrics.get("sanity", {}).get("problems", []),
        "als_seconds": run.timings.get("als"),
        "gate_seconds": run.timings.get("evaluate"),
        "seconds": round(seconds, 1),
    }


def report(args, wave_one: int, wave_two: int, rows: list[dict]) -> None:
    fmt = lambda v: f"{v:.4f}" if isinstance(v, float) else "-"  # noqa: E731
    print(f"gate on two waves of citeulike-a: {wave_one} readers on day one, {wave_two} on day two; {machine()}")
    print(f"{'night':>5} {'':<36} {'outcome':<10} {'hold-out':<28} {'new r@20':>9} {'active':>8} {'sees':>6} {'gate s':>7} {'ALS s':>6}")
    for r in rows:
        h = r["holdout"]
        where = f"{h.get('kind', '-')} {h.get('readers', 0)}r/{h.get('papers', 0)}p (want {h.get('wanted_readers', '-')})"
        sees = f"{r['detectable']:.0%}" if r["detectable"] is not None else "-"
        print(
            f"{r['night']:>5} {r['name']:<36} {r['status']:<10} {where:<28} {fmt(r['new']):>9} {fmt(r['active']):>8} {sees:>6} "
            f"{r['gate_seconds'] or 0:>7.1f} {r['als_seconds'] or 0:>6.1f}"
        )
    expected = ["activated", "activated", "rejected", "rejected", "activated", "rejected", "activated"]
    held = [r["status"] for r in rows] == expected
    print(json.dumps({"benchmark": "gate_waves", "users": args.users, "held": held, "machine": machine(), "nights": rows}))
    if not held:
        raise SystemExit(f"the gate did not hold: expected {expected}")


if __name__ == "__main__":
    main()
