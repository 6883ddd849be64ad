"""The nightly gate on a community that changes between nights: models are judged only on feedback
neither of them was trained on, honest models go live, crippled ones do not, and old files go."""

import csv
import json
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command

from recommender.engine.gate import ALL_TIME, TEMPORAL, build_holdout, factor_problems, gate_decision, gate_hash, readers_needed
from recommender.engine.matrix import KIND_CODES, Events
from recommender.engine.synthetic import synthetic_feedback, synthetic_papers
from recommender.engine.tuning import Parameters, outside_search
from recommender.models import TrainingRun
from recommender.selectors.training import training_snapshot
from recommender.services.training import model_files_prune, retrain

Status = TrainingRun.Status
READ, LIKE, SAVE, DISMISS, RATE = (KIND_CODES[k] for k in ("read", "like", "save", "dismiss", "rate"))


# ---- the engine: who is held out, what is to be found, and the decision ------------------------------------


def test_gate_readers_are_a_stable_share_chosen_by_id():
    ids = np.arange(1, 100_001)
    first, again = gate_hash(ids), gate_hash(ids.copy())
    assert np.array_equal(first, again) and first.min() >= 0 and first.max() < 1
    assert abs((first < 0.05).mean() - 0.05) < 0.004
    assert np.array_equal(gate_hash(ids[50_000:]), first[50_000:])  # a reader's draw does not depend on who else exists


def events_of(rows):
    """Events from (reader row, paper, kind, stars, time) tuples."""
    users, items, kinds, values, times = (np.array(column) for column in zip(*rows))
    return Events(users, items, kinds, values), times.astype(float)


def test_a_temporal_holdout_takes_the_newer_half_of_each_readers_papers_in_the_window():
    # Reader 0 (a gate reader) touched papers 0-5 before the active model's mark (200), and paper 7 after it, while
    # the active model was live; reader 1 is not a gate reader. The window holds the newest four: papers 2-5.
    events, times = events_of(
        [
            (0, 0, LIKE, 0, 10),
            (0, 1, READ, 0, 20),
            (0, 2, LIKE, 0, 110),
            (0, 3, READ, 0, 120),
            (0, 4, SAVE, 0, 130),
            (0, 5, READ, 0, 140),
            (0, 5, DISMISS, 0, 150),
            (0, 7, LIKE, 0, 250),
            (1, 0, LIKE, 0, 115),
            (1, 6, LIKE, 0, 125),
        ]
    )
    reader_hash = np.array([0.01, 0.9])
    holdout = build_holdout(
        events, times, 8, reader_hash, share=0.05, until=200, window_papers=4, min_readers=1, max_readers=10, target_readers=1
    )
    assert holdout.kind == TEMPORAL and list(holdout.users) == [0] and (holdout.since, holdout.until) == (20, 200)  # the newest four
    # Papers 4 and 5 are the newer half of 2-5; 5 was read, then dismissed: its final cell is negative, not a hit.
    assert [list(t) for t in holdout.truth] == [[4]]
    assert sorted(set(holdout.history.items.tolist())) == [0, 1, 2, 3]  # and nothing from after the active model's mark


def test_a_young_site_is_judged_on_all_of_its_gate_readers_history_up_to_the_active_models_mark():
    events, times = events_of([(r, p, LIKE, 0, 10 * p) for r in range(4) for p in range(5)])
    reader_hash = np.array([0.01, 0.03, 0.2, 0.9])
    holdout = build_holdout(events, times, 5, reader_hash, share=0.05, until=35, window_papers=100, min_readers=1, max_readers=10)
    assert holdout.kind == ALL_TIME and holdout.since is None and holdout.until == 35
    assert list(holdout.users) == [0, 1]
    assert [list(t) for t in holdout.truth] == [[2, 3], [2, 3]]  # paper 4 (at 40) came while the active model was live


def test_low_ratings_are_not_hits_and_readers_with_nothing_to_find_are_left_out():
    events, times = events_of(
        [
            (0, 0, LIKE, 0, 1),
            (0, 1, RATE, 1, 2),  # the newer half is paper 1, rated one star: nothing to find
            (1, 0, LIKE, 0, 1),
            (1, 2, RATE, 4, 2),
        ]
    )
    holdout = build_holdout(events, times, 3, np.array([0.0, 0.0]), share=1, until=None, window_papers=1000, min_readers=1, max_readers=10)
    assert list(holdout.users) == [1] and [list(t) for t in holdout.truth] == [[2]]


