"""Spark's ALS trainer (TRAINER=spark) against implicit's on a planted community, in local mode on two cores."""

import os

import numpy as np
import pytest
from scipy import sparse

from recommender.engine.collaborative import ALSParams, als_fit
from recommender.engine.matrix import KIND_CODES, Events
from recommender.engine.pipeline import fit_hybrid
from recommender.engine.spark_als import spark_als_fit, spark_session

FIELDS, READERS_PER_FIELD, PAPERS_PER_FIELD, UNREAD_PAPERS = 3, 30, 30, 4
N_READERS, N_PAPERS = FIELDS * READERS_PER_FIELD, FIELDS * PAPERS_PER_FIELD + UNREAD_PAPERS
PARAMS = ALSParams(factors=8, regularization=10.0, iterations=10, alpha=40.0, num_threads=1)


@pytest.fixture(scope="module", autouse=True)
def spark():
    """One local SparkSession on two cores for the module."""
    previous = os.environ.get("SPARK_MASTER")
    os.environ["SPARK_MASTER"] = "local[2]"
    session = spark_session()
    yield session
    session.stop()
    if previous is None:
        del os.environ["SPARK_MASTER"]
    else:
        os.environ["SPARK_MASTER"] = previous


def planted(seed: int = 0) -> tuple[sparse.csr_matrix, np.ndarray]:
    """(readers, papers) feedback of three fields: each reader likes papers of their field, its first papers most
    often, and marks one paper of another field "not interested"; the last UNREAD_PAPERS papers have no feedback.
    Also returns each reader's field."""
    rng = np.random.default_rng(seed)
    field = np.arange(N_READERS) // READERS_PER_FIELD
    rows, offsets = np.nonzero(rng.random((N_READERS, PAPERS_PER_FIELD)) < np.linspace(0.8, 0.1, PAPERS_PER_FIELD))
    elsewhere = (field + rng.integers(1, FIELDS, size=N_READERS)) % FIELDS
    rows = np.concatenate([rows, np.arange(N_READERS)])
    columns = np.concatenate([field[rows[: len(offsets)]] * PAPERS_PER_FIELD + offsets, elsewhere * PAPERS_PER_FIELD])
    values = np.concatenate([np.full(len(offsets), 4.0), np.full(N_READERS, -4.0)]).astype(np.float32)
    return sparse.csr_matrix((values, (rows, columns)), shape=(N_READERS, N_PAPERS)), field


def held_out(matrix: sparse.csr_matrix, seed: int = 0) -> tuple[sparse.csr_matrix, list[np.ndarray]]:
    """A quarter of each reader's liked papers held out: the training matrix and the held-out papers per reader."""
    rng = np.random.default_rng(seed)
    train = matrix.tolil()
    held = []
    for reader in range(matrix.shape[0]):
        row = matrix[reader]
        liked = row.indices[row.data > 0]
        chosen = rng.choice(liked, size=max(1, len(liked) // 4), replace=False)
        train[reader, chosen] = 0
        held.append(chosen)
    train = train.tocsr()
    train.eliminate_zeros()
    return train, held


def recall_at_10(user_factors: np.ndarray, item_factors: np.ndarray, train: sparse.csr_matrix, held: list[np.ndarray]) -> float:
    scores = user_factors @ item_factors.T
    scores[train.nonzero()] = -np.inf
    top = np.argsort(-scores, axis=1, kind="stable")[:, :10]
    return float(np.mean([np.isin(top[r], papers).sum() / min(10, len(papers)) for r, papers in enumerate(held)]))


def chance_recall_at_10(train: sparse.csr_matrix, held: list[np.ndarray]) -> float:
    """The expected recall@10 of a random ranking of each reader's papers not in training."""
    unseen = train.shape[1] - np.diff(train.indptr)
    return float(np.mean([10 * len(papers) / unseen[r] / min(10, len(papers)) for r, papers in enumerate(held)]))


@pytest.fixture(scope="module")
def community():
    matrix, field = planted()
    train, held = held_out(matrix)
    return train, held, field, spark_als_fit(train, PARAMS)


def test_factors_have_the_contract_shapes_and_zero_rows_for_papers_without_feedback(community):
    train, _, _, (user_factors, item_factors) = community
    assert user_factors.shape == (N_READERS, PARAMS.factors) and item_factors.shape == (N_PAPERS, PARAMS.factors)
    assert user_factors.dtype == item_factors.dtype == np.float32
    assert user_factors.flags.c_contiguous and item_factors.flags.c_contiguous
    read = train.getnnz(axis=0) > 0
    assert not read[-UNREAD_PAPERS:].any()
    assert not item_factors[~read].any() and np.abs(item_factors[read]).sum(axis=1).min() > 0


def test_held_out_recall_is_close_to_implicits(community):
    train, held, _, (user_factors, item_factors) = community
    spark = recall_at_10(user_factors, item_factors, train, held)
    implicit = recall_at_10(*als_fit(train, PARAMS), train, held)
    chance = chance_recall_at_10(train, held)
    assert spark >= 0.9 * implicit, (spark, implicit)
    assert spark >= 3 * chance, (spark, chance)


def test_item_factors_follow_the_columns_when_they_are_permuted(community):
    train, _, _, (_, item_factors) = community
    order = np.random.default_rng(1).permutation(N_PAPERS)  # column j of the permuted matrix is column order[j]
    _, permuted_factors = spark_als_fit(train[:, order], PARAMS)
    read = (train.getnnz(axis=0) > 0)[order]
    assert not permuted_factors[~read].any()
    permuted = item_cosines(permuted_factors[read])
    assert np.corrcoef(permuted.ravel(), item_cosines(item_factors[order[read]]).ravel())[0, 1] > 0.9
    assert np.corrcoef(permuted.ravel(), item_cosines(item_factors[np.sort(order[read])]).ravel())[0, 1] < 0.5  # unpermuted


def item_cosines(factors: np.ndarray) -> np.ndarray:
    unit = factors / np.linalg.norm(factors, axis=1, keepdims=True)
    return unit @ unit.T


def test_the_pipeline_fits_the_same_model_shape_with_either_trainer(community):
    train, _, field, _ = community
    cells = train.tocoo()
    kinds = np.where(cells.data > 0, KIND_CODES["like"], KIND_CODES["dismiss"])
    events = Events(cells.row, cells.col, kinds)
    words = ["galaxy star telescope cosmology", "protein enzyme cell genome", "compiler parser grammar type"]
    texts = [words[min(j // PAPERS_PER_FIELD, FIELDS - 1)] + f" paper {j}" for j in range(N_PAPERS)]
    with_spark = fit_hybrid(events, n_users=N_READERS, texts=texts, als=PARAMS, factorize=spark_als_fit).model
    with_implicit = fit_hybrid(events, n_users=N_READERS, texts=texts, als=PARAMS).model
    assert with_spark.item_factors.shape == with_implicit.item_factors.shape == (N_PAPERS, PARAMS.factors)
    assert with_spark.item_factors.dtype == np.float32
    assert np.array_equal(with_spark.known_items, with_implicit.known_items)
    reader = train[:1]
    top = np.argsort(-with_spark.scores(reader)[0])[:5]
    assert set(top) <= set(range(field[0] * PAPERS_PER_FIELD, (field[0] + 1) * PAPERS_PER_FIELD))
