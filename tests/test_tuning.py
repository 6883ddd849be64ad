"""The parameter search on a synthetic community (no database): its validation split, pinned values, its budget."""

import numpy as np
import pytest

from recommender.engine.blend import BlendParams
from recommender.engine.collaborative import ALSParams
from recommender.engine.content import TfidfEncoder
from recommender.engine.graph import GraphParams
from recommender.engine.matrix import Events, wanted_events
from recommender.engine.synthetic import synthetic_feedback, synthetic_papers
from recommender.engine.tuning import TUNABLE, Parameters, neighbourhood, tune, validation_split

READERS, PAPERS = 600, 300


@pytest.fixture(scope="module")
def site():
    """600 readers with fields of interest, 300 papers on their topics, 24,000 events."""
    papers = synthetic_papers(PAPERS, seed=3)
    feedback = synthetic_feedback(READERS, papers, 24_000, seed=3)
    events = Events(feedback.users, feedback.papers, feedback.kinds, feedback.values)
    content = TfidfEncoder().fit_transform([f"{t}. {a}" for t, a in zip(papers.titles, papers.abstracts)])
    return events, content


def start_point(**als) -> Parameters:
    return Parameters(ALSParams(**{"factors": 8, "iterations": 6, "num_threads": 1, **als}), GraphParams(neighbours=50), BlendParams())


def test_the_validation_split_holds_out_cells_and_cold_papers_entirely(site):
    events, _ = site
    split = validation_split(events, PAPERS, max_readers=200)
    assert 100 <= len(split.warm_readers) <= 200
    train_cells = set(zip(split.train.users.tolist(), split.train.items.tolist()))
    wanted = wanted_events(events, PAPERS)
    wanted_cells = set(zip(events.users[wanted].tolist(), events.items[wanted].tolist()))
    for reader, truth in zip(split.warm_readers, split.warm_truth):
        assert len(truth) >= 1
        assert not any((int(reader), int(paper)) in train_cells for paper in truth)  # every event on a held-out cell is gone
        assert all((int(reader), int(paper)) in wanted_cells for paper in truth)  # and the reader did want it
    assert not np.isin(split.train.items, split.cold_items).any()  # a cold paper has no feedback left at all
    assert len(split.cold_items) == round(0.1 * len(np.unique(events.items[wanted])))
    for reader, truth in zip(split.cold_readers, split.cold_truth):
        assert np.isin(truth, split.cold_items).all() and (split.train.users == reader).any()
    # Nothing else is lost: every training event outside the held-out cells and cold papers is kept.
    held = {(int(r), int(p)) for r, t in zip(split.warm_readers, split.warm_truth) for p in t}
    kept = [(u, i) not in held and i not in set(split.cold_items.tolist()) for u, i in zip(events.users.tolist(), events.items.tolist())]
    assert len(split.train.users) == sum(kept)


def test_the_neighbourhood_steps_each_way_and_leaves_pinned_names_alone():
    start = start_point(factors=64, regularization=3.0, alpha=20.0)
    labels = [label for label, _ in neighbourhood(start, ("als.factors", "als.regularization", "als.alpha"), frozenset({"als.alpha"}))]
    assert labels == ["als.factors=128", "als.factors=32", "als.regularization=9", "als.regularization=1"]


def test_the_search_improves_a_poor_start_on_data_it_has_not_seen(site):
    events, content = site
    poor = start_point(factors=4, regularization=100.0)
    result = tune(events, n_users=READERS, content=content, start=poor, budget_seconds=120, readers=300)
    assert result.searched
    validation = result.validation
    assert validation["chosen"] > validation["start"] * 1.01  # on the held-out papers of the validation readers
    assert result.chosen.als != poor.als
    assert {trial["stage"] for trial in result.trials} >= {"als", "graph", "shares"}
    assert set(result.as_dict()["chosen"]) == set(TUNABLE)


def test_pinned_values_are_never_searched(site):
    events, content = site
    pinned = frozenset({"als.factors", "als.regularization", "graph.neighbours", "blend.cf_weight", "blend.diversity"})
    start = start_point(factors=4, regularization=100.0)
    result = tune(events, n_users=READERS, content=content, start=start, pinned=pinned, budget_seconds=120, readers=300)
    for name in pinned:
        assert result.chosen.value(name) == start.value(name)
        assert not any(f"{name}=" in trial["trial"] for trial in result.trials)
    assert any(trial["trial"].startswith("als.alpha=") for trial in result.trials)  # what is not pinned is searched


def test_the_search_stops_at_its_time_budget(site):
    events, content = site
    result = tune(events, n_users=READERS, content=content, start=start_point(), budget_seconds=0.001, readers=300)
    assert [trial["trial"] for trial in result.trials] == ["start"]  # the start point is measured, then time is up
    assert "out of time" in result.reason
    assert result.chosen.tunable_values() == start_point().tunable_values()


def test_the_budget_in_fits_follows_the_time_of_one_fit(site):
    events, content = site
    result = tune(
        events, n_users=READERS, content=content, start=start_point(iterations=9), budget_seconds=600, budget_fits=2.0, readers=300
    )
    start_trial = result.trials[0]
    assert start_trial["trial"] == "start" and start_trial["iterations"] == 3
    assert result.budget_seconds < 600
    assert result.budget_seconds <= 2.0 * 3 * start_trial["seconds"] + 0.01  # two fits of 9 iterations, from the start's 3
    # Trials start only when they can finish in time; the last one may overrun by a fraction of one.
    assert result.seconds <= result.budget_seconds * 1.5 + 1.0


