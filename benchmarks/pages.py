"""Pages: every reader-facing page, the API and the admin, timed one request at a time on a large catalogue.

    .venv/bin/python benchmarks/pages.py --build --scale XL --database postgres --tree /tmp/pf-before   # once
    .venv/bin/python benchmarks/pages.py --scale XL --database postgres --tree /tmp/pf-before --json out.json

--build makes the scale's database (PostgreSQL paperfeed_bench_pages_<scale>, or var/bench-pages/<scale>.sqlite3):
migrate and `import_papers` of an arXiv metadata snapshot (written once under var/bench-pages/, shared by both
databases) from the source tree --tree, then synthetic readers (one password, bench-reader-pass) with feedback
over the last 30 days spread over the papers by a power law, and a superuser staff / bench-staff-pass. No model
is trained. It is skipped when the database is already built, unless --fresh. Build it with the oldest tree to
be timed: a newer tree's migrations move it forward, and an older one cannot then run on it.

Timing: `manage.py migrate`, collectstatic (and refresh_trending, where the tree has it) from --tree, then
gunicorn from that tree (DEBUG=0, --workers, serving.py's settings module and flags). First the cold start
without a model (no TrainingRun rows): from starting gunicorn to the first 200 of / (a visitor) and, on a
second fresh start, of /feed/ (a reader). Then one warm-up and --repeat sequential requests of each page
(median and max wall time, status; 60 s time-out), and a short wrk load (c=8) on search and the catalogue.
Deep pages are reached as the page itself offers: ?page=N where it numbers its pages, and by following its
own next/"Older" link 50 times (the 50th hop is timed). Prints the tables, then one line of JSON.
"""

import argparse
import html
import importlib.util
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import quote, urljoin, urlsplit

from common import REPO, machine

SERVER = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
WORKDIR = REPO / "var" / "bench-pages"
SCALES = {"S": (10_000, 50, 6_000), "XL": (1_000_000, 300, 40_000)}  # papers, readers, feedback events
READER_PASSWORD, STAFF_PASSWORD = "bench-reader-pass", "bench-staff-pass"
KIND_SHARES = {"read": 0.6, "like": 0.2, "save": 0.12, "rate": 0.05, "dismiss": 0.03}
CACHE_URL = os.environ.get("BENCH_CACHE_URL", "redis://127.0.0.1:6379/9")  # a Redis database of its own, emptied before each start
TIMEOUT, COLD_CAP, HOPS = 60, 300, 50


def load_serving():
    """benchmarks/serving.py as a module (``import serving`` finds the benchmarks/serving/ package instead)."""
    spec = importlib.util.spec_from_file_location("serving_benchmark", REPO / "benchmarks" / "serving.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def database_url(scale: str, database: str) -> str:
    if database == "postgres":
        return f"{SERVER}/paperfeed_bench_pages_{scale.lower()}"
    return f"sqlite:///{WORKDIR / f'{scale.lower()}.sqlite3'}"


def marker(scale: str, database: str) -> Path:
    return WORKDIR / f"{scale.lower()}-{database}.built.json"


def base_env(tree: Path, url: str) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": url,
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench"),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "OPENBLAS_NUM_THREADS": "1",
        "CACHE_URL": CACHE_URL,
        "MODEL_DIR": str(WORKDIR / "no-models"),
        "VAR_DIR": str(WORKDIR / f"var-{tree.name}"),  # the tree's static files and mail, apart from the repo's var/
        "LOG_LEVEL": "WARNING",
    }


def manage(tree: Path, env: dict, *args: str) -> float:
    clock = time.perf_counter()
    done = subprocess.run([sys.executable, str(tree / "manage.py"), *args], env=env, cwd=tree, capture_output=True, text=True)
    if done.returncode:
        sys.stderr.write(done.stdout[-2000:] + done.stderr[-4000:])
        raise SystemExit(f"manage.py {args[0]} failed")
    return round(time.perf_counter() - clock, 1)


def child(stage: str, tree: Path, env: dict, *extra: str) -> dict:
    """This script's ``--child stage`` in a process that imports the tree's code (not the repo's)."""
    command = [sys.executable, __file__, "--child", stage, "--tree", str(tree), *extra]
    done = subprocess.run(command, env=env, cwd=REPO / "benchmarks", capture_output=True, text=True)
    if done.returncode:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"{stage} failed")
    return json.loads(done.stdout.strip().splitlines()[-1])


