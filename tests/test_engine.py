"""The engine on tiny matrices with known answers (no database)."""

import dataclasses

import numpy as np
import pytest
from scipy import sparse

from recommender.engine import matrix
from recommender.engine.artifacts import load_artifact, save_artifact
from recommender.engine.blend import BlendParams, diversify, top_k
from recommender.engine.collaborative import ALSParams, als_fit, fold_in, item_gram
from recommender.engine.content import TfidfEncoder, profile_scores
from recommender.engine.evaluation import metrics, split_cold, split_warm
from recommender.engine.matrix import KIND_CODES, Events, FeedbackWeights, confidence_matrix
from recommender.engine.pipeline import fit_hybrid
from tests.arrays import memory_mapped

LIKE, READ, DISMISS, RATE = (KIND_CODES[k] for k in ("like", "read", "dismiss", "rate"))
TOPICS = ["galaxy star telescope cosmology", "protein enzyme cell genome", "compiler parser grammar type"]


def block_community(seed: int = 0):
    """Three communities of eight readers; each likes most papers of its own topic (eight papers each)."""
    rng = np.random.default_rng(seed)
    users, items = [], []
    for u in range(24):
        topic = u // 8
        for j in range(topic * 8, topic * 8 + 8):
            if rng.random() < 0.7:
                users.append(u)
                items.append(j)
    texts = [f"{TOPICS[j // 8]} paper {j}" for j in range(24)]
    return Events(users, items, [LIKE] * len(users)), texts


def test_confidence_sums_positive_kinds_and_negative_evidence_wins():
    events = Events(
        users=[0, 0, 0, 0, 1, 1], items=[0, 0, 1, 1, 2, 3], kinds=[READ, LIKE, LIKE, DISMISS, RATE, RATE], values=[0, 0, 0, 0, 5, 1]
    )
    m = confidence_matrix(events, (2, 4), FeedbackWeights()).toarray()
    assert m[0, 0] == pytest.approx(5.0)  # read 1 + like 4
    assert m[0, 1] == pytest.approx(-4.0)  # liked then dismissed: the dismissal wins
    assert m[1, 2] == pytest.approx(6.0) and m[1, 3] == pytest.approx(-4.0)  # 5 stars, 1 star


@pytest.mark.parametrize("by_cell_below", [10**9, 0], ids=["summed by cell", "summed as matrices"])
def test_confidence_matches_a_cell_by_cell_reading_of_the_rules(by_cell_below, monkeypatch):
    monkeypatch.setattr(matrix, "SUM_BY_CELL_BELOW", by_cell_below)
    rng = np.random.default_rng(3)
    n = 3000
    kinds = rng.choice([READ, LIKE, LIKE, DISMISS, RATE], size=n)
    events = Events(rng.integers(0, 40, n), rng.integers(0, 60, n), kinds, np.where(kinds == RATE, rng.integers(1, 6, n), 0))
    weights = FeedbackWeights()
    cells: dict[tuple[int, int], list[float]] = {}
    for u, j, w, read in zip(events.users, events.items, weights.per_event(events.kinds, events.values), events.kinds == READ):
        positive, reads, negative = cells.setdefault((int(u), int(j)), [0.0, 0.0, 0.0])
        cells[(int(u), int(j))] = [positive + (0 if read else max(w, 0)), reads + (w if read else 0), negative + max(-w, 0)]
    expected = np.zeros((40, 60))
    for (u, j), (positive, reads, negative) in cells.items():
        expected[u, j] = -negative if negative > 0 else positive + min(reads, weights.max_reads_weight)
    m = confidence_matrix(events, (40, 60), weights)
    np.testing.assert_allclose(m.toarray(), expected, rtol=1e-6)
    assert m.nnz == np.count_nonzero(expected) and m.has_sorted_indices


def test_an_event_outside_the_matrix_is_refused_not_moved_to_another_reader():
    with pytest.raises(ValueError, match="outside"):
        confidence_matrix(Events([0], [5], [LIKE]), (2, 5), FeedbackWeights())  # column 5 of reader 0 is not reader 1's column 0


