"""Taking in papers: a backfill from arXiv's metadata snapshot, and a daily OAI-PMH harvest.

    .venv/bin/python benchmarks/intake.py --backfill 1000000 --harvest 2000     # BENCHMARKS.md
    .venv/bin/python benchmarks/intake.py --backfill 10000 --harvest 200         # a quick look

Backfill: N generated records in the snapshot format (synthetic titles and abstracts, several authors and
categories, one to three versions) are imported with `manage.py import_papers` into a fresh PostgreSQL
database, in a child process whose peak memory (max RSS) is reported; then a tenth of them, so that
memory can be compared with the size of the input (a stream keeps it flat).
Harvest: a local HTTP server answers ListRecords like arXiv (pages of 1,000 records with resumption
tokens); `intake_arxiv` takes them into the same database with arXiv's pause of 3 seconds between
requests, and the report separates our own time from the pauses. Prints a table, then one line of JSON.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse
from xml.sax.saxutils import escape

from common import REPO, machine

SERVER = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
WORKDIR = REPO / "var" / "bench-intake"
CATEGORIES = ["cs.LG", "cs.CL", "cs.CV", "stat.ML", "cs.AI", "math.OC", "cs.IR", "q-bio.NC", "physics.comp-ph", "hep-th"]


def snapshot_lines(n: int, seed: int = 0):
    from recommender.engine.synthetic import synthetic_papers

    rng = random.Random(seed)
    chunk = 100_000
    for start in range(0, n, chunk):
        papers = synthetic_papers(min(chunk, n - start), seed=seed + start)
        for k, (title, abstract) in enumerate(zip(papers.titles, papers.abstracts)):
            i = start + k
            month = 1 + i % 12
            created = datetime(2020 + (i // 400_000) % 6, month, 1 + i % 28, 12, 0, tzinfo=timezone.utc)
            versions = [
                {"version": f"v{v + 1}", "created": format_datetime(created + timedelta(days=30 * v), usegmt=True)}
                for v in range(1 + i % 3)
            ]
            authors = [[f"Surname{rng.randrange(50_000)}", f"Given {rng.randrange(1000)}", ""] for _ in range(1 + i % 6)]
            yield (
                json.dumps(
                    {
                        "id": f"{20 + i // 1_200_000:02d}{1 + (i // 100_000) % 12:02d}.{i % 100_000:05d}",
                        "submitter": authors[0][1],
                        "authors": "",
                        "title": title,
                        "comments": f"{5 + i % 30} pages",
                        "journal-ref": None,
                        "doi": None,
                        "report-no": None,
                        "categories": " ".join(rng.sample(CATEGORIES, 1 + i % 3)),
                        "license": None,
                        "abstract": f"  {abstract}\n",
                        "versions": versions,
                        "update_date": (created + timedelta(days=30 * (len(versions) - 1))).date().isoformat(),
                        "authors_parsed": authors,
                    }
                )
                + "\n"
            )


def write_snapshot(path: Path, n: int) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.writelines(snapshot_lines(n))


def fresh_database(name: str) -> str:
    import psycopg

    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{SERVER}/{name}"


def import_child(path: Path, env: dict) -> dict:
    """``manage.py import_papers path`` in a child process: wall time and the child's own peak memory (wait4)."""
    import tempfile

    clock = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(
            [sys.executable, str(REPO / "manage.py"), "import_papers", str(path)], env=env, stdout=out, stderr=err, text=True
        )
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - clock
        out.seek(0)
        err.seek(0)
        if os.waitstatus_to_exitcode(status):
            sys.stderr.write(err.read()[-3000:])
            raise SystemExit("import_papers failed")
        last = out.read().strip().splitlines()[-1]
    return {"seconds": round(seconds, 1), "peak_rss_mib": round(usage.ru_maxrss / 1024), "output": last}


