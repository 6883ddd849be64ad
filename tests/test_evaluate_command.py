"""`manage.py evaluate` on a small data set made here; it must not touch the database (no db mark)."""

import json

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from tests.conftest import TOPIC_WORDS


@pytest.fixture
def dataset(tmp_path):
    """Three topics of ten papers; 30 readers, each liking seven papers of one topic."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    rng = np.random.default_rng(0)
    with open(folder / "papers.jsonl", "w") as handle:
        for t, (topic, words) in enumerate(TOPIC_WORDS.items()):
            for n in range(10):
                handle.write(
                    json.dumps({"id": f"{topic}-{n}", "title": f"{topic} {n}", "abstract": f"{words} {words.split()[n % 5]}"}) + "\n"
                )
    rows = ["user,paper,kind,value,timestamp"]
    for u in range(30):
        topic = list(TOPIC_WORDS)[u % 3]
        for n in rng.choice(10, size=7, replace=False):
            rows.append(f"u{u},{topic}-{n},like,,")
    (folder / "interactions.csv").write_text("\n".join(rows) + "\n")
    return folder


def read_table(out: str) -> dict[str, list[float]]:
    table = {}
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0] in ("popularity", "content", "als", "blend"):
            table[parts[0]] = [float(x) for x in parts[1:]]
    return table


@pytest.mark.parametrize("protocol", ["warm", "cold"])
def test_evaluate_a_dataset_by_protocol(dataset, tmp_path, capsys, settings, protocol):
    settings.ALS_FACTORS = 3
    metrics_file, recs_file = tmp_path / "m.json", tmp_path / "recs.jsonl"
    call_command(
        "evaluate",
        "--dataset",
        str(dataset),
        "--protocol",
        protocol,
        "--json",
        str(metrics_file),
        "--recs-out",
        str(recs_file),
        "--k",
        "10",
    )
    table = read_table(capsys.readouterr().out)
    assert set(table) == {"popularity", "content", "als", "blend"}
    assert table["blend"][1] > table["popularity"][1]  # nDCG@20: topics are easy to learn here
    metrics = json.loads(metrics_file.read_text())["metrics"]
    assert metrics["blend"]["recall@20"] == pytest.approx(table["blend"][0], abs=1e-4)
    lines = [json.loads(line) for line in recs_file.read_text().splitlines()]
    expected = 10 if protocol == "warm" else 6  # the cold protocol ranks only the six held-out papers
    assert len(lines) == metrics["blend"]["users"] and all(len(line["recommended"]) == expected for line in lines)


def test_evaluate_train_and_test_files_with_candidates(dataset, tmp_path, capsys, settings):
    settings.ALS_FACTORS = 3
    rows = (dataset / "interactions.csv").read_text().splitlines()
    header, body = rows[0], rows[1:]
    held = [r for r in body if r.split(",")[1].endswith(("-8", "-9"))]  # papers 8 and 9 of each topic are new
    train = [r for r in body if r not in held]
    (tmp_path / "train.csv").write_text("\n".join([header, *train]) + "\n")
    (tmp_path / "test.csv").write_text("\n".join([header, *held]) + "\n")
    (tmp_path / "cands.txt").write_text("\n".join(f"{t}-{n}" for t in TOPIC_WORDS for n in (8, 9)) + "\n")
    recs = tmp_path / "recs.jsonl"
    call_command(
        "evaluate",
        "--papers",
        str(dataset / "papers.jsonl"),
        "--train",
        str(tmp_path / "train.csv"),
        "--test",
        str(tmp_path / "test.csv"),
        "--candidates",
        str(tmp_path / "cands.txt"),
        "--recs-out",
        str(recs),
    )
    table = read_table(capsys.readouterr().out)
    assert table["content"][0] > 0.9 and table["blend"][0] > 0.9  # new papers found by what they say
    for line in map(json.loads, recs.read_text().splitlines()):
        assert set(line["recommended"]) <= {f"{t}-{n}" for t in TOPIC_WORDS for n in (8, 9)}
        assert len(line["recommended"]) == 6


def test_evaluate_names_what_is_missing(dataset):
    with pytest.raises(CommandError, match="missing: --train, --test"):
        call_command("evaluate", "--papers", str(dataset / "papers.jsonl"))


def test_evaluate_refuses_a_bad_file_with_its_line(dataset, tmp_path):
    bad = tmp_path / "test.csv"
    bad.write_text("user,paper,kind,value,timestamp\nu1,astro-1,like,,\nu1,astro-2,rate,9,\n")
    with pytest.raises(CommandError, match="test.csv, line 3"):
        call_command(
            "evaluate", "--papers", str(dataset / "papers.jsonl"), "--train", str(dataset / "interactions.csv"), "--test", str(bad)
        )


def test_the_merged_protocol_scores_each_interest_and_a_collection_of_the_smaller(dataset, tmp_path, capsys, settings):
    """Readers of different topics never share a paper, so pairs form; each pair is one reader with two interests."""
    settings.ALS_FACTORS = 3
    rows = ["user,paper,kind,value,timestamp"]  # 60 readers, each liking 10-12 of the 20 papers of one topic
    rng = np.random.default_rng(1)
    for u in range(60):
        topic = list(TOPIC_WORDS)[u % 3]
        rows += [f"u{u},{topic}-{n},like,," for n in rng.choice(20, size=10 + u % 3, replace=False)]
    with open(dataset / "papers.jsonl", "a") as handle:
        for topic, words in TOPIC_WORDS.items():
            for n in range(10, 20):
                handle.write(
                    json.dumps({"id": f"{topic}-{n}", "title": f"{topic} {n}", "abstract": f"{words} {words.split()[n % 5]}"}) + "\n"
                )
    (dataset / "interactions.csv").write_text("\n".join(rows) + "\n")
    metrics_file = tmp_path / "m.json"
    call_command("evaluate", "--dataset", str(dataset), "--protocol", "merged", "--fixed", "--json", str(metrics_file))
    out = capsys.readouterr().out
    assert "the smaller interest's recall@20" in out and "ranked for it as a collection" in out
    interests = json.loads(metrics_file.read_text())["interests"]
    for method in ("blend", "served"):
        assert set(interests[method]) == {"smaller@20", "larger@20", "both_share"}
        assert all(0 <= value <= 1 for value in interests[method].values())
    # Three clean topics: profiled on the smaller interest alone, its held-out papers are found better than for the
    # reader of both.
    found = interests["smaller_as_collection"]
    assert found["collection"] > found["personal"] > 0


def test_merged_readers_have_disjoint_libraries_and_the_second_leaves():
    from recommender.engine.evaluation import interest_metrics, split_merged
    from recommender.engine.matrix import KIND_CODES, Events

    # Six readers: 0-2 read papers 0-19, 3-5 read papers 20-39 (each 12 papers, overlapping within a group only).
    users, items = [], []
    for u in range(6):
        base = 0 if u < 3 else 20
        chosen = [base + (u * 3 + k) % 20 for k in range(12 + (u % 3))]
        users += [u] * len(chosen)
        items += chosen
    n = len(users)
    events = Events(np.array(users), np.array(items), np.full(n, KIND_CODES["like"]), np.zeros(n, dtype=np.int64))
    split = split_merged(events, seed=1, min_items=10)
    assert split.truth  # at least one pair formed
    for first, held in split.truth.items():
        mine = split.events.items[split.events.users == first]
        assert set(held) <= set(mine.tolist()) and not split.train[(split.events.users == first) & np.isin(split.events.items, held)].any()
        assert len(split.smaller[first]) <= len(split.larger[first]) + 1 and np.array_equal(
            np.union1d(split.smaller[first], split.larger[first]), held
        )
        groups = {0 if i < 20 else 1 for i in mine.tolist()}
        assert groups == {0, 1}  # a reader of each group: the libraries were disjoint
    gone = set(range(6)) - set(split.events.users.tolist())
    assert len(gone) == len(split.truth)  # each pair's second reader left the community
    first = next(iter(split.truth))
    perfect = np.concatenate([split.smaller[first], split.larger[first]])[None, :]
    assert interest_metrics(perfect, np.array([first]), split) == {"smaller@20": 1.0, "larger@20": 1.0, "both_share": 1.0}


def test_evaluate_with_meaning_embeds_a_data_set_once_and_scores_the_fourth_signal(dataset, tmp_path, capsys, settings):
    settings.ALS_FACTORS = 3
    settings.EMBEDDINGS_CACHE_DIR = str(tmp_path / "vectors")
    settings.EMBEDDING_DEVICE = "cpu"
    metrics_file = tmp_path / "m.json"
    arguments = ["--dataset", str(dataset), "--protocol", "cold", "--fixed", "--meaning", "on", "--json", str(metrics_file)]
    call_command("evaluate", *arguments)
    first = json.loads(metrics_file.read_text())["metrics"]
    assert first["meaning"]["recall@20"] > 0.5  # three topics: the meaning alone finds a reader's held-out papers
    assert sorted(p.name for p in (tmp_path / "vectors").iterdir()) == ["all-minilm-l6-v2.keys.npy", "all-minilm-l6-v2.vectors.npy"]
    stamp = (tmp_path / "vectors" / "all-minilm-l6-v2.vectors.npy").stat().st_mtime_ns
    call_command("evaluate", *arguments)  # the vectors come from the cache: the same figures, the file untouched
    assert json.loads(metrics_file.read_text())["metrics"] == first
    assert (tmp_path / "vectors" / "all-minilm-l6-v2.vectors.npy").stat().st_mtime_ns == stamp
    call_command("evaluate", *arguments[:-4], "--meaning", "off", "--json", str(metrics_file))
    assert json.loads(metrics_file.read_text())["metrics"]["meaning"]["ndcg@20"] != first["meaning"]["ndcg@20"]
    # A data set whose titles are placeholders: the meaning reads the abstracts alone (new texts, so new vectors).
    from recommender.engine.meaning import text_key

    call_command("evaluate", *arguments, "--meaning-reads", "abstract")
    keys = set(np.load(tmp_path / "vectors" / "all-minilm-l6-v2.keys.npy").tolist())
    lines = [json.loads(line) for line in (dataset / "papers.jsonl").read_text().splitlines()]
    assert all(text_key(paper["abstract"]) in keys for paper in lines)
    assert len(keys) == len(lines) + len({paper["abstract"] for paper in lines})  # 30 titled texts, then the abstracts


def test_evaluate_warns_when_the_titles_are_numbered_placeholders(dataset, tmp_path, capsys, settings):
    settings.ALS_FACTORS = 3
    settings.EMBEDDINGS_CACHE_DIR = str(tmp_path / "vectors")
    settings.EMBEDDING_DEVICE = "cpu"
    papers = [json.loads(line) for line in (dataset / "papers.jsonl").read_text().splitlines()]
    (dataset / "papers.jsonl").write_text("".join(json.dumps({**p, "title": f"tiny item {n}"}) + "\n" for n, p in enumerate(papers)))
    arguments = ["--dataset", str(dataset), "--protocol", "cold", "--fixed", "--meaning", "on"]
    call_command("evaluate", *arguments)
    assert "every title is the same but for a number" in capsys.readouterr().err
    call_command("evaluate", *arguments, "--meaning-reads", "abstract")
    assert "every title is the same" not in capsys.readouterr().err