def test_too_few_readers_to_tune_on_keeps_the_start(site):
    events, content = site
    few = events.users < 60
    small = Events(events.users[few], events.items[few], events.kinds[few], events.values[few])
    result = tune(small, n_users=READERS, content=content, start=start_point(), budget_seconds=60)
    assert not result.searched and "too few readers" in result.reason and result.chosen == start_point()


def test_the_cold_protocol_fits_the_vocabulary_on_known_papers_only():
    from recommender.engine.evaluation import content_as_served

    texts = ["galaxy star survey", "galaxy star telescope", "enzyme cell protein", "enzyme cell membrane", "quasar galaxy star"]
    known = np.array([True, True, True, True, False])  # the last paper arrives after training
    encoder, content = content_as_served(texts, known)
    assert "quasar" not in set(encoder.terms) and "galaxy" in set(encoder.terms)
    assert content.shape[0] == 5 and content[4].nnz > 0  # encoded with the vocabulary it has, as production does


def test_the_evaluated_blend_is_diversified_as_the_feed_is(site):
    from recommender.engine.evaluation import rank_users
    from recommender.engine.pipeline import fit_hybrid

    events, content = site
    texts = [f"paper {j}" for j in range(PAPERS)]
    fit = fit_hybrid(
        events,
        n_users=READERS,
        texts=texts,
        content=content,
        encoder=TfidfEncoder(terms=np.array(["x"]), idf=np.ones(1)),
        als=ALSParams(factors=8, num_threads=1),
        blend=BlendParams(diversity=0.0),
    )
    readers = np.arange(50)
    plain = rank_users(fit, readers, methods=("blend",), k=20)["blend"]
    fit.model.blend = BlendParams(diversity=3.0)
    diverse = rank_users(fit, readers, methods=("blend",), k=20)["blend"]
    assert (np.sort(plain, axis=1) == np.sort(diverse, axis=1)).all()  # the same twenty, re-ranked
    assert (plain != diverse).any()


def test_the_search_scores_a_blend_exactly_as_the_feed_serves_it(site):
    """The search ranks each validation reader's pool by ``blend_signals``, the formula the served model ranks by: for
    any blend it tries, its scores are the served model's (with that blend) at the same papers."""
    from recommender.engine.blend import BlendParams
    from recommender.engine.collaborative import als_fit
    from recommender.engine.matrix import FeedbackWeights
    from recommender.engine.serving import Catalogue, readers, score, serving_index
    from recommender.engine.tuning import _Bench

    events, content = site
    split = validation_split(events, PAPERS, seed=1)
    bench = _Bench(split, n_users=READERS, content=content, weights=FeedbackWeights(), threads=1)
    params = start_point()
    _, factors = als_fit(bench.confidence, params.als)
    model = bench.model(factors, params)
    pools = bench.pools(model)
    for tried in (BlendParams(cf_weight=0.6, graph_share=0.2), BlendParams(cf_weight=0.95, graph_share=0.7, cold_cf_weight=0.3)):
        model.blend = tried
        served = model.score_parts(bench.warm_rows[:25])
        catalogue = Catalogue(model, serving_index(model))  # 300 papers: the closed-form statistics are exact
        for i, reader in enumerate(readers(catalogue, bench.warm_rows[:25])):
            columns, searched = pools.blended(i, tried)
            assert np.allclose(searched, served.blended[i, columns], atol=1e-4)
            assert np.allclose(searched, score(catalogue, reader, columns).blended, atol=1e-3)


def test_the_cold_stage_scores_new_papers_on_the_scale_a_request_does(site):
    """The cold stage's figure is the recall of the served model's own scores over the cold papers: each signal
    standardised over the whole catalogue, as a request does, not over the cold papers alone (mapped factors spread
    less than fitted ones, so the share of mapped factors it chooses must suit that scale)."""
    import dataclasses

    from recommender.engine.collaborative import als_fit
    from recommender.engine.evaluation import recall_per_reader
    from recommender.engine.matrix import FeedbackWeights
    from recommender.engine.serving import Catalogue, readers, score, serving_index
    from recommender.engine.tuning import _Bench

    events, content = site
    split = validation_split(events, PAPERS, seed=1)
    bench = _Bench(split, n_users=READERS, content=content, weights=FeedbackWeights(), threads=1)
    params = start_point()
    _, factors = als_fit(bench.confidence, params.als)
    model = bench.model(factors, params, bench.content_map(factors, params.blend))
    cold = split.cold_items
    for share in (0.3, 0.9):
        figure = bench.cold_recalls(model, (share,))[share]
        model.blend = dataclasses.replace(params.blend, cold_cf_weight=share)
        catalogue = Catalogue(model, serving_index(model))  # 300 papers: the closed-form statistics are exact
        served = [score(catalogue, reader, cold).blended for reader in readers(catalogue, bench.cold_rows)]
        ranked = [cold[np.argsort(-scores, kind="stable")[:20]] for scores in served]
        assert figure == pytest.approx(float(np.mean(recall_per_reader(ranked, split.cold_truth))), abs=1e-9)