def use_tree(tree: Path) -> None:
    sys.path[:] = [str(tree)] + [p for p in sys.path if p != str(REPO)]
    import django

    django.setup()


# --- building -------------------------------------------------------------------------------------------------------


def snapshot(n: int) -> Path:
    """The snapshot of ``n`` records, written once (by intake.py, in a child) and shared by both databases."""
    path = WORKDIR / f"snapshot-{n}.jsonl"
    if not path.exists():
        partial = path.with_suffix(".partial")
        subprocess.run([sys.executable, "intake.py", "--write-snapshot", str(n), str(partial)], check=True, cwd=REPO / "benchmarks")
        partial.rename(path)
    return path


def rare_word(path: Path, wanted: int = 10) -> dict:
    """A word of the snapshot's titles and abstracts found in about ``wanted`` papers (as a word, and as a substring,
    which is how the old search matches); computed once per snapshot."""
    cached = path.with_suffix(".words.json")
    if cached.exists():
        return json.loads(cached.read_text())
    words: Counter = Counter()
    for line in open(path, encoding="utf-8"):
        record = json.loads(line)
        words.update(set(re.findall(r"[a-z]+", f"{record['title']} {record['abstract']}".lower())))
    candidates = sorted(words, key=lambda w: (abs(words[w] - wanted), w))[:40]
    inside = Counter()
    for line in open(path, encoding="utf-8"):
        record = json.loads(line)
        text = f"{record['title']} {record['abstract']}".lower()
        inside.update(w for w in candidates if w in text)
    best = min(candidates, key=lambda w: (abs(inside[w] - wanted), abs(words[w] - wanted), w))
    found = {
        "word": best,
        "papers_with_word": words[best],
        "papers_with_substring": inside[best],
        "distinct_words": len(words),
        "least_common": sorted(words.items(), key=lambda kv: (kv[1], kv[0]))[:10],
    }
    cached.write_text(json.dumps(found))
    return found


def built(scale: str, database: str) -> dict | None:
    url = database_url(scale, database)
    if not marker(scale, database).exists():
        return None
    if database == "sqlite":
        return json.loads(marker(scale, database).read_text()) if Path(url.removeprefix("sqlite:///")).exists() else None
    import psycopg

    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [url.rsplit("/", 1)[1]]).fetchone()
    return json.loads(marker(scale, database).read_text()) if exists else None


def database_size(url: str) -> int:
    if url.startswith("sqlite:///"):
        name = Path(url.removeprefix("sqlite:///"))
        return sum(p.stat().st_size for p in name.parent.glob(name.name + "*"))
    import psycopg

    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        return conn.execute("SELECT pg_database_size(%s)", [url.rsplit("/", 1)[1]]).fetchone()[0]


def build(args) -> None:
    """Migrate, import the snapshot, add readers, feedback and staff; skipped when built (unless --fresh)."""
    from intake import fresh_database

    done = built(args.scale, args.database)
    if done and not args.fresh:
        print(f"{args.scale} on {args.database} is already built ({done['database']}); --fresh rebuilds it")
        print(json.dumps(done))
        return
    papers, readers, events = SCALES[args.scale]
    WORKDIR.mkdir(parents=True, exist_ok=True)
    marker(args.scale, args.database).unlink(missing_ok=True)
    clock = time.perf_counter()
    path = snapshot(papers)
    words = rare_word(path)
    snapshot_seconds = time.perf_counter() - clock
    url = database_url(args.scale, args.database)
    if args.database == "postgres":
        fresh_database(url.rsplit("/", 1)[1])
    else:
        for old in WORKDIR.glob(f"{args.scale.lower()}.sqlite3*"):
            old.unlink()
    env = base_env(args.tree, url)
    report = {"database": url.rsplit("/", 1)[1], "tree": str(args.tree), "commit": commit_of(args.tree), "rare_word": words}
    report["snapshot_seconds"] = round(snapshot_seconds, 1)
    report["migrate_seconds"] = manage(args.tree, env, "migrate", "-v0")
    report["import_seconds"] = manage(args.tree, env, "import_papers", str(path))
    clock = time.perf_counter()
    report["community"] = child("community", args.tree, env, "--scale", args.scale)
    report["community_seconds"] = round(time.perf_counter() - clock, 1)
    clock = time.perf_counter()
    if args.database == "postgres":  # what autovacuum does some time after a bulk load, done now so that every run sees it
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE)")
    else:  # fold the import's write-ahead log into the file (no ANALYZE: the site never runs one on SQLite)
        import sqlite3

        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    report["vacuum_analyze_seconds"] = round(time.perf_counter() - clock, 1)
    report["bytes"] = database_size(url)
    report["papers"], report["readers"], report["events"] = papers, readers, events
    marker(args.scale, args.database).write_text(json.dumps(report))
    print(f"built {report['database']} ({args.database}) from {args.tree}: {report['bytes'] / 2**30:.2f} GiB")
    print("| step | seconds |\n|---|---:|")
    for step in ("snapshot", "migrate", "import", "community", "vacuum_analyze"):
        print(f"| {step} | {report[step + '_seconds']} |")
    print(f"rare word: {words['word']} ({words['papers_with_word']} papers as a word, {words['papers_with_substring']} as a substring)")
    print(json.dumps(report))