def test_the_holdout_keeps_the_same_readers_when_capped():
    events, times = events_of([(r, p, LIKE, 0, p) for r in range(50) for p in range(4)])
    reader_hash = np.linspace(0, 0.04, 50)[::-1]
    holdout = build_holdout(events, times, 4, reader_hash, share=0.05, until=None, window_papers=1000, min_readers=1, max_readers=5)
    assert list(holdout.users) == [45, 46, 47, 48, 49]  # the five smallest hashes


def test_the_decision_refuses_a_drop_beyond_the_tolerance_and_never_waves_one_through_as_noise():
    rng = np.random.default_rng(0)
    old = rng.random(200)
    judge = lambda new, old, **kw: gate_decision(new, [("active", "v1", old)], min_readers=20, **kw)  # noqa: E731
    refused = judge(old * 0.5, old, tolerance=0.1)
    assert refused.activate is False and "more than 10% below (a drop of 50%) (95% sure)" in refused.reason
    assert refused.as_dict()["bound"] < 0 and refused.as_dict()["new"] == pytest.approx(refused.as_dict()["old"] / 2, abs=1e-4)
    assert judge(old * 0.95, old, tolerance=0.1).activate is True
    assert judge(old, old, tolerance=0.1).activate is True
    # Ten readers cannot see a drop of 10%, and they show 50%: refused, saying what evidence is missing (the old gate
    # called this "too little to judge" and let it through) ...
    thin = judge(old[:10] * 0.5, old[:10], tolerance=0.1)
    assert thin.activate is False and "too thin" in thin.reason and "readers are needed" in thin.reason
    assert thin.readers_needed > 10 and thin.as_dict()["detectable"] > 0.1
    # ... unless the caller allows thin evidence (a stale active model), and then the reason says so.
    assert "stale" in judge(old[:10] * 0.5, old[:10], tolerance=0.1, thin_may_go=True).reason
    # A large hold-out's certain drop is refused even where thin evidence may go.
    assert judge(old * 0.5, old, tolerance=0.1, thin_may_go=True).activate is False


def test_a_new_model_is_judged_against_the_reference_too_so_slow_decay_cannot_pass():
    rng = np.random.default_rng(1)
    best = rng.random(400)
    active = best * 0.93  # last night: 7% below the reference, within the tolerance
    tonight = best * 0.87  # 6.5% below the active model, 13% below the reference
    earlier = [("active", "night3", active), ("reference", "night1", best)]
    decision = gate_decision(tonight, earlier, tolerance=0.1, min_readers=20)
    assert decision.activate is False and "the reference night1" in decision.reason and decision.as_dict()["reference"] == "night1"
    assert gate_decision(tonight, earlier[:1], tolerance=0.1, min_readers=20).activate is True  # the ratchet it replaces


def test_the_readers_needed_grow_with_the_spread_and_shrink_with_the_tolerance():
    assert readers_needed(1.0, 0.1) == int(np.ceil((2.4865 * 1.0 / 0.1) ** 2 - 1e-6)) == 619
    assert readers_needed(0.5, 0.1) < readers_needed(1.0, 0.1) and readers_needed(1.0, 0.2) < readers_needed(1.0, 0.1)
    # A hold-out of that size sees a drop of the tolerance: the detectable drop it reports is about the tolerance.
    rng = np.random.default_rng(2)
    old = rng.random(619)
    new = np.clip(old + rng.normal(0, old.mean(), size=619), 0, None)  # spread of the differences ~1
    assert gate_decision(new, [("active", "v", old)], tolerance=0.1, min_readers=20).as_dict()["detectable"] == pytest.approx(0.1, rel=0.15)


