"""A month replayed: a synthetic community lives day by day and the real nightly retrain runs every night.

    .venv/bin/python benchmarks/living.py                          # 30 days, the table in BENCHMARKS.md
    .venv/bin/python benchmarks/living.py --days 7 --scale small   # the smoke check CI runs

Each day: readers open their feed (the site's own ranking, from the served model) and respond to what it
shows by their tastes (that feedback is marked as given in the feed), and also find papers on their own (their
field, a second field, now and then anything; new papers more often); at 20:30 new papers arrive, and every reader's feed is ranked again
at once (no retrain) to see which new papers reach someone's top 20; a few new readers join and like a
few papers of their field. Each night the retrain runs through the Celery task (eager, in a child process
with its own environment, as the training worker would): two nights in a row with a crippled model
(ALS_FACTORS=1 ALS_ITERATIONS=1 GRAPH_NEIGHBOURS=1 in its environment: ALS and the item-item graph both crippled); in a
replay of 20 days or more, four nights of slow decay (the graph's share pinned at 0.3 and each night's ALS factors
blurred with more noise than the night before, through the ALS_TRAINER setting: ``blurred_als_fit``; in this world
the graph and the content carry the blend, and these nights came out only 0-5% below an honest one); and one night the
child is killed midway
(SIGKILL). The gate must refuse every crippled night and each decayed night once it is more than the tolerance below
the best recent model, and activate the honest nights (their false refusals are counted).

Reported per night: activated or refused and why, the hold-out's kind and size, both models' recall@20
on it, the run's time; and the served model's recall@20 on the next day's feedback (the papers each
reader found on their own that day, against the top 20 their morning feed showed, before any of it was
given). Over the month: the share of new papers in at least one reader's top 20 within a day of
arriving. The database is SQLite in var/bench-living/ unless --database names another (PostgreSQL, say).
Prints a table, then one line of JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import numpy as np
from common import REPO, machine

SCALES = {
    # readers, papers, past events, papers a day, readers joining a day, share of readers active a day
    "small": dict(readers=400, papers=1200, history=12_000, new_papers=40, new_readers=6, active=0.5),
    "month": dict(readers=2000, papers=4000, history=60_000, new_papers=120, new_readers=20, active=0.5),
}
WORKDIR = REPO / "var" / "bench-living"
DAY = 86400.0


@dataclass
class Community:
    """The simulated world: papers by topic with an appeal, readers with a field and a second field."""

    rng: np.random.Generator
    pool_titles: list[str]
    pool_abstracts: list[str]
    pool_topics: np.ndarray
    appeal: np.ndarray  # (pool,) how likely a paper is picked within its topic
    released: int = 0  # papers of the pool in the catalogue so far
    paper_pks: list[int] = field(default_factory=list)
    paper_born: list[float] = field(default_factory=list)
    field_of: dict[int, int] = field(default_factory=dict)  # reader pk -> topic
    second_of: dict[int, int] = field(default_factory=dict)
    pace: dict[int, float] = field(default_factory=dict)  # reader pk -> papers found on their own per active day
    touched: dict[int, set[int]] = field(default_factory=dict)  # reader pk -> paper indexes with feedback

    @property
    def n_topics(self) -> int:
        return int(self.pool_topics.max()) + 1


EMBED_AT_INTAKE = True  # the day's papers are embedded as they arrive, as the task after each harvest does


def build_community(scale: dict, days: int, seed: int) -> Community:
    from recommender.engine.synthetic import synthetic_papers

    total = scale["papers"] + scale["new_papers"] * (days + 1)
    pool = synthetic_papers(total, seed=seed)
    rng = np.random.default_rng(seed)
    return Community(rng, pool.titles, pool.abstracts, pool.topics, rng.lognormal(0, 1.0, size=total))


def release_papers(world: Community, count: int, when: float) -> list[int]:
    """Add the next ``count`` papers of the pool to the catalogue, arriving at ``when``; returns their indexes."""
    from recommender.models import Paper

    start, end = world.released, world.released + count
    moment = datetime.fromtimestamp(when, dt_timezone.utc)
    created = Paper.objects.bulk_create(
        [
            Paper(
                external_id=f"living-{j:07d}",
                title=world.pool_titles[j],
                abstract=world.pool_abstracts[j],
                published=moment.date(),
                added_at=moment,
            )
            for j in range(start, end)
        ]
    )
    world.paper_pks.extend(p.pk for p in created)
    world.paper_born.extend([when] * count)
    world.released = end
    from recommender.services.meaning import papers_embed

    if EMBED_AT_INTAKE:
        papers_embed(limit=count)  # as the task after each harvest does (nothing with CONTENT_EMBEDDINGS=off)
    return list(range(start, end))


def add_readers(world: Community, count: int, when: float) -> list[int]:
    from accounts.models import User

    first = len(world.field_of)
    moment = datetime.fromtimestamp(when, dt_timezone.utc)
    users = User.objects.bulk_create(
        [
            User(username=f"reader{first + i:06d}", email=f"reader{first + i:06d}@example.org", password="!", date_joined=moment)
            for i in range(count)
        ]
    )
    for user in users:
        world.field_of[user.pk] = int(world.rng.integers(world.n_topics))
        world.second_of[user.pk] = int(world.rng.integers(world.n_topics))
        world.pace[user.pk] = float(np.clip(world.rng.pareto(1.5) + 1, 1, 30))
        world.touched[user.pk] = set()
    return [u.pk for u in users]


def pick_on_their_own(world: Community, reader: int, now: float) -> tuple[int, bool]:
    """A paper the reader finds without the feed: (paper index, on a topic they care about)."""
    roll = world.rng.random()
    topic = world.field_of[reader] if roll < 0.75 else world.second_of[reader] if roll < 0.9 else int(world.rng.integers(world.n_topics))
    candidates = np.flatnonzero(world.pool_topics[: world.released] == topic)
    candidates = candidates[~np.isin(candidates, list(world.touched[reader]))]
    if len(candidates) == 0:
        return -1, False
    age = (now - np.asarray(world.paper_born)[candidates]) / DAY
    weight = world.appeal[candidates] * (1 + 4 * np.exp(-np.maximum(age, 0) / 7))
    chosen = int(candidates[world.rng.choice(len(candidates), p=weight / weight.sum())])
    return chosen, topic in (world.field_of[reader], world.second_of[reader])


def respond(world: Community, reader: int, paper: int, fits: bool, rng: np.random.Generator) -> list[tuple[str, int | None]]:
    """Feedback on a paper the reader looked at: (kind, stars) events."""
    if not fits:
        return [("dismiss", None)] if rng.random() < 0.3 else [("read", None)]
    roll = rng.random()
    if roll < 0.45:
        return [("read", None)]
    if roll < 0.75:
        return [("read", None), ("like", None)]
    if roll < 0.9:
        return [("save", None)]
    return [("read", None), ("rate", 5 if world.pool_topics[paper] == world.field_of[reader] else 4)]


def feeds(readers: list[int], now: float, size: int = 20, served=None) -> dict[int, list[int]]:
    """Each reader's top ``size`` paper pks as the site ranks them, from the served model (or ``served``)."""
    from recommender.model_store import store
    from recommender.selectors.feed import rank_readers, readers_feedback

    served = served or store.current()
    out: dict[int, list[int]] = {}
    for start in range(0, len(readers), 256):
        batch = readers[start : start + 256]
        picks = rank_readers(served, readers_feedback(served, batch, now), limit=size, now=now)
        for reader, row in zip(batch, picks):
            out[reader] = [int(served.paper_pks[p.column]) for p in row]
    return out