def community(scale: str) -> dict:
    """Readers with one password, a staff superuser, and feedback: power laws over readers and papers, last 30 days."""
    from datetime import timedelta

    import numpy as np
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone

    from accounts.models import User
    from recommender.models import Interaction, Paper

    _, n_readers, n_events = SCALES[scale]
    rng = np.random.default_rng(7)
    password = make_password(READER_PASSWORD)  # hashed once: every reader has the same one
    User.objects.bulk_create(
        [User(username=f"synth{i:05d}", email=f"synth{i:05d}@example.org", password=password) for i in range(n_readers)], batch_size=1000
    )
    User.objects.create_superuser("staff", "staff@example.org", STAFF_PASSWORD)
    readers = np.array(User.objects.filter(username__startswith="synth").order_by("pk").values_list("pk", flat=True))
    papers = np.array(Paper.objects.order_by("pk").values_list("pk", flat=True))

    def power_law(n: int, exponent: float) -> np.ndarray:
        weights = np.arange(1, n + 1, dtype=np.float64) ** -exponent
        rng.shuffle(weights)
        return weights / weights.sum()

    floor = 10  # every reader has some feedback
    counts = floor + rng.multinomial(n_events - floor * len(readers), power_law(len(readers), 1.0))
    users = np.repeat(readers, counts)
    chosen = papers[rng.choice(len(papers), size=len(users), p=power_law(len(papers), 0.9))]
    kinds = rng.choice(list(KIND_SHARES), size=len(users), p=list(KIND_SHARES.values()))
    seen, rows, now = set(), [], timezone.now()
    ages = rng.integers(0, 30 * 86400, size=len(users))
    stars = rng.choice(np.arange(1, 6), size=len(users), p=[0.05, 0.1, 0.2, 0.35, 0.3])
    for user, paper, kind, age, star in zip(users.tolist(), chosen.tolist(), kinds.tolist(), ages.tolist(), stars.tolist()):
        if kind != "read" and (user, paper, kind) in seen:
            kind = "read"  # a state is given once per reader and paper
        seen.add((user, paper, kind))
        rows.append(
            Interaction(
                user_id=user,
                paper_id=paper,
                kind=kind,
                value=star if kind == "rate" else None,
                via="feed" if age % 3 == 0 else "",
                created=now - timedelta(seconds=age),
            )
        )
    Interaction.objects.bulk_create(rows, batch_size=5000)
    by_kind = Counter(row.kind for row in rows)
    return {
        "readers": len(readers),
        "events": len(rows),
        "kinds": dict(by_kind),
        "papers_with_feedback": len(set(chosen.tolist())),
        "last_14_days": int((ages < 14 * 86400).sum()),
    }


# --- timing ---------------------------------------------------------------------------------------------------------