def test_the_window_widens_until_it_holds_the_readers_wanted():
    # 40 readers, each liking 6 papers at their own time: reader r's papers at times 100r .. 100r+5.
    events, times = events_of([(r, r * 6 + p, LIKE, 0, 100 * r + p) for r in range(40) for p in range(6)])
    common = dict(share=1, until=None, window_papers=12, min_readers=1, max_readers=100)
    narrow = build_holdout(events, times, 240, np.zeros(40), target_readers=2, **common)
    assert narrow.kind == TEMPORAL and len(narrow.users) == 2 and narrow.wanted_readers == 2
    wider = build_holdout(events, times, 240, np.zeros(40), target_readers=10, **common)
    assert wider.kind == TEMPORAL and 10 <= len(wider.users) < 40
    everyone = build_holdout(events, times, 240, np.zeros(40), target_readers=500, **common)
    assert everyone.kind == ALL_TIME and len(everyone.users) == 40 and everyone.wanted_readers == 100  # capped at max_readers


def test_an_import_without_timestamps_still_makes_a_holdout():
    """Every event of an import has the one stamp of the import: the window's edge is a tie, and ties fall inside."""
    events, times = events_of([(r, p, LIKE, 0, 500.0) for r in range(30) for p in range(6)])
    holdout = build_holdout(events, times, 6, np.zeros(30), share=1, until=500.0, window_papers=10, min_readers=1, max_readers=100)
    assert holdout is not None and len(holdout.users) == 30 and holdout.kind == ALL_TIME


def test_degenerate_factors_are_caught():
    rng = np.random.default_rng(3)
    healthy = rng.normal(size=(300, 16)).astype(np.float32)
    known = np.ones(300, dtype=bool)
    assert factor_problems(healthy, known) == []
    assert factor_problems(np.where(np.arange(16) == 0, np.nan, healthy), known) == ["its factors hold NaN or infinite values"]
    assert factor_problems(np.tile(healthy[:1], (300, 1)), known) == ["every paper has the same factors"]
    collapsed = np.outer(rng.normal(size=300), rng.normal(size=16)).astype(np.float32)  # rank 1 in 16 dimensions
    assert factor_problems(collapsed, known) == ["its factors collapsed to rank 1 of 16"]
    assert factor_problems(np.zeros((300, 1), dtype=np.float32), np.zeros(300, dtype=bool)) == []  # nothing trained: nothing to judge


def test_the_search_space_bounds_what_a_model_may_be_fitted_with():
    assert outside_search(Parameters()) == []
    crippled = Parameters().changed({"als.factors": 1, "graph.neighbours": 1, "blend.cf_weight": 0.99, "blend.graph_share": 1.0})
    assert outside_search(crippled) == ["als.factors=1", "graph.neighbours=1"]  # the blend's shares are the hold-out's to judge


# ---- the service: nights on a community that grows ----------------------------------------------------------


def write_dataset(folder: Path, *, readers: int = 400, papers: int = 500, events: int = 14_000, seed: int = 3) -> dict[str, list]:
    """A synthetic community in the exchange format: papers.jsonl, and its feedback split into two waves of readers
    (the last 10% of readers join later). Wave one has timestamps over the past year; wave two has none, as a
    fresh import would. Returns the interaction rows of each wave."""
    catalogue = synthetic_papers(papers, seed=seed)
    feedback = synthetic_feedback(readers, catalogue, events, seed=seed)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "papers.jsonl", "w") as handle:
        for j, (title, abstract) in enumerate(zip(catalogue.titles, catalogue.abstracts)):
            handle.write(json.dumps({"id": f"p{j}", "title": title, "abstract": abstract}) + "\n")
    names = {code: name for name, code in KIND_CODES.items()}
    start = datetime.now(dt_timezone.utc) - timedelta(days=366)
    waves: dict[str, list] = {"one": [], "two": []}
    for u, p, kind, value, age in zip(feedback.users, feedback.papers, feedback.kinds, feedback.values, feedback.ages_seconds):
        late = u >= 0.9 * readers
        stamp = "" if late else (start + timedelta(seconds=int(age))).isoformat()
        waves["two" if late else "one"].append([f"r{u}", f"p{p}", names[int(kind)], int(value) or "", stamp])
    for wave, rows in waves.items():
        with open(folder / f"wave_{wave}.csv", "w", newline="") as handle:
            csv.writer(handle).writerows([["user", "paper", "kind", "value", "timestamp"], *rows])
    return waves


@pytest.fixture
def gate_settings(settings):
    settings.ALS_FACTORS, settings.ALS_ITERATIONS = 16, 10
    settings.GATE_READER_SHARE, settings.ACTIVATION_MIN_HOLDOUT_USERS = 0.4, 20