def live_one_day(world: Community, day_start: float, scale: dict, yesterday) -> tuple[dict, object]:
    """Morning feeds, the day's feedback (responses to the feed and papers found on their own), written to the
    database. Returns figures of the day, among them the served model's recall@20 on what readers found on their
    own (against the top 20 of their morning feed) and the same for the model served the day before (``yesterday``,
    brought up to today's catalogue), on the same readers; and the model served today."""
    from recommender.model_store import catalogue_key, served_model, store
    from recommender.models import Interaction

    rng = world.rng
    readers = list(world.field_of)
    active = [r for r in readers if rng.random() < scale["active"]]
    morning = day_start + 8 * 3600
    today = store.current()
    shown = feeds(active, morning, served=today)
    before = feeds(active, morning, served=served_model(yesterday.artifact, yesterday.version, catalogue_key())) if yesterday else shown
    index_of_pk = {pk: j for j, pk in enumerate(world.paper_pks)}
    rows, recalls, recalls_before = [], [], []
    for reader in active:
        moment = morning
        found_wanted = set()
        for pk in shown[reader][:10]:  # what the reader looks at of the feed
            paper = index_of_pk[pk]
            fits = world.pool_topics[paper] in (world.field_of[reader], world.second_of[reader])
            if rng.random() < (0.3 if fits else 0.1):
                moment += rng.uniform(60, 1800)
                rows += [(reader, pk, kind, stars, moment, "feed") for kind, stars in respond(world, reader, paper, fits, rng)]
                world.touched[reader].add(paper)
        for _ in range(rng.poisson(world.pace[reader])):
            paper, fits = pick_on_their_own(world, reader, moment)
            if paper < 0:
                break
            moment += rng.uniform(60, 1800)
            events = respond(world, reader, paper, fits, rng)
            rows += [(reader, world.paper_pks[paper], kind, stars, moment, "") for kind, stars in events]
            world.touched[reader].add(paper)
            if not any(kind == "dismiss" for kind, _ in events):
                found_wanted.add(world.paper_pks[paper])
        if found_wanted:
            recalls.append(len(found_wanted & set(shown[reader])) / min(20, len(found_wanted)))
            recalls_before.append(len(found_wanted & set(before[reader])) / min(20, len(found_wanted)))
    end = day_start + 20 * 3600
    Interaction.objects.bulk_create(
        [
            Interaction(user_id=u, paper_id=p, kind=k, value=v, via=via, created=datetime.fromtimestamp(min(t, end), dt_timezone.utc))
            for u, p, k, v, t, via in rows
        ],
        batch_size=5000,
    )
    mean = lambda values: round(float(np.mean(values)), 4) if values else None  # noqa: E731
    paired = np.array(recalls) - np.array(recalls_before)
    before_mean = float(np.mean(recalls_before)) if recalls_before else 0.0
    margin = 1.96 * paired.std(ddof=1) / np.sqrt(len(paired)) / before_mean if len(paired) > 1 and before_mean else None
    return {
        "events": len(rows),
        "active": len(active),
        "served": today.version,
        "recall@20": mean(recalls),
        "yesterdays_model_recall@20": mean(recalls_before),
        "readers_scored": len(recalls),
        "change_margin95": round(float(margin), 4) if margin is not None else None,  # half-width of the change's 95% interval
    }, today


