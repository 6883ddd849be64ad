"""A paper's neighbours: papers close to it in content, and papers its readers also liked."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from recommender.engine.meaning import nearest_by_meaning
from recommender.engine.serving import PROFILE_TERMS, SCORE_ALL_BELOW
from recommender.model_store import store
from recommender.models import Paper
from recommender.services.meaning import query_vector

MEANING_NEIGHBOURS = 100  # a paper's nearest papers by meaning, pooled with its strongest terms' papers
MAX_TEXT_LENGTH = 5000  # characters of a pasted text read (an abstract is some 1,500; the meaning reads the first 2,000)


@dataclass(frozen=True)
class Neighbours:
    similar: list[Paper]  # by content
    also_liked: list[Paper]  # by readers' feedback (collaborative)


def _most_similar(catalogue, column: int, n: int) -> np.ndarray:
    """The ``n`` columns closest in text to ``column`` (itself left out), best first (see :func:`_closest`); by its words
    alone while it has no meaning vector of its own."""
    anchor = np.array([column])
    meaning = None
    if catalogue.uses_meaning and not catalogue.meaning_missing(anchor)[0]:
        meaning = np.asarray(catalogue.meaning_rows[anchor], dtype=np.float32)[0]
    return _closest(catalogue, catalogue.vectors(anchor), meaning, n, leave_out=column)


def _closest(catalogue, vector: sparse.csr_matrix, meaning: np.ndarray | None, n: int, *, leave_out: int = -1) -> np.ndarray:
    """The ``n`` columns closest to one text, best first: its TF-IDF ``vector`` (1, n_terms) and unit ``meaning`` (d,),
    or None. The pool is the heaviest papers of its strongest terms (kept per term at retrain) and its nearest papers
    by meaning (the meaning index, and the papers added since training), ordered by ``Catalogue.text_similarity``."""
    parts = [np.unique(catalogue.index.term_papers[vector.indices[np.argsort(-vector.data)[:PROFILE_TERMS]]].indices)]
    if meaning is not None and catalogue.uses_meaning:
        parts.append(nearest_by_meaning(catalogue.index.meaning_ann, meaning[None, :], MEANING_NEIGHBOURS)[0][0])
        parts.append(np.arange(catalogue.n_base, catalogue.n_items))
    pool = np.unique(np.concatenate(parts)).astype(np.int64)
    if catalogue.n_items <= SCORE_ALL_BELOW:
        pool = np.arange(catalogue.n_items)
    if len(pool) == 0:
        return np.zeros(0, dtype=np.int64)
    sims = catalogue.text_similarity(vector, None if meaning is None else meaning[None, :], pool)[0]
    sims[pool == leave_out] = 0.0
    keep = sims > 0
    pool, sims = pool[keep], sims[keep]
    return pool[np.argsort(-sims, kind="stable")][:n]


def papers_close_to_text(*, text: str, limit: int = 10) -> list[Paper]:
    """The papers closest to ``text`` (a pasted abstract, a few sentences about one's work), best first: by the served
    model's TF-IDF vocabulary and, where the site reads meaning, by meaning, weighed as similar papers are. [] before
    the first model; the text is cut at ``MAX_TEXT_LENGTH`` characters."""
    served = store.current()
    if served is None or not text.strip():
        return []
    text = text[:MAX_TEXT_LENGTH]
    catalogue = served.catalogue
    meaning = query_vector(text, catalogue.model.meaning.shape[1]) if catalogue.uses_meaning else None
    columns = _closest(catalogue, served.artifact.encoder.transform([text]).tocsr(), meaning, limit + 10)
    pks = [int(served.paper_pks[j]) for j in columns if served.recommendable[j]]
    papers = Paper.objects.in_bulk(pks)
    return [papers[pk] for pk in pks if pk in papers][:limit]


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