def prepare(scale: str, word: str) -> dict:
    """Sessions of readers and of staff, a paper, an author, and how many papers the rare word matches."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.db.models import Count, Q

    from accounts.models import User
    from recommender.models import Interaction, Paper, TrainingRun

    sessions_file = WORKDIR / f"sessions-{scale.lower()}.txt"
    readers = load_serving().sign_in_readers(50, sessions_file)
    staff = User.objects.get(username="staff")
    session = SessionStore()
    session[SESSION_KEY] = str(staff.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = staff.get_session_auth_hash()
    session.create()
    top = Interaction.objects.values("paper").annotate(n=Count("id")).order_by("-n", "paper").first()  # the most read, liked, saved
    paper = Paper.objects.get(pk=top["paper"])
    try:
        author = paper.authors[0]
    except (AttributeError, IndexError, TypeError, KeyError):
        author = str(paper.authors.first())  # a tree whose authors are rows
    matches = Paper.objects.filter(Q(title__icontains=word) | Q(abstract__icontains=word)).count()
    return {
        "sessions_file": str(sessions_file),
        "reader": readers[0],
        "staff": session.session_key,
        "paper": paper.external_id,
        "author": author,
        "rare_matches": matches,
        "training_runs": TrainingRun.objects.count(),
    }


def fetch(port: int, path: str, session: str = "", timeout: float = TIMEOUT) -> tuple[int | str, float, str]:
    """(status or "timeout", seconds, body) of one GET on a fresh connection."""
    import http.client

    headers = {"Accept": "application/json"} if path.startswith("/api/") else {}
    if session:
        headers["Cookie"] = f"sessionid={session}"
    clock = time.perf_counter()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        body = response.read().decode(errors="replace")
        conn.close()
        return response.status, time.perf_counter() - clock, body
    except TimeoutError:
        return "timeout", time.perf_counter() - clock, ""
    except ConnectionRefusedError:
        return "refused", time.perf_counter() - clock, ""
    except (ConnectionError, http.client.HTTPException):  # a worker killed mid-request (gunicorn's --timeout)
        return "dropped", time.perf_counter() - clock, ""


class Server:
    """gunicorn from the tree, as serving.py starts it; stderr to a log file."""

    def __init__(self, tree: Path, env: dict, workers: int, worker_timeout: int, log: Path) -> None:
        self.port = load_serving().free_port()
        self.log = open(log, "a")
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            [
                str(REPO / ".venv" / "bin" / "gunicorn"),
                "config.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
                "--log-level",
                "warning",
                "--timeout",
                str(worker_timeout),
            ],
            cwd=tree,
            env=env,
            stdout=self.log,
            stderr=self.log,
        )

    def healthy(self, cap: float = 60) -> float:
        while time.perf_counter() - self.started < cap:
            if fetch(self.port, "/healthz", timeout=5)[0] == 200:
                return time.perf_counter() - self.started
            time.sleep(0.05)
        raise SystemExit("gunicorn did not answer /healthz")

    def first_ok(self, path: str, session: str, cap: float = COLD_CAP) -> dict:
        """Seconds from the start to the first 200 of ``path`` (asked again after any other answer), within ``cap``."""
        answers = Counter()
        while (left := cap - (time.perf_counter() - self.started)) > 0:
            status, _, _ = fetch(self.port, path, session, timeout=left)
            answers[str(status)] += 1
            if status in ("refused", "dropped"):
                time.sleep(0.1)
            if status == 200:
                return {"seconds": round(time.perf_counter() - self.started, 1), "answers": dict(answers)}
        return {"seconds": None, "answers": dict(answers), "note": f"no 200 within {cap} s"}

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def flush_cache() -> None:
    import redis

    redis.Redis.from_url(CACHE_URL).flushdb()


def drain(port: int, workers: int) -> None:
    """Wait until every worker is free: requests a load left queued (wrk stops; gunicorn still serves them) are done."""
    threads = [threading.Thread(target=fetch, args=(port, "/healthz", "", COLD_CAP)) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def warm(port: int, sessions: list[str], workers: int) -> None:
    """Every worker loads what it serves from (without a model, each builds the fallback on its first request), one at a
    time: a request of / until one comes back fast, then as many concurrent ones as workers (an idle worker takes each)
    until all do; then the same for /feed/. Two workers building at once on two cores can outlast gunicorn's --timeout."""
    for path, session in (("/", ""), ("/feed/", sessions[0])):
        for _ in range(4 * workers):
            status, seconds, _ = fetch(port, path, session, COLD_CAP)
            if status != 200 or seconds >= 10:
                continue  # a worker has just built (or was killed building): ask again, one at a time
            answers: list = []
            threads = [threading.Thread(target=lambda: answers.append(fetch(port, path, session, COLD_CAP))) for _ in range(workers)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            if all(status == 200 and seconds < 10 for status, seconds, _ in answers):
                break


def time_page(port: int, path: str, session: str, repeat: int) -> dict:
    status, seconds, body = fetch(port, path, session)  # warm-up
    row = {"path": path, "warmup_ms": round(1000 * seconds, 1)}
    if status in ("timeout", "dropped"):
        return {**row, "status": status, "median_ms": None, "max_ms": None, "samples": 0}
    times, statuses = [], Counter()
    for _ in range(repeat):
        status, seconds, body = fetch(port, path, session)
        statuses[str(status)] += 1
        if status in ("timeout", "dropped"):
            break
        times.append(seconds)
    shown = ",".join(sorted(statuses))
    return {
        **row,
        "status": shown,
        "median_ms": round(1000 * statistics.median(times), 1) if times else None,
        "max_ms": round(1000 * max(times), 1) if times else None,
        "samples": len(times),
        "bytes": len(body.encode()),
        **({"pages_of": int(found.group(1).replace(",", ""))} if (found := re.search(r"Page\s+[\d,]+\s+of\s+([\d,]+)", body)) else {}),
    }


NEXT_TAG = re.compile(r'<a\b[^>]*\brel="next"[^>]*>', re.I)
NEXT_TEXT = re.compile(r'<a\b[^>]*href="([^"]+)"[^>]*>\s*(?:Older|Next|More|Later)\b[^<]*</a>', re.I)


def next_link(path: str, body: str) -> str | None:
    """The address a page offers for going deeper: its rel=next link, else the last "Older"/"Next"/"More" link (the
    pagination comes last), or the API's ``next``."""
    if path.startswith("/api/"):
        try:
            found = json.loads(body).get("next")
        except (ValueError, AttributeError):
            return None
        return None if not found else urlsplit(found).path + ("?" + urlsplit(found).query if urlsplit(found).query else "")
    tag = NEXT_TAG.search(body)
    href = re.search(r'href="([^"]+)"', tag.group(0)) if tag else None
    if href is None:
        texts = NEXT_TEXT.findall(body)
        if not texts:
            return None
        return urljoin(path, html.unescape(texts[-1]))
    return urljoin(path, html.unescape(href.group(1)))


def follow(port: int, path: str, hops: int) -> tuple[str | None, str]:
    """Follow the page's own next links ``hops`` times; the address of the last hop, and what happened."""
    for hop in range(hops):
        status, _, body = fetch(port, path)
        if status != 200:
            return None, f"hop {hop} answered {status}"
        deeper = next_link(path, body)
        if deeper is None:
            return None, f"no next link on hop {hop}" + (" (page 1)" if hop == 0 else "")
        path = deeper
    return path, f"followed the page's next link {hops} times"


def last_page(port: int, path: str) -> tuple[str | None, str]:
    """The catalogue's last page as the page offers it: a "last" link, else "Page 1 of N" read as ?page=N."""
    status, _, body = fetch(port, path)
    link = re.search(r'<a\b[^>]*href="([^"]+)"[^>]*>\s*(?:Last|Oldest)\b', body, re.I)
    if link:
        return urljoin(path, html.unescape(link.group(1))), "the page's own last link"
    pages = re.search(r"Page\s+[\d,]+\s+of\s+([\d,]+)", body)
    if pages:
        return f"{path}?page={pages.group(1).replace(',', '')}", '?page=N from the page\'s "Page 1 of N"'
    return None, "the page names no last page"


def pages_to_time(prepared: dict, word: str) -> list[tuple[str, str, str]]:
    """(label, path, who): who is "", "reader" or "staff"."""
    return [
        ("visitor home /", "/", ""),
        ("feed /feed/", "/feed/", "reader"),
        ("paper page", f"/papers/{prepared['paper']}/", ""),
        ("author page", f"/authors/{quote(prepared['author'])}/", ""),
        ("catalogue page 1", "/papers/", ""),
        ("catalogue ?page=2000", "/papers/?page=2000", ""),
        ("catalogue last page", "last:/papers/", ""),
        (f"catalogue {HOPS} next-hops", "hops:/papers/", ""),
        ("API papers", "/api/papers/", ""),
        ("API papers ?page=2000", "/api/papers/?page=2000", ""),
        (f"API papers {HOPS} next-hops", "hops:/api/papers/", ""),
        ("trending", "/trending/", ""),
        ("search learning", "/search/?q=learning", ""),
        ("search neural networks", "/search/?q=neural+networks", ""),
        ("search learning model", "/search/?q=learning+model", ""),
        (f"search {word} (rare)", f"/search/?q={quote(word)}", ""),
        ("search zzxqv (no hits)", "/search/?q=zzxqv", ""),
        ("search learning page 10", "/search/?q=learning&page=10", ""),
        ("API search learning", "/api/search/?q=learning", ""),
        ("admin papers", "/admin/recommender/paper/", "staff"),
        ("admin papers ?q=learning", "/admin/recommender/paper/?q=learning", "staff"),
        ("admin interactions", "/admin/recommender/interaction/", "staff"),
    ]


def cpu_ticks() -> list[int]:
    """/proc/stat's cpu line: user nice system idle iowait irq softirq steal ..."""
    return [int(field) for field in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]


def commit_of(tree: Path) -> str:
    head = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(tree), "status", "--porcelain"], capture_output=True, text=True).stdout.strip()
    return head + ("+changes" if dirty else "")