def test_time_decay_halves_a_weight_every_half_life():
    events = Events([0, 0], [0, 1], [LIKE, LIKE], ages_days=np.array([0.0, 30.0]))
    m = confidence_matrix(events, (1, 2), FeedbackWeights(half_life_days=30)).toarray()
    assert m[0, 1] == pytest.approx(m[0, 0] / 2)


def test_block_community_gets_its_own_topic_recommended():
    events, texts = block_community()
    fit = fit_hybrid(events, n_users=24, texts=texts, als=ALSParams(factors=3, iterations=20, num_threads=1))
    ranked = top_k(fit.model.scores(fit.confidence), 3, exclude=fit.confidence)
    for user in range(24):
        unseen_own = set(range((user // 8) * 8, (user // 8) * 8 + 8)) - set(fit.confidence[user].indices)
        expected = min(3, len(unseen_own))
        assert set(ranked[user][:expected]) <= unseen_own, f"reader {user} got {ranked[user]}"


def test_fold_in_reproduces_the_trained_user_factors():
    events, _ = block_community()
    confidence = confidence_matrix(events, (24, 24), FeedbackWeights())
    params = ALSParams(factors=8, iterations=30, regularization=0.1, num_threads=1)
    user_factors, item_factors = als_fit(confidence, params)
    gram = item_gram(item_factors)
    for user in (0, 9, 20):
        row = confidence[user]
        folded = fold_in(item_factors, gram, row.indices, row.data, alpha=params.alpha, regularization=params.regularization)
        cosine = folded @ user_factors[user] / (np.linalg.norm(folded) * np.linalg.norm(user_factors[user]))
        assert cosine > 0.99


def test_fold_in_matches_implicits_own_recalculation_with_negative_cells():
    from implicit.cpu.als import AlternatingLeastSquares

    events, _ = block_community()
    extra = Events([0, 9], [20, 3], [DISMISS, DISMISS])  # negative cells too
    both = Events(np.r_[events.users, extra.users], np.r_[events.items, extra.items], np.r_[events.kinds, extra.kinds])
    confidence = confidence_matrix(both, (24, 24), FeedbackWeights())
    params = ALSParams(factors=8, iterations=10, regularization=0.5, alpha=40.0, num_threads=1)
    model = AlternatingLeastSquares(factors=8, iterations=10, regularization=0.5, alpha=40.0, random_state=0, num_threads=1)
    model.fit(confidence, show_progress=False)
    gram = item_gram(model.item_factors)
    for user in (0, 9, 20):
        row = confidence[user]
        ours = fold_in(model.item_factors, gram, row.indices, row.data, alpha=params.alpha, regularization=params.regularization)
        theirs = model.recalculate_user(user, confidence[user])
        assert np.allclose(ours, np.ravel(theirs), rtol=1e-3, atol=1e-4)


def test_a_like_moves_similar_papers_up_at_once():
    events, texts = block_community()
    fit = fit_hybrid(events, n_users=24, texts=texts, als=ALSParams(factors=8, num_threads=1))
    newcomer = sparse.csr_matrix((1, 24), dtype=np.float32)
    liked = newcomer.copy().tolil()
    liked[0, 17] = 4.0  # likes one compiler paper
    scores = fit.model.scores(liked.tocsr())[0]
    top = np.argsort(-scores)[:6]
    assert set(top) - {17} <= set(range(16, 24))


def test_a_dismissal_pushes_similar_papers_down():
    events, texts = block_community()
    fit = fit_hybrid(events, n_users=24, texts=texts, als=ALSParams(factors=8, num_threads=1))
    base = sparse.lil_matrix((1, 24), dtype=np.float32)
    base[0, 0], base[0, 8] = 4.0, 4.0  # likes astronomy and biology
    dismissed = base.copy()
    dismissed[0, 9] = -4.0  # not interested in a biology paper
    before = fit.model.scores(base.tocsr())[0]
    after = fit.model.scores(dismissed.tocsr())[0]
    biology = [j for j in range(8, 16) if j not in (8, 9)]
    astronomy = [j for j in range(0, 8) if j != 0]
    assert np.mean(after[biology]) < np.mean(before[biology])
    assert np.mean(after[biology] - before[biology]) < np.mean(after[astronomy] - before[astronomy])


def test_new_reader_gets_papers_in_the_order_of_their_popularity():
    events, texts = block_community()
    fit = fit_hybrid(events, n_users=24, texts=texts, als=ALSParams(factors=8, num_threads=1))
    scores = fit.model.scores(sparse.csr_matrix((1, 24), dtype=np.float32))[0]
    popularity = np.asarray((fit.confidence > 0).sum(axis=0)).ravel()
    more_popular = popularity[:, None] > popularity[None, :]
    assert more_popular.any() and (scores[:, None] > scores[None, :])[more_popular].all()  # every pair in order


def test_untouched_papers_reach_feeds_through_content():
    events, texts = block_community()
    keep = events.items != 23  # nobody has touched paper 23 (a compiler paper)
    untouched = Events(events.users[keep], events.items[keep], events.kinds[keep])
    fit = fit_hybrid(untouched, n_users=24, texts=texts, als=ALSParams(factors=8, num_threads=1))
    assert not fit.model.known_items[23]
    compiler_reader = sparse.lil_matrix((1, 24), dtype=np.float32)
    for j in (16, 17, 18):
        compiler_reader[0, j] = 4.0
    scores = fit.model.scores(compiler_reader.tocsr())[0]
    scores[[16, 17, 18]] = -np.inf
    assert 23 in np.argsort(-scores)[:5]


def test_content_encoder_transform_matches_fit():
    texts = [f"{TOPICS[j // 8]} paper {j}" for j in range(24)] + ["galaxy telescope deep survey"]
    encoder = TfidfEncoder()
    fitted = encoder.fit_transform(texts)
    again = encoder.transform(texts)
    assert np.allclose(fitted.toarray(), again.toarray(), atol=1e-5)


def test_profile_scores_prefer_the_liked_topic():
    texts = [f"{TOPICS[j // 8]} paper" for j in range(24)]
    vectors = TfidfEncoder().fit_transform(texts)
    weights = sparse.csr_matrix(([4.0], ([0], [3])), shape=(1, 24))
    scores = profile_scores(vectors, weights)[0]
    assert scores[:8].min() > scores[8:].max()


def test_diversify_breaks_up_one_topic():
    texts = ["galaxy star"] * 4 + ["protein cell"] * 2
    vectors = TfidfEncoder().fit_transform(texts)
    candidates = np.arange(6)
    scores = np.array([1.0, 0.99, 0.98, 0.97, 0.9, 0.89])
    assert list(diversify(candidates, scores, vectors, 3, 0.0)) == [0, 1, 2]
    assert 4 in diversify(candidates, scores, vectors, 3, 3.0)  # trade-off in standard deviations of the scores


def test_metrics_known_answers():
    ranked = np.array([list(range(100)), list(range(100, 200))])
    truth = [np.array([0, 5, 150]), np.array([100])]
    m = metrics(ranked, truth)
    assert m["recall@20"] == pytest.approx((2 / 3 + 1) / 2)
    ideal_first = 1 + 1 / np.log2(3) + 1 / np.log2(4)
    assert m["ndcg@20"] == pytest.approx(((1 + 1 / np.log2(7)) / ideal_first + 1.0) / 2)


def test_splits_are_deterministic_and_honest():
    events, _ = block_community()
    mask, truth = split_warm(events, seed=0)
    again, _ = split_warm(events, seed=0)
    assert np.array_equal(mask, again)
    for user, items in truth.items():
        trained = set(events.items[mask & (events.users == user)])
        assert not trained & set(items)
    mask, truth, cold = split_cold(events, 24, seed=0)
    assert len(cold) == 5 and not np.isin(events.items[mask], cold).any()


def test_artifact_round_trip_gives_the_same_scores(tmp_path):
    events, texts = block_community()
    fit = fit_hybrid(events, n_users=24, texts=texts, als=ALSParams(factors=8, num_threads=1), blend=BlendParams(diversity=0.2))
    path = tmp_path / "models" / "v1"
    save_artifact(
        path, model=fit.model, item_ids=[f"p{j}" for j in range(24)], encoder=fit.encoder, weights=FeedbackWeights(), meta={"version": "v1"}
    )
    assert sorted(f.name for f in path.iterdir())[:3] == ["content_data.npy", "content_indices.npy", "content_indptr.npy"]
    loaded = load_artifact(path)
    assert list(loaded.item_ids[:2]) == ["p0", "p1"] and loaded.meta == {"version": "v1"}
    assert loaded.model.blend == fit.model.blend and loaded.model.als == fit.model.als
    assert np.allclose(loaded.model.scores(fit.confidence[:3]), fit.model.scores(fit.confidence[:3]))
    assert memory_mapped(loaded.model.item_factors) and memory_mapped(loaded.model.content.data)
    assert not list(path.parent.glob(".*"))  # no temporary folder left behind


def test_a_model_saved_as_one_npz_file_before_still_loads(tmp_path):
    """Models written before the folder format (format 1: one .npz) keep serving until the next retrain."""
    import json

    events, texts = block_community()
    fit = fit_hybrid(events, n_users=24, texts=texts, als=ALSParams(factors=8, num_threads=1))
    folder = tmp_path / "v2"
    save_artifact(folder, model=fit.model, item_ids=[f"p{j}" for j in range(24)], encoder=fit.encoder, weights=FeedbackWeights(), meta={})
    params = json.loads((folder / "params.json").read_text()) | {"format": 1}
    old = tmp_path / "v1.npz"
    np.savez(old, params=np.array(json.dumps(params)), **{f.stem: np.load(f) for f in folder.glob("*.npy")})
    loaded = load_artifact(old)
    assert np.allclose(loaded.model.scores(fit.confidence[:3]), fit.model.scores(fit.confidence[:3]))


def test_a_truncated_artifact_is_refused(tmp_path):
    path = tmp_path / "broken.npz"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ValueError, match="not a readable model artifact"):
        load_artifact(path)


def test_batched_fold_in_equals_one_reader_at_a_time():
    from recommender.engine.collaborative import fold_in_batch

    rng = np.random.default_rng(1)
    factors = (rng.normal(size=(300, 16)) * 0.1).astype(np.float32)
    gram = item_gram(factors)
    counts = [0, 1, 3, 12, 70]  # nobody, a few papers, and one reader past the small-system limit
    rows = np.repeat(np.arange(len(counts)), counts)
    weights = sparse.csr_matrix(
        (rng.choice([1.0, 4.0, -4.0, 6.0], size=len(rows)), (rows, rng.choice(300, size=len(rows)))), shape=(len(counts), 300)
    )
    weights.sum_duplicates()
    batch = fold_in_batch(factors, gram, weights, alpha=40.0, regularization=10.0, small=64)
    for r in range(len(counts)):
        row = weights[r]
        one = fold_in(factors, gram, row.indices, row.data, alpha=40.0, regularization=10.0)
        assert np.allclose(batch[r], one, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("solver", ["ridge_normal_equations", "ridge_conjugate_gradients"])
def test_the_content_map_solvers_agree_with_scikit_learn_ridge(solver):
    from scipy import sparse
    from sklearn.linear_model import Ridge

    from recommender.engine import blend

    rng = np.random.default_rng(0)
    x = sparse.random(400, 120, density=0.05, random_state=1, format="csr", dtype=np.float32)
    y = rng.normal(size=(400, 16)).astype(np.float32)
    expected = Ridge(alpha=1.0, fit_intercept=False, solver="cholesky").fit(x.toarray(), y).coef_.T
    got = getattr(blend, solver)(x, y, 1.0)
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=2e-3)


def test_reads_are_capped_so_visits_cannot_outweigh_a_like():
    events = Events([0] * 10 + [1], [0] * 10 + [0], [0] * 10 + [1])  # ten reads; one like
    matrix = confidence_matrix(events, (2, 1), FeedbackWeights()).toarray()
    assert matrix[0, 0] == 2.0 and matrix[1, 0] == 4.0


def test_a_reader_who_only_dismissed_gets_popular_papers_less_those_like_the_dismissed_one():
    events, texts = block_community()
    fit = fit_hybrid(events, n_users=24, texts=texts, als=ALSParams(factors=8, num_threads=1))
    dismissed = sparse.lil_matrix((1, 24), dtype=np.float32)
    dismissed[0, 9] = -4.0  # "not interested" in one biology paper, and nothing else
    scores = fit.model.scores(dismissed.tocsr())[0]
    popularity = np.asarray((fit.confidence > 0).sum(axis=0)).ravel()
    others = [j for j in range(24) if not 8 <= j < 16]
    assert len(set(np.round(scores[others], 5))) > 3  # not one flat score for every unrelated paper
    best_other = others[int(np.argmax(scores[others]))]
    assert popularity[best_other] == popularity[others].max()
    assert scores[8:16].max() < np.median(scores[others])  # the dismissed paper's topic sinks


def test_only_papers_two_readers_wanted_teach_the_content_map():
    from recommender.engine.blend import content_to_factor_map

    events, texts = block_community()
    # Paper 24 is liked by one reader only, paper 25 only dismissed: neither may teach the map as a "known" paper.
    texts = [*texts, "galaxy star lonely paper", "protein enzyme unwanted paper"]
    events = Events(np.r_[events.users, [0, 9]], np.r_[events.items, [24, 25]], np.r_[events.kinds, [LIKE, DISMISS]])
    fit = fit_hybrid(events, n_users=24, texts=texts, als=ALSParams(factors=4, num_threads=1))
    wanted_by = np.asarray((fit.confidence > 0).sum(axis=0)).ravel()
    assert wanted_by[24] == 1 and wanted_by[25] == 0 and wanted_by[:24].min() >= 2
    assert fit.model.known_items[24] and not fit.model.known_items[25]  # 24 keeps its ALS factors; 25's are predicted
    factors = fit.model.item_factors
    anchors = np.arange(26) < 24
    assert np.allclose(fit.model.content_map, content_to_factor_map(fit.model.content, factors, anchors, fit.model.blend))
    with_lonely = anchors | (np.arange(26) == 24)
    assert not np.allclose(fit.model.content_map, content_to_factor_map(fit.model.content, factors, with_lonely, fit.model.blend))


def test_evaluation_counts_a_paper_found_only_when_the_readers_last_word_is_positive():
    from recommender.engine.evaluation import _truth

    # Reader 0: read 0 then dismissed it; liked 1. Reader 1: rated 2 one star, 3 three stars. Reader 2: read 4 then liked it.
    events = Events([0, 0, 0, 1, 1, 2, 2], [0, 0, 1, 2, 3, 4, 4], [READ, DISMISS, LIKE, RATE, RATE, READ, LIKE], [0, 0, 0, 1, 3, 0, 0])
    truth = _truth(events, np.ones(7, dtype=bool))
    assert {u: list(t) for u, t in truth.items()} == {0: [1], 1: [3], 2: [4]}


def test_a_fit_started_from_factors_fitted_on_nearly_the_same_data_needs_few_iterations():
    events, _ = block_community()
    confidence = confidence_matrix(events, (24, 24), FeedbackWeights())
    params = ALSParams(factors=4, iterations=20, regularization=0.1, num_threads=1)
    _, converged = als_fit(confidence, params)
    _, one_step = als_fit(confidence, dataclasses.replace(params, iterations=1))
    _, warm = als_fit(confidence, params, item_factors=converged, iterations=1)
    scores = lambda items: confidence.maximum(0) @ items @ items.T  # noqa: E731
    assert np.abs(scores(warm) - scores(converged)).max() < np.abs(scores(one_step) - scores(converged)).max() / 5
    with pytest.raises(ValueError, match="item_factors must be"):
        als_fit(confidence, params, item_factors=converged[:, :2], iterations=1)
