"""The item-item signal (RP3beta) on small graphs with known answers, and in the served model (no database)."""

import numpy as np
import pytest
from scipy import sparse

from recommender.engine.artifacts import load_artifact, save_artifact, with_new_papers
from recommender.engine.blend import BlendParams
from recommender.engine.collaborative import ALSParams
from recommender.engine.evaluation import rank_users
from recommender.engine.graph import GraphParams, graph_scores, rp3beta_neighbours, strongest_link
from recommender.engine.matrix import KIND_CODES, Events, FeedbackWeights
from recommender.engine.pipeline import fit_hybrid
from tests.arrays import memory_mapped

LIKE = KIND_CODES["like"]


def likes(pairs: list[tuple[int, int]], shape: tuple[int, int]) -> sparse.csr_matrix:
    users, items = zip(*pairs)
    return sparse.csr_matrix((np.full(len(pairs), 4.0, dtype=np.float32), (users, items)), shape=shape)


def test_a_paper_reaches_only_papers_its_readers_also_wanted():
    # Readers 0-2 want papers 0-2, readers 3-5 want papers 3-5: two separate groups.
    pairs = [(u, j) for u in range(3) for j in range(3)] + [(u, j) for u in range(3, 6) for j in range(3, 6)]
    graph = rp3beta_neighbours(likes(pairs, (6, 6)), GraphParams(alpha=1.0, beta=0.0, neighbours=10)).toarray()
    assert np.all(np.diag(graph) == 0)  # a paper is not its own neighbour
    assert np.all(graph[:3, 3:] == 0) and np.all(graph[3:, :3] == 0)
    # The plain walk from paper 0: to one of its 3 readers, then to one of their 3 papers: 1/3 each, itself left out.
    assert graph[0, 1] == pytest.approx(1 / 3) and graph[0, 2] == pytest.approx(1 / 3)


def test_beta_penalises_papers_everyone_wanted():
    # Paper 0 is wanted by everyone; paper 1 by readers 0 and 1 only; paper 2 by reader 0 and 1 as well.
    pairs = [(u, 0) for u in range(6)] + [(0, 1), (1, 1), (0, 2), (1, 2)]
    plain = rp3beta_neighbours(likes(pairs, (6, 3)), GraphParams(alpha=1.0, beta=0.0)).toarray()
    penalised = rp3beta_neighbours(likes(pairs, (6, 3)), GraphParams(alpha=1.0, beta=1.0)).toarray()
    # From paper 2, the popular paper 0 and paper 1 are reached equally often; beta=1 divides by their readers (6 and 2).
    assert plain[2, 0] == pytest.approx(plain[2, 1])
    assert penalised[2, 0] == pytest.approx(penalised[2, 1] * 2 / 6)


def test_only_the_strongest_neighbours_are_kept():
    rng = np.random.default_rng(0)
    wanted = sparse.random(40, 30, density=0.3, random_state=1, format="csr", dtype=np.float32)
    wanted.data[:] = 4.0
    full = rp3beta_neighbours(wanted, GraphParams(neighbours=1000)).toarray()
    kept = rp3beta_neighbours(wanted, GraphParams(neighbours=5)).toarray()
    assert (np.count_nonzero(kept, axis=1) <= 5).all()
    for row in rng.choice(30, 5, replace=False):
        strongest = np.sort(full[row])[-5:]
        assert np.allclose(np.sort(kept[row][kept[row] > 0]), strongest[strongest > 0])


def test_building_in_blocks_gives_the_same_graph(monkeypatch):
    wanted = sparse.random(60, 50, density=0.2, random_state=2, format="csr", dtype=np.float32)
    whole = rp3beta_neighbours(wanted, GraphParams(neighbours=7))
    monkeypatch.setattr("recommender.engine.graph.PAIRS_PER_CHUNK", 10)  # a row or two per block
    assert abs(rp3beta_neighbours(wanted, GraphParams(neighbours=7)) - whole).max() == pytest.approx(0)


def test_a_reader_with_a_huge_library_joins_the_walk_with_a_sample():
    pairs = [(0, j) for j in range(50)] + [(1, 0), (1, 1)]
    graph = rp3beta_neighbours(likes(pairs, (2, 50)), GraphParams(max_reader_papers=10, neighbours=100))
    assert graph.nnz <= 10 * 9 + 2 * 10  # reader 0 contributes at most 10 x 9 pairs


