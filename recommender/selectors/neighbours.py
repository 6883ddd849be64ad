"""A paper's neighbours: papers close to it in content, and papers its readers also liked."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recommender.engine.meaning import nearest_by_meaning
from recommender.engine.serving import PROFILE_TERMS, SCORE_ALL_BELOW
from recommender.model_store import store
from recommender.models import Paper

MEANING_NEIGHBOURS = 100  # a paper's nearest papers by meaning, pooled with its strongest terms' papers


@dataclass(frozen=True)
class Neighbours:
    similar: list[Paper]  # by content
    also_liked: list[Paper]  # by readers' feedback (collaborative)


def _most_similar(catalogue, column: int, n: int) -> np.ndarray:
    """The ``n`` columns closest in text to ``column`` (itself left out), best first: the heaviest papers of its
    strongest terms (kept per term at retrain) and its nearest papers by meaning (the meaning index, and the papers
    added since training), ordered by ``Catalogue.similarity`` with it."""
    vector = catalogue.vectors(np.array([column]))
    parts = [np.unique(catalogue.index.term_papers[vector.indices[np.argsort(-vector.data)[:PROFILE_TERMS]]].indices)]
    if catalogue.uses_meaning:
        query = catalogue.meaning_rows[np.array([column])]
        parts.append(nearest_by_meaning(catalogue.index.meaning_ann, query, MEANING_NEIGHBOURS)[0][0])
        parts.append(np.arange(catalogue.n_base, catalogue.n_items))
    pool = np.unique(np.concatenate(parts)).astype(np.int64)
    if catalogue.n_items <= SCORE_ALL_BELOW:
        pool = np.arange(catalogue.n_items)
    if len(pool) == 0:
        return np.zeros(0, dtype=np.int64)
    sims = catalogue.similarity(np.array([column]), pool)[0]
    sims[pool == column] = 0.0
    keep = sims > 0
    pool, sims = pool[keep], sims[keep]
    return pool[np.argsort(-sims, kind="stable")][:n]


def _also_liked(catalogue, column: int, n: int) -> np.ndarray:
    """Papers its readers also liked: its kept item-item neighbours (papers often saved with it), else the known papers
    closest to it in the factor space (among the index's nearest, or all of a small catalogue)."""
    model = catalogue.model
    if column < catalogue.n_base and model.graph is not None and model.graph[column].nnz:
        row = model.graph[column]
        return row.indices[np.argsort(-row.data, kind="stable")][:n].astype(np.int64)
    if column >= catalogue.n_base or not model.known_items[column]:
        return np.zeros(0, dtype=np.int64)
    unit = catalogue.unit_factors(np.array([column]))[0]
    pool = np.arange(catalogue.n_base) if catalogue.index.ann is None else catalogue.index.nearest(catalogue.factors(np.array([column]))[0])
    pool = pool[(pool != column) & model.known_items[pool]]
    cosines = catalogue.unit_factors(pool) @ unit
    return pool[np.argsort(-cosines, kind="stable")][:n]


def paper_neighbours(*, paper: Paper, limit: int = 5) -> Neighbours:
    """Papers close to ``paper`` by content, and papers its readers also liked."""
    served = store.current()
    column = served.column_of.get(paper.pk) if served is not None else None
    if column is None:
        return Neighbours([], [])
    catalogue = served.catalogue
    similar_columns = _most_similar(catalogue, column, limit + 5)
    also = _also_liked(catalogue, column, limit + 5) if served.version else np.zeros(0, dtype=np.int64)
    pks = {int(served.paper_pks[j]) for j in [*similar_columns, *also] if served.recommendable[j]}
    papers = Paper.objects.in_bulk(list(pks))

    def pick(columns) -> list[Paper]:
        found = [papers.get(int(served.paper_pks[j])) for j in columns if served.recommendable[j]]
        return [p for p in found if p is not None][:limit]

    similar = pick(similar_columns)
    return Neighbours(similar, [p for p in pick(also) if p not in similar][:limit])