def seed_history(world: Community, scale: dict, start: float) -> None:
    """The community before the replay: readers and their feedback over the previous 60 days."""
    from recommender.models import Interaction

    readers = add_readers(world, scale["readers"], start - 60 * DAY)
    release_papers(world, scale["papers"], start - 60 * DAY)
    world.paper_born[:] = list(start - world.rng.uniform(0, 365, size=len(world.paper_born)) * DAY)
    rows = []
    per_reader = np.array([world.pace[r] for r in readers])
    counts = world.rng.multinomial(scale["history"], per_reader / per_reader.sum())
    for reader, count in zip(readers, counts):
        for _ in range(count):
            moment = start - world.rng.uniform(0, 60) * DAY
            paper, fits = pick_on_their_own(world, reader, moment)
            if paper < 0:
                break
            rows += [
                (reader, world.paper_pks[paper], kind, stars, moment) for kind, stars in respond(world, reader, paper, fits, world.rng)
            ]
            world.touched[reader].add(paper)
    Interaction.objects.bulk_create(
        [Interaction(user_id=u, paper_id=p, kind=k, value=v, created=datetime.fromtimestamp(t, dt_timezone.utc)) for u, p, k, v, t in rows],
        batch_size=5000,
    )


def onboard(world: Community, readers: list[int], when: float) -> None:
    """New readers like five papers of their field, as onboarding has them do."""
    from recommender.models import Interaction

    rows = []
    for reader in readers:
        for _ in range(5):
            paper, _fits = pick_on_their_own(world, reader, when)
            if paper >= 0 and world.pool_topics[paper] == world.field_of[reader]:
                rows.append(
                    Interaction(
                        user_id=reader, paper_id=world.paper_pks[paper], kind="like", created=datetime.fromtimestamp(when, dt_timezone.utc)
                    )
                )
                world.touched[reader].add(paper)
    Interaction.objects.bulk_create(rows)


def new_papers_reached(world: Community, arrived: list[int], now: float) -> dict:
    """Rank every reader's feed right after ``arrived`` papers were taken in (no retrain): how many of them are in
    someone's top 20, and in the top 20 of a reader whose field they are in."""
    top = feeds(list(world.field_of), now)
    arrived_pks = {world.paper_pks[j]: j for j in arrived}
    anyone, fitting = set(), set()
    for reader, pks in top.items():
        for pk in pks:
            if pk in arrived_pks:
                anyone.add(pk)
                if world.pool_topics[arrived_pks[pk]] == world.field_of[reader]:
                    fitting.add(pk)
    return {"arrived": len(arrived), "in_a_top20": len(anyone), "in_a_fitting_reader_top20": len(fitting)}