def test_scores_follow_the_readers_feedback_and_a_dismissal_pushes_down():
    graph = sparse.csr_matrix(np.array([[0, 0.5, 0.1], [0.5, 0, 0.2], [0.1, 0.2, 0]], dtype=np.float32))
    liked_0 = sparse.csr_matrix(np.array([[4.0, 0, 0]], dtype=np.float32))
    assert graph_scores(graph, liked_0)[0].tolist() == pytest.approx([0, 2.0, 0.4])
    liked_0_dismissed_1 = sparse.csr_matrix(np.array([[4.0, -4.0, 0]], dtype=np.float32))
    scores = graph_scores(graph, liked_0_dismissed_1, negative_weight=0.5)[0]
    assert scores[2] == pytest.approx(0.4 - 0.5 * 4 * 0.2)
    best, strength = strongest_link(graph, np.array([0, 1]), np.array([2]))
    assert best.tolist() == [1] and strength[0] == pytest.approx(0.2)


def two_fields():
    """Readers of two fields; within a field, pairs of papers are always saved together (0 with 1, 2 with 3, ...)."""
    users, items = [], []
    rng = np.random.default_rng(0)
    for u in range(40):
        field = u % 2
        for pair in rng.choice(5, size=3, replace=False):
            first = field * 10 + 2 * pair
            users += [u, u]
            items += [first, first + 1]
    texts = [f"{'galaxy star' if j < 10 else 'enzyme cell'} paper {j}" for j in range(20)]
    return Events(users, items, [LIKE] * len(users)), texts


def test_the_graph_finds_the_paper_always_saved_with_one_you_liked():
    events, texts = two_fields()
    fit = fit_hybrid(events, n_users=41, texts=texts, als=ALSParams(factors=4, num_threads=1), graph=GraphParams(neighbours=5))
    newcomer = sparse.csr_matrix(([4.0], ([0], [4])), shape=(1, 20), dtype=np.float32)  # liked paper 4 only
    graph_only = graph_scores(fit.model.graph, newcomer)[0]
    assert int(np.argmax(graph_only)) == 5  # the paper saved with 4 every time
    ranked = rank_users(fit, np.array([0]), methods=("graph",), k=5)["graph"]
    assert ranked.shape == (1, 5)


def test_the_blend_gives_the_graph_its_share():
    events, texts = two_fields()
    without = fit_hybrid(events, n_users=41, texts=texts, als=ALSParams(factors=4, num_threads=1), blend=BlendParams(graph_share=0.0))
    with_graph = fit_hybrid(events, n_users=41, texts=texts, als=ALSParams(factors=4, num_threads=1), blend=BlendParams(graph_share=1.0))
    reader = without.confidence[:1]
    parts = with_graph.model.score_parts(reader)
    assert parts.z_graph is not None and without.model.score_parts(reader).z_graph is None
    known = with_graph.model.known_items
    # With the whole collaborative share on the graph, the collaborative side of known papers is the graph's z-score.
    assert np.allclose(parts.z_cf[0, known], parts.z_graph[0, known])
    assert np.allclose(parts.z_cf[0, ~known], parts.z_als[0, ~known])


def test_the_graph_is_saved_memory_mapped_and_grows_with_new_papers_without_copies(tmp_path):
    events, texts = two_fields()
    fit = fit_hybrid(events, n_users=41, texts=texts, als=ALSParams(factors=4, num_threads=1))
    path = tmp_path / "model"
    save_artifact(path, model=fit.model, item_ids=[f"p{j}" for j in range(20)], encoder=fit.encoder, weights=FeedbackWeights(), meta={})
    loaded = load_artifact(path)
    assert abs(loaded.model.graph - fit.model.graph).max() == 0
    assert loaded.model.graph_params == fit.model.graph_params
    assert memory_mapped(loaded.model.graph.data) and memory_mapped(loaded.model.graph.indices)
    grown = with_new_papers(loaded, ["new"], ["galaxy star paper new"])
    assert grown.model.graph.shape == (21, 21) and grown.model.graph[20].nnz == 0
    assert np.shares_memory(grown.model.graph.data, loaded.model.graph.data)
    assert np.shares_memory(grown.model.graph.indices, loaded.model.graph.indices)