@pytest.mark.django_db
def test_readers_joining_between_nights_do_not_make_the_gate_refuse_and_a_crippled_model_is_refused(tmp_path, gate_settings, settings):
    """The defect this gate replaces: after new readers joined, the active model was scored on papers it had trained
    on and every new model was refused. Here: two waves of readers, a retrain after each, then a crippled one."""
    write_dataset(tmp_path, readers=700, events=24_000)
    call_command("import_papers", str(tmp_path / "papers.jsonl"))
    call_command("import_interactions", str(tmp_path / "wave_one.csv"))
    first = retrain()
    assert first.status == Status.ACTIVATED and first.metrics["holdout"]["until"] is None  # no model was live yet
    call_command("import_interactions", str(tmp_path / "wave_two.csv"))
    second = retrain()
    assert second.status == Status.ACTIVATED, second.message
    # Judged on what the gate readers did before the first model went live: neither model trained on it or caused it.
    # The newest 1,000 papers hold too few readers to see a drop of 10%: the window widened to all of their history.
    holdout = second.metrics["holdout"]
    assert holdout["until"] == first.data_until.timestamp() and holdout["kind"] == ALL_TIME
    assert holdout["readers"] > 200 and holdout["wanted_readers"] > holdout["readers"]
    assert second.data_until > first.data_until
    assert "not more than 10% below" in second.message and second.metrics["gate"]["detectable"] is not None

    # As ALS_FACTORS=1 ALS_ITERATIONS=1 GRAPH_NEIGHBOURS=1 in the environment (which pins what it sets): both collaborative
    # signals crippled, by values the search could never choose; refused on that alone, and its figures are still shown.
    settings.ALS_FACTORS, settings.ALS_ITERATIONS, settings.GRAPH_NEIGHBOURS = 1, 1, 1
    settings.TUNING_PINNED = frozenset({"als.factors", "graph.neighbours"})
    crippled = retrain()
    assert crippled.status == Status.REJECTED and not crippled.is_active, crippled.message
    assert crippled.metrics["gate"]["activate"] is False and crippled.metrics["gate"]["against"] == second.version
    assert "outside what the search can choose (als.factors=1, graph.neighbours=1)" in crippled.message
    assert f"keeps serving {second.version}" in crippled.message
    figures = crippled.metrics["gate"]["comparisons"][0]
    assert figures["role"] == "active" and figures["new"] < 0.9 * figures["old"]
    # Judged on feedback given before any model it is compared with went live (the reference, night one, is the earliest).
    assert crippled.metrics["holdout"]["until"] == first.data_until.timestamp()
    assert TrainingRun.objects.get(is_active=True).pk == second.pk


@pytest.mark.django_db
def test_no_model_trains_on_the_gate_readers(tmp_path, gate_settings, settings):
    from recommender.engine.artifacts import load_artifact

    write_dataset(tmp_path, readers=200, events=4000)
    call_command("import_papers", str(tmp_path / "papers.jsonl"))
    call_command("import_interactions", str(tmp_path / "wave_one.csv"))
    snapshot = training_snapshot()
    gate = gate_hash(snapshot.user_pks) < 0.4
    only_gate = np.setdiff1d(snapshot.events.items[gate[snapshot.events.users]], snapshot.events.items[~gate[snapshot.events.users]])
    run = retrain()
    assert run.sizes["gate_readers"] == gate.sum() and run.sizes["trained_interactions"] == (~gate[snapshot.events.users]).sum()
    artifact = load_artifact(Path(settings.MODEL_DIR) / run.artifact)
    columns = [artifact.index_of()[snapshot.paper_ids[j]] for j in only_gate]
    assert len(columns) and not artifact.model.popularity[columns].any() and not artifact.model.known_items[columns].any()