CRIPPLED = {"ALS_FACTORS": "1", "ALS_ITERATIONS": "1", "GRAPH_NEIGHBOURS": "1"}
DECAY_BLUR = (0.2, 0.35, 0.5, 0.6)  # the blur of the four decayed nights' ALS factors (see ``blurred_als_fit``)
DECAY_GRAPH_SHARE = "0.3"  # pinned on the decayed nights, so that the blurred factors weigh (the graph carries the blend)


def blurred_als_fit(confidence, params, **kwargs):
    """ALS as the site fits it, then its item factors mixed with noise of the same scale: (1 - b) Y + b sd(Y) N, b from
    LIVING_FACTOR_BLUR. The replay's decayed nights plug it in through the ALS_TRAINER setting."""
    from recommender.engine.collaborative import als_fit

    users, items = als_fit(confidence, params, **kwargs)
    blur = float(os.environ.get("LIVING_FACTOR_BLUR", "0"))
    noise = np.random.default_rng(7).standard_normal(items.shape) * float(items.std())
    return users, ((1 - blur) * items + blur * noise).astype(items.dtype)


def night(env: dict, *, crippled: bool, kill: bool, blur: float = 0.0) -> dict:
    """The nightly retrain through the Celery task, in a child process; killed midway when ``kill``; its ALS factors
    blurred when ``blur``."""
    from recommender.models import TrainingRun

    child_env = {**env, **(CRIPPLED if crippled else {})}
    if blur:
        child_env |= {"ALS_TRAINER": "living.blurred_als_fit", "LIVING_FACTOR_BLUR": str(blur), "BLEND_GRAPH_SHARE": DECAY_GRAPH_SHARE}
    before = TrainingRun.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    clock = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, __file__, "--child"], env=child_env, cwd=REPO / "benchmarks", stdout=subprocess.PIPE, text=True
    )
    killed = False
    if kill:
        while child.poll() is None:  # kill once it is fitting: its run has read the feedback (data_until is set)
            if TrainingRun.objects.filter(pk__gt=before, status="running", data_until__isnull=False).exists():
                time.sleep(0.3)
                os.kill(child.pid, signal.SIGKILL)
                killed = True
                break
            time.sleep(0.02)
    out, _ = child.communicate()
    seconds = time.perf_counter() - clock
    run = TrainingRun.objects.filter(pk__gt=before).order_by("-pk").first()
    result = {"seconds": round(seconds, 1), "killed": killed, "exit": child.returncode}
    if run is None:
        return {**result, "status": "none"}
    metrics = run.metrics
    return {
        **result,
        "version": run.version,
        "status": run.status,
        "message": run.message,
        "holdout": metrics.get("holdout", {}),
        "new_recall@20": metrics.get("recall@20"),
        "active_recall@20": metrics.get("active_model", {}).get("recall@20"),
        "reference_recall@20": metrics.get("reference_model", {}).get("recall@20"),
        "detectable": metrics.get("gate", {}).get("detectable"),
        "run_seconds": round((run.finished_at - run.started_at).total_seconds(), 1) if run.finished_at else None,
    }


def child_night() -> None:
    from common import setup_django

    setup_django()
    from tasks.celery import app
    from tasks.training import request_retrain

    app.conf.task_always_eager = True
    print(request_retrain.apply().get())


