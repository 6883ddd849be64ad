"""Serving: the feed under load against a trivial one-row view, gunicorn on loopback, wrk, in one run.

    .venv/bin/python benchmarks/serving.py --scale M      # after benchmarks/training_scale.py --scale M

Uses the scale's database and model from the training benchmark (paperfeed_bench_<scale>). Signs
in --readers synthetic readers (real sessions), starts gunicorn (--workers, no preload), warms each
worker, then for each concurrency runs wrk on the trivial view (one row read, a tiny page), the feed page
/feed/ and the JSON feed /api/feed/ (each request a random signed-in reader) and the paper page (a random
paper of 2,000), one after the other. Reports p50/p95/p99 and
requests/s, the web workers' memory (RSS and PSS), and how long a like followed by a feed request
takes, checking that the liked paper left the feed. Prints a table, then one line of JSON.
"""

import argparse
import http.client
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import REPO, machine

SERVER = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
TRIVIAL, FEED, JSON_FEED, PAPER = "/bench/one-row/", "/feed/", "/api/feed/", "/papers/"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sign_in_readers(count: int, path: Path) -> list[str]:
    """Session keys of ``count`` synthetic readers who have feedback (a fixed sample), one per line in ``path``."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from accounts.models import User

    readers = list(User.objects.filter(username__startswith="synth", interactions__isnull=False).distinct().order_by("pk")[:count])
    keys = []
    for reader in readers:
        session = SessionStore()
        session[SESSION_KEY] = str(reader.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = reader.get_session_auth_hash()
        session.create()
        keys.append(session.session_key)
    path.write_text("\n".join(keys) + "\n")
    return keys


def sample_papers(count: int) -> list[str]:
    """External ids of ``count`` papers picked at random (a fixed sample), for the paper page's runs."""
    from recommender.models import Paper

    return list(Paper.objects.order_by("?").values_list("external_id", flat=True)[:count])