def timing(args) -> dict:
    done = built(args.scale, args.database)
    if not done:
        raise SystemExit(f"Build it first: benchmarks/pages.py --build --scale {args.scale} --database {args.database}")
    url = database_url(args.scale, args.database)
    env = base_env(args.tree, url)
    word = args.rare_word or done["rare_word"]["word"]
    report = {"benchmark": "pages", "scale": args.scale, "database": args.database, "tree": str(args.tree), "commit": commit_of(args.tree)}
    ticks = cpu_ticks()
    report["migrate_seconds"] = manage(args.tree, env, "migrate", "-v0")
    manage(args.tree, env, "collectstatic", "--no-input", "-v0")
    if (args.tree / "recommender" / "management" / "commands" / "refresh_trending.py").exists():  # beat runs it in production
        report["refresh_trending_seconds"] = manage(args.tree, env, "refresh_trending")
    prepared = child("prepare", args.tree, env, "--scale", args.scale, "--rare-word", word)
    report.update({"rare_word": word, "rare_word_matches": prepared["rare_matches"], "training_runs": prepared["training_runs"]})
    sessions = Path(prepared["sessions_file"]).read_text().split()
    who = {"": "", "reader": prepared["reader"], "staff": prepared["staff"]}
    settings = "serving.settings" if (args.tree / "benchmarks" / "serving" / "settings.py").exists() else "config.settings"
    env.update(
        {
            "DEBUG": "0",
            "DJANGO_SETTINGS_MODULE": settings,
            "PYTHONPATH": f"{args.tree}{os.pathsep}{args.tree / 'benchmarks'}",
            "API_RATE_USER": "1000000/min",
            "API_RATE_ANON": "1000000/min",
        }
    )
    log = WORKDIR / f"gunicorn-{args.scale.lower()}-{args.database}.log"
    server_args = (args.tree, env, args.workers, args.worker_timeout, log)

    cold = {}
    for label, path, session in (("visitor_home", "/", ""), ("reader_feed", "/feed/", who["reader"])):
        flush_cache()
        server = Server(*server_args)
        try:
            healthz = server.healthy()
            cold[label] = {"path": path, "healthz_seconds": round(healthz, 2), **server.first_ok(path, session)}
        finally:
            server.stop()
    report["cold_start"] = cold

    flush_cache()
    server = Server(*server_args)
    try:
        server.healthy()
        clock = time.perf_counter()
        warm(server.port, sessions, args.workers)
        report["warm_seconds"] = round(time.perf_counter() - clock, 1)
        rows = {}
        for label, path, person in pages_to_time(prepared, word):
            note = ""
            if path.startswith(("last:", "hops:")):
                kind, start = path.split(":", 1)
                path, note = last_page(server.port, start) if kind == "last" else follow(server.port, start, HOPS)
                note = f"{note}: {path}" if path else note
            if path is None:
                rows[label] = {"path": None, "status": "n/a", "median_ms": None, "max_ms": None, "samples": 0, "note": note}
                continue
            rows[label] = {**time_page(server.port, path, who[person], args.repeat), **({"note": note} if note else {})}
            if "timeout" in rows[label]["status"] or "dropped" in rows[label]["status"]:
                # let the worker finish or be killed, then load both workers again
                time.sleep(max(0, args.worker_timeout - TIMEOUT) + 5)
                warm(server.port, sessions, args.workers)
        report["pages"] = rows
        serving, report["load"] = load_serving(), {}
        for label, path in (("search learning", "/search/?q=learning"), ("catalogue page 1", "/papers/")):
            drain(server.port, args.workers)
            clock = time.perf_counter()
            ran = serving.wrk(server.port, path, 8, args.load_seconds, Path(prepared["sessions_file"]))
            drain(server.port, args.workers)  # what wrk left queued is still served: counted here as backlog
            report["load"][label] = {"path": path, **ran, "drained_after_s": round(time.perf_counter() - clock - args.load_seconds, 1)}
    finally:
        server.stop()
    spent = [after - before for after, before in zip(cpu_ticks(), ticks)]
    report["cpu_steal_share"] = round(spent[7] / sum(spent[:8]), 3)  # a virtual machine's CPU taken by its host: noise
    report["bytes"] = database_size(url)
    report["machine"] = machine()
    return report