@pytest.mark.django_db
def test_old_model_files_are_deleted_and_the_admin_is_told(community, settings, admin_client):
    settings.MODEL_FILES_KEEP, settings.GATE_READER_SHARE, settings.ACTIVATION_MIN_HOLDOUT_USERS = 1, 0.5, 3
    runs = [retrain() for _ in range(3)]
    settings.ACTIVATION_TOLERANCE = -1.0  # demand twice the active model's recall: refused
    rejected = retrain()
    assert rejected.status == Status.REJECTED
    folder = Path(settings.MODEL_DIR)
    for run in [*runs, rejected]:
        run.refresh_from_db()
    assert [(folder / run.artifact).exists() for run in [*runs, rejected]] == [False, True, True, False]
    assert runs[0].artifact_deleted_at and rejected.artifact_deleted_at and runs[2].artifact_deleted_at is None
    (folder / ".half-written.abc.tmp").mkdir()  # left by a process killed while saving
    (folder / ".half-written.abc.tmp" / "item_factors.npy").write_bytes(b"x")
    assert model_files_prune() == [".half-written.abc.tmp"]
    assert not (folder / ".half-written.abc.tmp").exists()
    page = admin_client.get("/admin/recommender/trainingrun/").content.decode()
    assert "deleted" in page and "kept the previous model" in page


def test_papers_readers_came_to_through_a_recommendation_are_not_what_a_model_is_judged_on():
    """Hits on what the active model recommended would flatter it: the truth is what readers found on their own."""
    events, times = events_of([(r, p, LIKE, 0, p) for r in range(3) for p in range(6)])
    own = np.ones(len(times), dtype=bool)
    own[(events.users == 0) & (events.items >= 3)] = False  # reader 0 came to papers 3-5 through the feed
    holdout = build_holdout(events, times, 6, np.zeros(3), share=1, until=None, window_papers=1000, min_readers=3, max_readers=10, own=own)
    assert holdout.own_only and holdout.describe()["found"] == "on their own"
    assert [list(t) for t in holdout.truth] == [[1, 2], [3, 4, 5], [3, 4, 5]]  # reader 0: the newer half of 0-2
    assert set(holdout.history.items[holdout.history.users == 0].tolist()) == {0, 3, 4, 5}  # what the feed led to: history
    few = build_holdout(events, times, 6, np.zeros(3), share=1, until=None, window_papers=1000, min_readers=4, max_readers=10, own=own)
    assert few.own_only and len(few.users) == 3  # too few readers whichever way: the first it could make


CITEULIKE = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "citeulike-a"