def get(port: int, path: str, session: str, csrf: str = "") -> tuple[int, str, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", path, headers={"Cookie": f"sessionid={session}" + (f"; csrftoken={csrf}" if csrf else "")})
    response = conn.getresponse()
    return response.status, response.read().decode(), dict(response.getheaders())


def served_by_all(port: int, session: str, version: str, workers: int, cap: float = 300) -> None:
    """Wait until every worker serves ``version`` (each loads it in a background thread as it starts): the JSON feed
    names the model that served it; 4 x ``workers`` answers in a row from it."""
    deadline, in_a_row = time.monotonic() + cap, 0
    while in_a_row < 4 * workers:
        if time.monotonic() > deadline:
            raise SystemExit(f"the workers did not all serve model {version} within {cap:.0f} s")
        status, body, _ = get(port, "/api/feed/?limit=1", session)
        in_a_row = in_a_row + 1 if status == 200 and json.loads(body).get("model") == version else 0
        if not in_a_row:
            time.sleep(0.2)


def like_then_feed(port: int, sessions: list[str], samples: int) -> dict:
    """For ``samples`` readers: load the feed, like its first paper, load the feed again; time the last two."""
    seconds, visible = [], 0
    for session in sessions[:samples]:
        _, page, headers = get(port, FEED, session)
        first = re.search(r'data-paper="([^"]+)"', page).group(1)
        csrf = re.search(r"csrftoken=([^;]+)", headers.get("Set-Cookie", "")).group(1)
        token = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)
        clock = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request(
            "POST",
            f"/feedback/{first}",
            body="kind=like&on=1",
            headers={
                "Cookie": f"sessionid={session}; csrftoken={csrf}",
                "X-CSRFToken": token,
                "HX-Request": "true",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        liked = conn.getresponse()
        liked.read()
        _, after, _ = get(port, FEED, session)
        seconds.append(time.perf_counter() - clock)
        visible += liked.status == 200 and f'data-paper="{first}"' not in after
    return {
        "samples": len(seconds),
        "effect_visible": visible,
        "median_ms": round(1000 * statistics.median(seconds), 1),
        "max_ms": round(1000 * max(seconds), 1),
    }


def memory_of(pid: int) -> dict:
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value, *_ = line.split()
        fields[name.rstrip(":")] = int(value) / 1024
    return {"rss_mib": round(fields["Rss"]), "pss_mib": round(fields["Pss"])}


def wrk(port: int, path: str, concurrency: int, duration: int, sessions_file: Path, papers_file: Path | None = None) -> dict:
    env = {**os.environ, "SESSIONS_FILE": str(sessions_file), "BENCH_PATH": path}
    if papers_file is not None:
        env["PAPERS_FILE"] = str(papers_file)
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{concurrency}",
            f"-d{duration}s",
            "--timeout",
            "10s",
            "-s",
            str(REPO / "benchmarks" / "serving" / "load.lua"),
            f"http://127.0.0.1:{port}{path}",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.split("RESULT ", 1)[1].splitlines()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="M")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--readers", type=int, default=2000)
    args = parser.parse_args()
    name = f"paperfeed_bench_{args.scale.lower()}"
    os.environ.update(
        {
            "DATABASE_URL": f"{SERVER}/{name}",
            "MODEL_DIR": str(REPO / "var" / "bench-models" / args.scale),
            "DEBUG": "0",
            "SECRET_KEY": os.environ.get("SECRET_KEY", "bench"),
            "DJANGO_SETTINGS_MODULE": "serving.settings",
            "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'benchmarks'}",
            "OPENBLAS_NUM_THREADS": "1",
            "API_RATE_USER": "1000000/min",
        }
    )
    from common import setup_django

    setup_django()
    from recommender.models import TrainingRun

    if not TrainingRun.objects.filter(is_active=True).exists():
        raise SystemExit(f"No active model in {name}: run benchmarks/training_scale.py --scale {args.scale} first.")
    sessions_file = REPO / "var" / f"bench-sessions-{args.scale}.txt"
    sessions = sign_in_readers(args.readers, sessions_file)
    papers_file = REPO / "var" / f"bench-papers-{args.scale}.txt"
    papers_file.write_text("\n".join(sample_papers(2000)) + "\n")

    # Static files are served by hashed name (whitenoise's manifest), as in production: collect them first.
    subprocess.run([sys.executable, str(REPO / "manage.py"), "collectstatic", "--no-input", "-v0"], check=True, env=os.environ)
    port = free_port()
    server = subprocess.Popen(
        [
            str(REPO / ".venv" / "bin" / "gunicorn"),
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.workers),
            "--log-level",
            "warning",
            "--timeout",
            "120",
        ],
        cwd=REPO,
    )
    try:
        for _ in range(100):
            try:
                get(port, TRIVIAL, sessions[0])
                break
            except OSError:
                time.sleep(0.3)
        served_by_all(port, sessions[0], TrainingRun.objects.get(is_active=True).version, args.workers)
        for path in (TRIVIAL, FEED, JSON_FEED):  # every worker warms its caches
            for session in sessions[: 20 * args.workers]:
                get(port, path, session)
        results = {}
        for concurrency in args.concurrency:
            for label, path in (("trivial", TRIVIAL), ("feed", FEED), ("json", JSON_FEED), ("paper", PAPER)):
                papers = papers_file if path == PAPER else None
                results[f"{label}_c{concurrency}"] = wrk(port, path, concurrency, args.duration, sessions_file, papers)
        workers = [int(pid) for pid in subprocess.run(["pgrep", "-P", str(server.pid)], capture_output=True, text=True).stdout.split()]
        memory = [memory_of(pid) for pid in workers]
        like = like_then_feed(port, sessions[100:], 30)
    finally:
        server.terminate()
        server.wait(timeout=30)

    print(f"serving at scale {args.scale}: gunicorn, {args.workers} workers, wrk {args.duration}s per run ({machine()})")
    print(f"{'run':<14}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for key, r in results.items():
        print(f"{key:<14}{r['rps']:>9.1f}{r['p50_ms']:>9.1f}{r['p95_ms']:>9.1f}{r['p99_ms']:>9.1f}{r['errors'] + r['non_2xx']:>8}")
    ratios = {c: round(results[f"feed_c{c}"]["rps"] / results[f"trivial_c{c}"]["rps"], 3) for c in args.concurrency}
    print("feed / trivial throughput: " + ", ".join(f"c={c}: {r:.2f}" for c, r in ratios.items()))
    print("web workers: " + ", ".join(f"RSS {m['rss_mib']} MiB (PSS {m['pss_mib']})" for m in memory))
    print(
        f"like, then feed: median {like['median_ms']} ms, max {like['max_ms']} ms; "
        f"the like showed in {like['effect_visible']}/{like['samples']}"
    )
    print(
        json.dumps(
            {
                "benchmark": "serving",
                "scale": args.scale,
                "workers": args.workers,
                "duration_s": args.duration,
                "runs": results,
                "feed_over_trivial_rps": ratios,
                "worker_memory": memory,
                "like_then_feed": like,
                "machine": machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
