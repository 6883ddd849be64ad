"""Content similarity of titles and abstracts: TF-IDF vectors and reader profiles."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.preprocessing import normalize


@dataclass
class TfidfEncoder:
    """Sublinear TF-IDF over words, rows L2-normalised; the state is plain arrays (terms, idf) so it saves without pickle."""

    kind: ClassVar[str] = "tfidf"  # engine.meaning.ContentEncoder
    min_df: int = 2
    max_df: float = 0.5
    max_features: int | None = 200_000
    terms: np.ndarray | None = None
    idf: np.ndarray | None = None

    def fit_transform(self, texts: list[str]) -> sparse.csr_matrix:
        min_df = self.min_df if len(texts) >= 20 else 1
        vectorizer = TfidfVectorizer(
            sublinear_tf=True,
            min_df=min_df,
            max_df=self.max_df if len(texts) >= 20 else 1.0,
            max_features=self.max_features,
            stop_words="english",
            dtype=np.float32,
        )
        try:
            vectors = vectorizer.fit_transform(texts)
        except ValueError:  # no words at all (empty catalogue or stop words only)
            self.terms, self.idf = np.array([], dtype=str), np.array([], dtype=np.float32)
            return sparse.csr_matrix((len(texts), 0), dtype=np.float32)
        self.terms = vectorizer.get_feature_names_out().astype(str)
        self.idf = vectorizer.idf_.astype(np.float32)
        return vectors.tocsr()

    def transform(self, texts: list[str]) -> sparse.csr_matrix:
        if self.terms is None or self.idf is None:
            raise RuntimeError("fit the encoder first")
        if len(self.terms) == 0:
            return sparse.csr_matrix((len(texts), 0), dtype=np.float32)
        counts = CountVectorizer(vocabulary={t: i for i, t in enumerate(self.terms)}, stop_words="english", dtype=np.float32)
        tf = counts.transform(texts).tocsr().astype(np.float32)
        tf.data = 1.0 + np.log(tf.data)
        return normalize(tf.multiply(self.idf).tocsr(), copy=False).astype(np.float32)


DENSE_PROFILES_MAX = 50_000_000  # readers x terms up to which a batch's profiles are made dense (200 MB)


def profile_scores(
    vectors: sparse.csr_matrix,
    weights: sparse.csr_matrix,
    *,
    negative_weight: float = 0.5,
    columns: np.ndarray | None = None,
    by_term: sparse.csr_matrix | None = None,
) -> np.ndarray:
    """Content scores (n_readers, n_items): similarity of every paper to each reader's profile.

    ``weights`` (n_readers, n_items) holds feedback weights; the profile is the weighted sum of
    liked papers' vectors minus ``negative_weight`` times that of disliked ones, so papers similar to
    a dismissed one drop. ``by_term`` is ``vectors.T`` as CSR, when the caller keeps one (transposing
    costs a pass over the whole matrix).
    """
    positive = weights.maximum(0)
    negative = (-weights).maximum(0)
    profile = positive @ vectors
    if negative.nnz and negative_weight:
        profile = profile - negative_weight * (negative @ vectors)
    targets = vectors if columns is None else vectors[columns]
    if profile.shape[0] > 1 and profile.shape[0] * profile.shape[1] <= DENSE_PROFILES_MAX:
        # Many readers: dense profiles against the sparse vectors run several times faster than sparse x sparse.
        dense = profile.toarray() if sparse.issparse(profile) else np.asarray(profile)
        return np.ascontiguousarray((targets @ dense.T.astype(np.float32)).T, dtype=np.float32)
    by_paper = by_term if columns is None and by_term is not None else targets.T.tocsr()
    return np.asarray((profile @ by_paper).todense() if sparse.issparse(profile) else profile @ by_paper, dtype=np.float32)
