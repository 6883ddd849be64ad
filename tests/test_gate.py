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

from recommender.engine.gate import ALL_TIME, TEMPORAL, build_holdout, gate_decision, gate_hash
from recommender.engine.matrix import KIND_CODES, Events
from recommender.engine.synthetic import synthetic_feedback, synthetic_papers
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
    holdout = build_holdout(events, times, 8, reader_hash, share=0.05, until=200, window_papers=4, min_readers=1, max_readers=10)
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


def test_the_decision_refuses_only_a_clear_and_certain_drop():
    rng = np.random.default_rng(0)
    old = rng.random(200)
    assert gate_decision(old * 0.5, old, tolerance=0.1, min_readers=20).activate is False
    assert gate_decision(old * 0.95, old, tolerance=0.1, min_readers=20).activate is True
    assert gate_decision(old, old, tolerance=0.1, min_readers=20).activate is True
    assert gate_decision(old[:10] * 0.5, old[:10], tolerance=0.1, min_readers=20).activate is True  # too few to judge
    noisy = np.where(np.arange(30) < 2, 0.0, old[:30])  # a small drop from two readers out of thirty: not certain
    assert gate_decision(noisy, old[:30], tolerance=0.05, min_readers=20).activate is True
    refused = gate_decision(old * 0.5, old, tolerance=0.1, min_readers=20)
    assert "more than 10% below" in refused.reason and refused.bound < 0 and refused.new == pytest.approx(refused.old / 2)


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
    assert second.metrics["holdout"]["until"] == first.data_until.timestamp() and second.metrics["holdout"]["kind"] == TEMPORAL
    assert second.data_until > first.data_until

    # As ALS_FACTORS=1 ALS_ITERATIONS=1 GRAPH_NEIGHBOURS=1 in the environment (which pins what it sets): both collaborative
    # signals crippled (with ALS alone crippled, the graph and content still make a fair model).
    settings.ALS_FACTORS, settings.ALS_ITERATIONS, settings.GRAPH_NEIGHBOURS = 1, 1, 1
    settings.TUNING_PINNED = frozenset({"als.factors", "graph.neighbours"})
    crippled = retrain()
    # Judged on the gate readers' most recent papers before the second model went live: the new readers' among them.
    holdout = crippled.metrics["holdout"]
    assert holdout["kind"] == TEMPORAL and holdout["readers"] >= 20 and holdout["until"] == second.data_until.timestamp()
    assert holdout["since"] < first.data_until.timestamp()  # the window reaches back past the first wave's end
    assert crippled.status == Status.REJECTED and not crippled.is_active, crippled.message
    assert crippled.metrics["gate"]["activate"] is False and crippled.metrics["gate"]["against"] == second.version
    assert "more than 10% below (95% sure)" in crippled.message and f"keeps serving {second.version}" in crippled.message
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