def show(report: dict, args) -> None:
    print(f"pages at scale {args.scale} on {args.database}, tree {report['tree']} ({report['commit']}), {args.workers} workers")
    print(machine())
    print(f"migrate: {report['migrate_seconds']} s; rare word {report['rare_word']!r} matches {report['rare_word_matches']} papers")
    print(f"warm-up of the workers: {report['warm_seconds']} s; CPU stolen by the host during the run: {report['cpu_steal_share']:.0%}")
    print("\n| page | status | median ms | max ms |\n|---|---|---:|---:|")
    for label, row in report["pages"].items():
        median = "" if row["median_ms"] is None else f"{row['median_ms']:,.1f}"
        top = "" if row["max_ms"] is None else f"{row['max_ms']:,.1f}"
        note = f" ({row['note']})" if row.get("note") else ""
        print(f"| {label}{note} | {row['status']} | {median} | {top} |")
    print(f"\n| load, c=8, {args.load_seconds} s | requests | req/s | p50 ms | p95 ms | errors | backlog drained after s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, row in report["load"].items():
        print(
            f"| {label} | {row['requests']} | {row['rps']:,.1f} | {row['p50_ms']:,.1f} | {row['p95_ms']:,.1f} | "
            f"{row['errors'] + row['non_2xx']} | {row['drained_after_s']} |"
        )
    print("\n| cold start, no model | first 200 after s | /healthz after s | answers before |\n|---|---:|---:|---|")
    for label, row in report["cold_start"].items():
        seconds = row["seconds"] if row["seconds"] is not None else f"> {COLD_CAP}"
        print(f"| {label} {row['path']} | {seconds} | {row['healthz_seconds']} | {row['answers']} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=SCALES, default="S")
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--tree", type=Path, default=REPO, help="source tree to migrate, import and serve from (default: this repo)")
    parser.add_argument("--build", action="store_true", help="build the scale's database (once)")
    parser.add_argument("--fresh", action="store_true", help="with --build: drop and build again")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--load-seconds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-timeout", type=int, default=120, help="gunicorn's --timeout (serving.py's)")
    parser.add_argument("--rare-word", help="instead of the one the build picked")
    parser.add_argument("--json", type=Path, help="also write the JSON here")
    parser.add_argument("--child", choices=["community", "prepare"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.tree = args.tree.resolve()
    if args.child:
        use_tree(args.tree)
        print(json.dumps(community(args.scale) if args.child == "community" else prepare(args.scale, args.rare_word)))
        return
    if args.build:
        build(args)
        return
    shutil.rmtree(WORKDIR / "no-models", ignore_errors=True)
    report = timing(args)
    show(report, args)
    line = json.dumps(report)
    print(line)
    if args.json:
        args.json.write_text(line + "\n")


if __name__ == "__main__":
    main()