def prepare(args) -> dict:
    """A fresh database and model folder; the environment every process of the replay uses."""
    import shutil

    shutil.rmtree(WORKDIR, ignore_errors=True)
    WORKDIR.mkdir(parents=True)
    env = {
        **os.environ,
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench"),
        "OPENBLAS_NUM_THREADS": "1",
        "MODEL_DIR": str(WORKDIR / "models"),
        "MODEL_CHECK_SECONDS": "0",
        "DATABASE_URL": args.database or f"sqlite:///{WORKDIR / 'living.sqlite3'}",
    }
    if args.database and args.database.startswith("postgres"):
        import psycopg

        server, name = args.database.rsplit("/", 1)
        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
    os.environ.update(env)
    subprocess.run([sys.executable, str(REPO / "manage.py"), "migrate", "-v0"], env=env, check=True)
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--scale", choices=SCALES, default="month")
    parser.add_argument("--crippled-night", type=int, help="the first of two crippled nights (default: a third of the way in)")
    parser.add_argument(
        "--decay-night", type=int, help="the first of four decayed nights (default: 3 after the crippled ones, in 20 days or more)"
    )
    parser.add_argument("--killed-night", type=int, help="default: two thirds of the way in, after the decay")
    parser.add_argument("--database", help="a database URL (default: SQLite under var/bench-living/)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--no-intake-embedding", action="store_true", help="new papers wait for their meaning vectors (as before the task after a harvest)"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    global EMBED_AT_INTAKE
    EMBED_AT_INTAKE = not args.no_intake_embedding
    if args.child:
        child_night()
        return
    crippled_night = args.crippled_night or max(2, args.days // 3)
    crippled = {crippled_night, crippled_night + 1}
    decay_start = args.decay_night or (crippled_night + 3 if args.days >= 20 else None)
    decay = {decay_start + k: blur for k, blur in enumerate(DECAY_BLUR)} if decay_start else {}
    killed_night = args.killed_night or max(crippled_night + 2, max(decay, default=0) + 2, 2 * args.days // 3)
    env = prepare(args)
    from common import setup_django

    setup_django()
    scale = SCALES[args.scale]
    world = build_community(scale, args.days, args.seed)
    today = datetime.now(dt_timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    start = (today - timedelta(days=args.days + 1)).timestamp()
    clock = time.perf_counter()
    seed_history(world, scale, start)
    nights = [{"night": 0, **night(env, crippled=False, kill=False)}]
    days, yesterday = [], None
    for day in range(1, args.days + 1):
        day_start = start + (day - 1) * DAY
        lived, yesterday = live_one_day(world, day_start, scale, yesterday)
        arrived = release_papers(world, scale["new_papers"], day_start + 20.5 * 3600)
        reached = new_papers_reached(world, arrived, day_start + 20.5 * 3600 + 60)
        onboard(world, add_readers(world, scale["new_readers"], day_start + 21 * 3600), day_start + 21 * 3600)
        days.append({"day": day, **lived, **reached})
        nights.append({"night": day, **night(env, crippled=day in crippled, kill=day == killed_night, blur=decay.get(day, 0.0))})
        print(
            f"day {day}: {lived['events']} events, served model's recall@20 {lived['recall@20']} "
            f"(yesterday's {lived['yesterdays_model_recall@20']}); night: {nights[-1]['status']}",
            file=sys.stderr,
        )
    report(args, scale, nights, days, crippled, decay, killed_night, time.perf_counter() - clock)


def report(
    args, scale: dict, nights: list[dict], days: list[dict], crippled: set[int], decay: dict[int, float], killed_night: int, seconds: float
) -> None:
    fmt = lambda v: f"{v:.4f}" if isinstance(v, float) else "-"  # noqa: E731
    print(f"living replay: {args.days} days, scale {args.scale} ({scale}), {machine()}")
    print("night: the retrain's outcome, its hold-out and both models' recall@20 on it, its time in seconds;")
    print("next day: recall@20 of the model then served on what readers found on their own the next day, and of the")
    print("model served the day before on the same feedback (the change is what this night's update did)")
    print(
        f"{'night':>5} {'outcome':<10} {'hold-out':<24} {'new r@20':>9} {'active':>8} {'ref':>8} {'sees':>5} {'secs':>6} "
        f"{'next day':>9} {'before':>8} {'change (95%)':>16}  note"
    )
    for n in nights:
        day = days[n["night"]] if n["night"] < len(days) else {}
        holdout = n.get("holdout") or {}
        where = f"{holdout.get('kind', '-')} {holdout.get('readers', 0)}r/{holdout.get('papers', 0)}p" if holdout else "-"
        note = (
            "crippled" if n["night"] in crippled else f"decayed (blur {decay[n['night']]})" if n["night"] in decay
            else "killed midway" if n["killed"] else ""
        )  # fmt: skip
        sees = f"{n['detectable']:.0%}" if n.get("detectable") is not None else "-"
        print(
            f"{n['night']:>5} {n['status']:<10} {where:<24} {fmt(n.get('new_recall@20')):>9} {fmt(n.get('active_recall@20')):>8} "
            f"{fmt(n.get('reference_recall@20')):>8} {sees:>5} "
            f"{n.get('run_seconds') or n['seconds']:>6} {fmt(day.get('recall@20')):>9} {fmt(day.get('yesterdays_model_recall@20')):>8} "
            f"{_change_text(day):>16}  {note}"
        )
    honest = [n for n in nights[1:] if n["night"] not in crippled | set(decay) | {killed_night}]
    activated = sum(n["status"] == "activated" for n in honest)
    decayed = [n for n in nights if n["night"] in decay]
    beyond = [n for n in decayed if _below_best(n) > 0.10]  # more than the tolerance below the best model it was judged against
    decay_let_through = [n["night"] for n in beyond if n["status"] == "activated"]
    changes = [c for c in map(_change, days) if c is not None]
    significant = [
        c for c, d in zip(map(_change, days), days) if c is not None and d.get("change_margin95") and c + d["change_margin95"] < -0.10
    ]
    series = [d["recall@20"] for d in days if d["recall@20"] is not None]
    raw_changes = [b / a - 1 for a, b in zip(series, series[1:]) if a]
    arrived = sum(d["arrived"] for d in days)
    reached = sum(d["in_a_top20"] for d in days)
    fitting = sum(d["in_a_fitting_reader_top20"] for d in days)
    after_kill = nights[killed_night + 1]["status"] if killed_night + 1 < len(nights) else None
    summary = {
        "benchmark": "living",
        "days": args.days,
        "scale": args.scale,
        "honest_activated": activated,
        "honest_nights": len(honest),
        "crippled": [nights[c]["status"] for c in sorted(crippled)],
        "decayed": [(n["night"], n["status"], round(_below_best(n), 4)) for n in decayed],
        "decay_let_through": decay_let_through,
        "false_refusals": len(honest) - activated,
        "killed": nights[killed_night]["killed"],
        "after_kill": after_kill,
        "worst_change_same_feedback": round(min(changes, default=0.0), 4),
        "worst_change_day_to_day": round(min(raw_changes, default=0.0), 4),
        "falls_surely_over_10_percent": len(significant),
        "new_papers": arrived,
        "new_in_a_top20_share": round(reached / max(arrived, 1), 4),
        "new_in_a_fitting_top20_share": round(fitting / max(arrived, 1), 4),
        "seconds": round(seconds, 1),
        "machine": machine(),
        "nights": nights,
        "per_day": days,
    }
    print(
        f"honest nights activated: {activated} of {len(honest)}; crippled nights: {', '.join(summary['crippled'])}; "
        f"decayed nights (drop below the best model judged against): "
        f"{', '.join(f'{night} {status} ({drop:+.0%})' for night, status, drop in summary['decayed']) or 'none'}; "
        f"killed night: {'killed' if summary['killed'] else 'not killed'}, next night {after_kill}"
    )
    print(
        f"next-day recall@20 of the served model against the model before it, on the same feedback: worst change "
        f"{summary['worst_change_same_feedback']:+.1%} (day to day, on different feedback: {summary['worst_change_day_to_day']:+.1%}); "
        f"nights whose fall is more than 10% even at the 95% interval's edge: {len(significant)}"
    )
    print(
        f"new papers in someone's top 20 the evening they arrived (no retrain): {reached} of {arrived} ({reached / max(arrived, 1):.1%}); "
        f"in the top 20 of a reader of their field: {fitting / max(arrived, 1):.1%}"
    )
    print(json.dumps(summary))
    held = all(status == "rejected" for status in summary["crippled"]) and not decay_let_through
    if not held or not summary["killed"] or after_kill != "activated" or summary["false_refusals"] > max(1, len(honest) // 30):
        raise SystemExit("the gate did not hold: see the table above")


def _below_best(n: dict) -> float:
    """How far a night's new model fell below the best model it was judged against (active or reference), relatively."""
    best = max(n.get("active_recall@20") or 0.0, n.get("reference_recall@20") or 0.0)
    return 1 - (n.get("new_recall@20") or 0.0) / best if best else 0.0


def _change_text(day: dict) -> str:
    change, margin = _change(day), day.get("change_margin95")
    if change is None:
        return "-"
    return f"{change:+.1%} ±{margin:.0%}" if margin is not None else f"{change:+.1%}"


def _change(day: dict) -> float | None:
    """Relative change of the served model's next-day recall against the model served before it, on the same feedback."""
    now, before = day.get("recall@20"), day.get("yesterdays_model_recall@20")
    return now / before - 1 if now is not None and before else None


if __name__ == "__main__":
    main()