def write_citeulike_waves(folder: Path, readers: int) -> None:
    """The first ``readers`` CiteULike readers as two waves (a seeded tenth of them on day two), and every paper."""
    with open(CITEULIKE / "interactions.csv") as handle:
        header, *rows = list(csv.reader(handle))
    kept = {f"u{n}" for n in range(readers)}
    late = {f"u{n}" for n in np.random.default_rng(0).choice(readers, size=readers // 10, replace=False)}
    folder.mkdir(parents=True, exist_ok=True)
    for wave, part in (("one", kept - late), ("two", late)):
        with open(folder / f"wave_{wave}.csv", "w", newline="") as handle:
            csv.writer(handle).writerows([header, *(row for row in rows if row[0] in part)])


@pytest.mark.django_db
def test_on_real_readers_two_waves_go_live_crippled_nights_are_refused_and_an_honest_one_follows(tmp_path, settings):
    """The operator's nights on CiteULike (1,500 readers, 10% joining on day two; imports without timestamps)."""
    write_citeulike_waves(tmp_path, 1500)
    settings.ALS_FACTORS, settings.ALS_ITERATIONS, settings.GATE_READER_SHARE = 32, 10, 0.2
    call_command("import_papers", str(CITEULIKE / "papers.jsonl"), verbosity=0)
    call_command("import_interactions", str(tmp_path / "wave_one.csv"), verbosity=0)
    first = retrain()
    call_command("import_interactions", str(tmp_path / "wave_two.csv"), verbosity=0)
    second = retrain()
    assert first.status == second.status == Status.ACTIVATED, second.message
    judged = second.metrics["holdout"]  # the import's one stamp no longer empties the window: day two is judged
    assert judged["readers"] > 200 and second.metrics["gate"]["comparisons"][0]["role"] == "active"
    assert "not more than 10% below" in second.message

    crippled = {"ALS_FACTORS": 1, "ALS_ITERATIONS": 1, "GRAPH_NEIGHBOURS": 1}
    nights = []
    for overrides in (crippled, crippled, {}):
        for name, value in overrides.items():
            setattr(settings, name, value)
        settings.TUNING_PINNED = frozenset(settings.TUNABLE_SETTINGS[name] for name in overrides if name in settings.TUNABLE_SETTINGS)
        nights.append(retrain())
        settings.ALS_FACTORS, settings.ALS_ITERATIONS, settings.GRAPH_NEIGHBOURS, settings.TUNING_PINNED = 32, 10, 200, frozenset()
    assert [night.status for night in nights] == [Status.REJECTED, Status.REJECTED, Status.ACTIVATED], [n.message for n in nights]
    for night in nights[:2]:  # refused by the sanity checks and by the hold-out alike, in words with the figures
        assert "outside what the search can choose" in night.message and "more than 10% below (a drop of" in night.message
        assert night.metrics["gate"]["against"] == second.version
    assert nights[2].metrics["gate"]["against"] == second.version  # the refused nights changed nothing


def blurred_trainer(confidence, params, **kwargs):
    """ALS, then its item factors mostly replaced by noise of their scale (a worse model, deterministically)."""
    from recommender.engine.collaborative import als_fit

    users, items = als_fit(confidence, params, **kwargs)
    noise = np.random.default_rng(5).standard_normal(items.shape) * float(items.std())
    return users, (0.3 * items + 0.7 * noise).astype(items.dtype)


@pytest.mark.django_db
def test_a_decayed_model_that_got_in_is_no_yardstick_the_best_recent_model_is(tmp_path, gate_settings, settings):
    """No ratchet: a worse model let in (by a lax tolerance) does not become the bar. Its twin, 0% below it, is refused
    because it is more than the tolerance below the best recent model (the reference, whose files are kept)."""
    write_dataset(tmp_path, readers=700, events=24_000)
    call_command("import_papers", str(tmp_path / "papers.jsonl"))
    call_command("import_interactions", str(tmp_path / "wave_one.csv"))
    settings.ALS_FACTORS = 32
    best = retrain()
    # Tonight's model leans on blurred factors (no graph: a share the search may choose), and anything goes.
    settings.ALS_TRAINER, settings.BLEND_GRAPH_SHARE = "tests.test_gate.blurred_trainer", 0.0
    settings.TUNING_PINNED, settings.ACTIVATION_TOLERANCE = frozenset({"blend.graph_share"}), 1.0
    decayed = retrain()
    drop = 1 - decayed.metrics["recall@20"] / decayed.metrics["active_model"]["recall@20"]
    assert decayed.status == Status.ACTIVATED and drop > 0.1, (decayed.message, drop)
    settings.ACTIVATION_TOLERANCE = 0.1
    twin = retrain()  # the same trainer and settings on the same data: the decayed model again
    gate = twin.metrics["gate"]
    assert twin.status == Status.REJECTED and gate["reference"] == best.version, twin.message
    active, reference = gate["comparisons"]
    assert (active["role"], active["version"], active["new"]) == ("active", decayed.version, active["old"])  # 0% below the active
    assert reference["role"] == "reference" and reference["new"] < 0.9 * reference["old"]
    assert f"the reference {best.version} (the best recent model)" in twin.message and "more than 10% below" in twin.message
    assert twin.metrics["reference_model"]["version"] == best.version
    # Honest again (the graph's share pinned back: the last search's choice would carry the pinned 0 on).
    settings.ALS_TRAINER, settings.BLEND_GRAPH_SHARE = "recommender.engine.collaborative.als_fit", best.parameters["blend"]["graph_share"]
    honest = retrain()
    assert honest.status == Status.ACTIVATED and honest.metrics["gate"]["reference"] == best.version, honest.message


def test_a_window_with_nobody_to_score_widens_instead_of_giving_up():
    # Reader 0 touched papers 0-5 long ago; readers 1-3 each touched one paper recently (nothing to learn them from).
    rows = [(0, p, LIKE, 0, p) for p in range(6)] + [(r, 10 + r, LIKE, 0, 1000 + r) for r in range(1, 4)]
    events, times = events_of(rows)
    holdout = build_holdout(events, times, 20, np.zeros(4), share=1, until=None, window_papers=3, min_readers=1, max_readers=10)
    assert holdout is not None and list(holdout.users) == [0]