class FakeArxiv(BaseHTTPRequestHandler):
    """ListRecords in pages of 1,000, resumption tokens "page|n"."""

    records: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - the http.server interface
        query = parse_qs(urlparse(self.path).query)
        page = int(query.get("resumptionToken", ["0|0"])[0].split("|")[1])
        chunk = self.records[page * 1000 : (page + 1) * 1000]
        more = (page + 1) * 1000 < len(self.records)
        next_token = "page|" + str(page + 1) if more else ""
        token = f'<resumptionToken cursor="{page * 1000}" completeListSize="{len(self.records)}">{next_token}</resumptionToken>'
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><responseDate>2026-11-29T02:00:00Z</responseDate>'
            f"<ListRecords>{''.join(chunk)}{token}</ListRecords></OAI-PMH>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/xml; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def oai_record(line: str, arxiv_id: str) -> str:
    obj = {**json.loads(line), "id": arxiv_id}
    authors = "".join(
        f"<author><keyname>{escape(a[0])}</keyname><forenames>{escape(a[1])}</forenames></author>" for a in obj["authors_parsed"]
    )
    return (
        f"<record><header><identifier>oai:arXiv.org:{obj['id']}</identifier><datestamp>2026-11-28</datestamp><setSpec>cs</setSpec></header>"
        f'<metadata><arXiv xmlns="http://arxiv.org/OAI/arXiv/"><id>{obj["id"]}</id><created>2026-11-27</created><authors>{authors}</authors>'
        f"<title>{escape(obj['title'])}</title><categories>{obj['categories']}</categories><comments>{obj['comments']}</comments>"
        f"<abstract>{escape(obj['abstract'])}</abstract></arXiv></metadata></record>"
    )


def harvest(n: int, env: dict) -> dict:
    os.environ.update(env)
    from common import setup_django

    setup_django()
    from django.conf import settings

    from recommender.services.intake import intake_arxiv
    from recommender.sources.records import PoliteClient

    FakeArxiv.records = [oai_record(line, f"2611.{k:05d}") for k, line in enumerate(snapshot_lines(n, seed=99))]
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeArxiv)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.ARXIV_OAI_URL = f"http://127.0.0.1:{server.server_address[1]}/oai"
    client = PoliteClient(user_agent="Paperfeed-bench", min_interval=3.0)
    clock = time.perf_counter()
    runs = intake_arxiv(sets=["cs"], client=client)
    seconds = time.perf_counter() - clock
    server.shutdown()
    run = runs[0]
    return {
        "records": n,
        "pages": run.pages,
        "status": run.status,
        "created": run.created,
        "updated": run.updated,
        "seconds": round(seconds, 1),
        "pauses_seconds": round(client.waited, 1),
        "own_seconds": round(seconds - client.waited, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backfill", type=int, default=1_000_000, help="snapshot records to import")
    parser.add_argument("--harvest", type=int, default=2000, help="records in the daily harvest")
    parser.add_argument("--child-harvest", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--write-snapshot", nargs=2, metavar=("N", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write_snapshot:
        write_snapshot(Path(args.write_snapshot[1]), int(args.write_snapshot[0]))
        return
    env = {**os.environ, "SECRET_KEY": os.environ.get("SECRET_KEY", "bench"), "OPENBLAS_NUM_THREADS": "1"}
    if args.child_harvest:
        print(json.dumps(harvest(args.harvest, env)))
        return
    WORKDIR.mkdir(parents=True, exist_ok=True)
    report = {"benchmark": "intake", "machine": machine()}
    for label, n in (("small", max(args.backfill // 10, 1)), ("full", args.backfill)):
        path = WORKDIR / f"snapshot-{n}.jsonl"
        if not path.exists():  # in a child, so that this process stays small (a forked child's peak counts its parent's pages)
            subprocess.run([sys.executable, __file__, "--write-snapshot", str(n), str(path)], check=True, cwd=REPO / "benchmarks")
        env["DATABASE_URL"] = fresh_database("paperfeed_bench_intake")
        subprocess.run([sys.executable, str(REPO / "manage.py"), "migrate", "-v0"], env=env, check=True)
        report[f"backfill_{label}"] = {"records": n, "bytes": path.stat().st_size, **import_child(path, env)}
    child = subprocess.run(
        [sys.executable, __file__, "--child-harvest", "--harvest", str(args.harvest)],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO / "benchmarks",
    )
    if child.returncode:
        sys.stderr.write(child.stderr[-3000:])
        raise SystemExit("harvest failed")
    report["harvest"] = json.loads(child.stdout.strip().splitlines()[-1])
    small, full, daily = report["backfill_small"], report["backfill_full"], report["harvest"]
    print(f"intake ({machine()}), PostgreSQL")
    print(f"{'':<28}{'records':>10}{'seconds':>9}{'records/s':>11}{'peak RSS':>10}")
    for name, row in (("backfill (a tenth)", small), ("backfill", full)):
        print(f"{name:<28}{row['records']:>10,}{row['seconds']:>9.1f}{row['records'] / row['seconds']:>11,.0f}{row['peak_rss_mib']:>7} MiB")
    print(
        f"daily harvest: {daily['records']:,} records in {daily['pages']} pages: {daily['seconds']:.1f} s, of which arXiv's pauses "
        f"{daily['pauses_seconds']:.1f} s and our own time {daily['own_seconds']:.1f} s"
    )
    print(json.dumps(report))


if __name__ == "__main__":
    main()
