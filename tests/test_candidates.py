"""Serving by candidates (engine.serving): the closed-form statistics give the full blend's scores, the candidates hold
the full ranking's best papers, and papers added after training join a side block without copying the model."""

import numpy as np
import pytest
from scipy import sparse

from recommender.engine.blend import BlendParams, top_k
from recommender.engine.collaborative import ALSParams
from recommender.engine.graph import GraphParams
from recommender.engine.matrix import Events, FeedbackWeights, confidence_matrix
from recommender.engine.pipeline import fit_hybrid
from recommender.engine.serving import Catalogue, candidates, readers, score, serving_index
from recommender.engine.synthetic import synthetic_feedback, synthetic_papers


def community(n_papers: int, n_readers: int, events: int, seed: int = 4):
    papers = synthetic_papers(n_papers, seed=seed)
    feedback = synthetic_feedback(n_readers, papers, events, seed=seed)
    texts = [f"{t}. {a}" for t, a in zip(papers.titles, papers.abstracts)]
    fit = fit_hybrid(
        Events(feedback.users, feedback.papers, feedback.kinds, feedback.values),
        n_users=n_readers,
        texts=texts,
        als=ALSParams(factors=16, num_threads=1),
        graph=GraphParams(neighbours=50),
        blend=BlendParams(graph_share=0.45),
    )
    return fit, texts


@pytest.fixture(scope="module")
def small():
    return community(600, 400, 8_000)


@pytest.fixture(scope="module")
def large():
    """12,000 papers: past SCORE_ALL_BELOW, so readers are served by candidates from the index."""
    return community(12_000, 3_000, 60_000)


def test_closed_form_statistics_give_the_full_blend(small):
    fit, _ = small
    model = fit.model
    catalogue = Catalogue(model, serving_index(model))  # 600 papers: the content sample is every paper, so all is exact
    rows = fit.confidence[:40]
    full = model.score_parts(rows)
    columns = np.arange(model.n_items)
    for row, reader in enumerate(readers(catalogue, rows)):
        served = score(catalogue, reader, columns)
        assert np.allclose(served.z_als, full.z_als[row], atol=1e-3)
        assert np.allclose(served.z_graph, full.z_graph[row], atol=1e-3)
        assert np.allclose(served.z_content, full.z_content[row], atol=1e-3)
        assert np.allclose(served.blended, full.blended[row], atol=1e-3)


def test_the_candidates_hold_the_full_rankings_best_papers(large):
    fit, _ = large
    model = fit.model
    catalogue = Catalogue(model, serving_index(model))
    assert catalogue.index.ann is not None
    active = np.flatnonzero(np.diff(fit.confidence.indptr) >= 5)[:150]
    rows = fit.confidence[active]
    exact = top_k(model.score_parts(rows).blended, 20, exclude=rows)
    found, sizes = [], []
    for row, reader in enumerate(readers(catalogue, rows)):
        columns = candidates(catalogue, reader)
        sizes.append(len(columns))
        served = score(catalogue, reader, columns)
        blended = served.blended.copy()
        blended[np.isin(columns, rows[row].indices)] = -np.inf
        mine = columns[np.argsort(-blended, kind="stable")[:20]]
        found.append(len(set(mine) & set(exact[row])) / 20)
    assert np.mean(found) >= 0.95  # the served top 20 is the exact top 20, but for a paper now and then
    assert max(sizes) < model.n_items / 3  # while scoring a fraction of the catalogue


def test_content_spread_from_a_sample_is_close_to_the_whole(large):
    fit, _ = large
    model = fit.model
    catalogue = Catalogue(model, serving_index(model))
    rows = fit.confidence[:30]
    full = model.score_parts(rows)
    columns = np.arange(model.n_items)
    for row, reader in enumerate(readers(catalogue, rows)):
        served = score(catalogue, reader, columns)
        if reader.profile.any():
            ratio = np.std(served.z_content) / np.std(full.z_content[row])  # 1 when the sample's spread is the catalogue's
            assert 0.85 < ratio < 1.15


def test_papers_added_after_training_are_a_side_block_and_are_scored(small):
    fit, texts = small
    model = fit.model
    encoder = fit.encoder
    new_text = texts[3]  # a new paper with the text of one the readers know
    vectors = encoder.transform([new_text])
    side = np.asarray(vectors @ model.content_map, dtype=np.float32)
    catalogue = Catalogue(model, serving_index(model), side, vectors)
    assert catalogue.n_items == model.n_items + 1
    assert np.shares_memory(catalogue.factor_rows.base, model.item_factors)  # the model's arrays are not copied
    liked = sparse.csr_matrix(([4.0], ([0], [3])), shape=(1, catalogue.n_items), dtype=np.float32)
    reader = readers(catalogue, liked)[0]
    served = score(catalogue, reader, np.arange(catalogue.n_items))
    assert served.z_content[-1] == pytest.approx(served.z_content[3])  # the same text, the same content score
    rank = int(np.flatnonzero(np.argsort(-served.blended) == catalogue.n_items - 1)[0])
    assert rank < catalogue.n_items // 10  # among the reader's best tenth, on its content and its mapped factors


def test_fold_in_reads_factors_across_the_side_block(small):
    fit, texts = small
    model = fit.model
    vectors = fit.encoder.transform(texts[:2])
    catalogue = Catalogue(model, serving_index(model), np.asarray(vectors @ model.content_map, dtype=np.float32), vectors)
    weights = confidence_matrix(Events([0, 0], [5, model.n_items + 1], [1, 1]), (1, catalogue.n_items), FeedbackWeights())
    reader = readers(catalogue, weights)[0]
    assert reader.wanted == 2 and np.linalg.norm(reader.factors) > 0


def test_a_short_list_keeps_the_exact_best_from_narrower_candidates(large):
    """The weekly email scores candidates of SHORT_LIST_BREADTH: fewer papers, the same top ten."""
    from recommender.selectors.feed import SHORT_LIST_BREADTH

    fit, _ = large
    model = fit.model
    catalogue = Catalogue(model, serving_index(model))
    active = np.flatnonzero(np.diff(fit.confidence.indptr) >= 5)[:150]
    rows = fit.confidence[active]
    exact = top_k(model.score_parts(rows).blended, 10, exclude=rows)
    found, narrow, broad = [], [], []
    for row, reader in enumerate(readers(catalogue, rows)):
        columns = candidates(catalogue, reader, breadth=SHORT_LIST_BREADTH)
        narrow.append(len(columns))
        broad.append(len(candidates(catalogue, reader)))
        blended = score(catalogue, reader, columns).blended.copy()
        blended[np.isin(columns, rows[row].indices)] = -np.inf
        found.append(len(set(columns[np.argsort(-blended, kind="stable")[:10]]) & set(exact[row])) / 10)
    assert np.mean(found) >= 0.95
    assert np.mean(narrow) < 0.6 * np.mean(broad)
