"""Saving and loading a fitted model as a folder: one ``.npy`` file per array and ``params.json`` (no pickle).

The folder is written beside its final name and renamed into place, so a reader never sees half a model;
which model is live is decided elsewhere (the active training run). The large arrays are memory-mapped
read-only (``np.load(mmap_mode="r")``), so the web processes of one host share one copy of them in the page
cache. Models saved as one ``.npz`` file (format 1, before) are still read, into memory.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
from scipy import sparse

from recommender.engine.blend import BlendParams, HybridModel, mapped_factors
from recommender.engine.collaborative import ALSParams
from recommender.engine.content import TfidfEncoder
from recommender.engine.graph import GraphParams
from recommender.engine.matrix import FeedbackWeights
from recommender.engine.meaning import MEANING_PROBES, mean_vector
from recommender.engine.serving import ANN_PROBES, ServingIndex, serving_index

FORMAT_VERSION = 2
MAPPED = (
    "item_factors",
    "content_data",
    "content_indices",
    "content_indptr",
    "graph_data",
    "graph_indices",
    "graph_indptr",
    "term_papers_data",
    "term_papers_indices",
    "term_papers_indptr",
    "meaning",
    "meaning_codes",
    "words_map",
)
ANN_FILE = "factors.faiss"  # the nearest-neighbour index over the item factors (engine.serving), memory-mapped too
MEANING_ANN_FILE = "meaning.faiss"  # the nearest papers by meaning (search, similar papers, candidates), memory-mapped


@dataclass
class Artifact:
    """A loaded model with its column-to-paper map (``item_ids[j]`` is the external id of column j) and what
    serving needs beyond it (``serving``: made at retrain and saved with it; made on loading an older model)."""

    model: HybridModel
    item_ids: np.ndarray
    encoder: TfidfEncoder
    weights: FeedbackWeights
    meta: dict
    serving: ServingIndex | None = None
    meaning_identity: dict | None = None  # the encoder of ``model.meaning`` (``SentenceEncoder.identity``); None without

    def index_of(self) -> dict[str, int]:
        return {str(paper_id): j for j, paper_id in enumerate(self.item_ids)}


def save_artifact(
    path: str | os.PathLike,
    *,
    model: HybridModel,
    item_ids: list[str],
    encoder: TfidfEncoder,
    weights: FeedbackWeights,
    meta: dict,
    serving: ServingIndex | None = None,
    meaning_identity: dict | None = None,
) -> int:
    """Write the model (and its serving index: built here unless given) to the folder ``path``, which must not exist
    yet, atomically; returns its size in bytes. ``meaning_identity`` names the encoder of the model's meaning vectors
    (``SentenceEncoder.identity``), saved with them."""
    serving = serving or serving_index(model)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    content = model.content.tocsr()
    graph = model.graph.tocsr() if model.graph is not None else sparse.csr_matrix((0, 0), dtype=np.float32)
    params = {
        "format": FORMAT_VERSION,
        "als": model.als.as_dict(),
        "blend": model.blend.as_dict(),
        "graph": model.graph_params.as_dict() if model.graph is not None and model.graph_params is not None else None,
        "weights": {f.name: getattr(weights, f.name) for f in fields(weights)},
        "meta": meta,
        "meaning": meaning_identity,
    }
    arrays = {
        "item_ids": np.array(item_ids, dtype=str),
        "item_factors": model.item_factors,
        "known_items": model.known_items,
        "popularity": model.popularity,
        "content_data": content.data,
        "content_indices": content.indices,
        "content_indptr": content.indptr,
        "content_shape": np.array(content.shape),
        "terms": np.asarray(encoder.terms if encoder.terms is not None else [], dtype=str),
        "idf": np.asarray(encoder.idf if encoder.idf is not None else [], dtype=np.float32),
        "content_map": model.content_map if model.content_map is not None else np.zeros((0, model.item_factors.shape[1]), np.float32),
        "graph_data": graph.data.astype(np.float32),
        "graph_indices": graph.indices,  # one index type for both, as scipy keeps them (else loading copies)
        "graph_indptr": graph.indptr,
        "gram": model.gram,
        "gram_inverse": model.gram_inverse,
        "mean_factor": serving.mean_factor,
        "content_mean": serving.content_mean,
        "content_sample": serving.content_sample,
        "popular": serving.popular,
        "term_papers_data": serving.term_papers.data,
        "term_papers_indices": serving.term_papers.indices,
        "term_papers_indptr": serving.term_papers.indptr,
    }
    if model.meaning is not None:
        arrays["meaning"] = np.asarray(model.meaning, dtype=np.float16)
        arrays |= {"meaning_mean": serving.meaning_mean, "meaning_gram": serving.meaning_gram}
        arrays |= {"meaning_codes": serving.meaning_codes, "meaning_scales": serving.meaning_scales}
        if model.meaning_missing is not None and model.meaning_missing.any():
            arrays["meaning_missing"] = np.asarray(model.meaning_missing, dtype=bool)
        if model.words_map is not None:
            arrays["words_map"] = model.words_map
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        for name, array in arrays.items():
            _write(tmp / f"{name}.npy", lambda handle, array=array: np.save(handle, np.ascontiguousarray(array), allow_pickle=False))
        if serving.ann is not None:
            import faiss

            faiss.write_index(serving.ann, str(tmp / ANN_FILE))
        if serving.meaning_ann is not None:
            import faiss

            faiss.write_index(serving.meaning_ann, str(tmp / MEANING_ANN_FILE))
        _write(tmp / "params.json", lambda handle: handle.write(json.dumps(params).encode()))
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return sum(file.stat().st_size for file in target.iterdir())


def _write(path: Path, write) -> None:
    with open(path, "wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())


def with_new_papers(
    artifact: Artifact, new_ids: list[str], texts: list[str], meaning: np.ndarray | None = None, meaning_missing: np.ndarray | None = None
) -> Artifact:
    """``artifact`` with papers it has never seen appended as columns, as the site serves them until the next
    retrain: TF-IDF vectors from its own encoder, their ``meaning`` vectors (the mean vector where None), factors
    predicted by its content-to-factor map, no popularity."""
    if not new_ids:
        return artifact
    model = artifact.model
    vectors = artifact.encoder.transform(texts)
    new_meaning = placeholders = missing = None
    if model.meaning is not None:
        new_meaning = fitting_meaning(model, meaning, len(new_ids))
        placeholders = np.full(len(new_ids), meaning is None or meaning.shape != new_meaning.shape)
        if meaning_missing is not None:  # rows the caller holds as placeholders themselves
            placeholders |= meaning_missing
        before = model.meaning_missing if model.meaning_missing is not None else np.zeros(model.n_items, dtype=bool)
        missing = np.concatenate([before, placeholders])
    mapped = mapped_factors(
        model.content_map, vectors, new_meaning, model.item_factors.shape[1], words_map=model.words_map, missing=placeholders
    )
    extended = HybridModel(
        item_factors=np.vstack([model.item_factors, mapped]),
        content=sparse.vstack([model.content, vectors]).tocsr(),
        popularity=np.concatenate([model.popularity, np.zeros(len(new_ids), dtype=np.float32)]),
        known_items=np.concatenate([model.known_items, np.zeros(len(new_ids), dtype=bool)]),
        als=model.als,
        blend=model.blend,
        content_map=model.content_map,
        graph=_graph_grown(model.graph, len(new_ids)),
        graph_params=model.graph_params,
        meaning=None if new_meaning is None else np.vstack([model.meaning, new_meaning]),
        meaning_missing=missing,
        words_map=model.words_map,
    )
    item_ids = np.concatenate([np.asarray(artifact.item_ids, dtype=str), np.array(new_ids, dtype=str)])
    return Artifact(model=extended, item_ids=item_ids, encoder=artifact.encoder, weights=artifact.weights, meta=artifact.meta)


def fitting_meaning(model: HybridModel, meaning: np.ndarray | None, n: int) -> np.ndarray:
    """(n, d) ``meaning`` rows for new papers of ``model`` when they are of its encoder's dimension, else ``n`` copies of
    its mean vector (a placeholder: ``HybridModel.meaning_missing`` marks those papers, read by their words alone)."""
    d = model.meaning.shape[1]
    if meaning is not None and meaning.shape == (n, d):
        return np.asarray(meaning, dtype=np.float16)
    return np.repeat(mean_vector(model.meaning)[None, :], n, axis=0).astype(np.float16)


def aligned_model(
    artifact: Artifact,
    item_ids: list[str],
    texts: list[str],
    meaning: np.ndarray | None = None,
    meaning_missing: np.ndarray | None = None,
) -> HybridModel:
    """The artifact's model with column j for ``item_ids[j]`` (``texts[j]`` its text, ``meaning[j]`` its meaning vector
    if known, ``meaning_missing[j]`` whether that row is only a placeholder): papers it knows keep their rows, papers it
    has never seen are added as :func:`with_new_papers` does. Used to score an older model on today's catalogue."""
    known = artifact.index_of()
    new = [j for j, paper_id in enumerate(item_ids) if paper_id not in known]
    extended = with_new_papers(
        artifact,
        [item_ids[j] for j in new],
        [texts[j] for j in new],
        None if meaning is None or not new else meaning[new],
        None if meaning_missing is None or not new else meaning_missing[new],
    )
    index = extended.index_of()
    rows = np.array([index[paper_id] for paper_id in item_ids], dtype=np.int64)
    model = extended.model
    if len(rows) == model.n_items and np.array_equal(rows, np.arange(len(rows))):
        return model  # the catalogue as the artifact has it, with papers added at the end: nothing to reorder
    return HybridModel(
        item_factors=model.item_factors[rows],
        content=model.content[rows],
        popularity=model.popularity[rows],
        known_items=model.known_items[rows],
        als=model.als,
        blend=model.blend,
        content_map=model.content_map,
        graph=_graph_reordered(model.graph, rows),
        graph_params=model.graph_params,
        meaning=None if model.meaning is None else model.meaning[rows],
        meaning_missing=None if model.meaning_missing is None else model.meaning_missing[rows],
        words_map=model.words_map,
    )


def _graph_reordered(graph: sparse.csr_matrix | None, rows: np.ndarray) -> sparse.csr_matrix | None:
    """``graph`` with row and column j taken from ``rows[j]`` (papers not in ``rows`` dropped), by relabelling its
    entries once rather than slicing rows then columns."""
    if graph is None:
        return None
    new_of = np.full(graph.shape[0], -1, dtype=np.int64)
    new_of[rows] = np.arange(len(rows))
    coo = graph.tocoo()
    keep = (new_of[coo.row] >= 0) & (new_of[coo.col] >= 0)
    return sparse.csr_matrix(
        (coo.data[keep], (new_of[coo.row[keep]], new_of[coo.col[keep]])), shape=(len(rows), len(rows)), dtype=np.float32
    )


def _graph_grown(graph: sparse.csr_matrix | None, new: int) -> sparse.csr_matrix | None:
    """``graph`` with ``new`` papers appended as empty rows and columns (the graph knows nothing of them); the
    large arrays are shared, not copied."""
    if graph is None or new == 0:
        return graph
    n = graph.shape[0] + new
    indptr = np.concatenate([graph.indptr, np.full(new, graph.indptr[-1], dtype=graph.indptr.dtype)])
    return sparse.csr_matrix((graph.data, graph.indices, indptr), shape=(n, n), copy=False)


def load_artifact(path: str | os.PathLike) -> Artifact:
    """Read a model written by :func:`save_artifact` (or a format-1 ``.npz`` file); a missing, truncated or foreign
    one raises ValueError. The large arrays are memory-mapped read-only, not copied."""
    folder = Path(path)
    try:
        if folder.is_file():  # format 1: one .npz file, read into memory
            with np.load(folder, allow_pickle=False) as loaded:
                data = {name: loaded[name] for name in loaded.files}
            params = json.loads(str(data.pop("params")))
            if params.get("format") != 1:
                raise ValueError(f"unknown artifact format {params.get('format')!r}")
        else:
            params = json.loads((folder / "params.json").read_text(encoding="utf-8"))
            if params.get("format") != FORMAT_VERSION:
                raise ValueError(f"unknown artifact format {params.get('format')!r}")
            data = {
                file.stem: np.load(file, mmap_mode="r" if file.stem in MAPPED else None, allow_pickle=False)
                for file in folder.glob("*.npy")
            }
        artifact = _artifact(data, params)
        artifact.serving = serving_index(artifact.model) if folder.is_file() else _serving(data, folder, artifact.model)
        return artifact
    except (OSError, KeyError, EOFError, json.JSONDecodeError, zipfile.BadZipFile, ValueError) as exc:
        raise ValueError(f"{path}: not a readable model artifact ({exc})") from exc


def _artifact(data: dict[str, np.ndarray], params: dict) -> Artifact:
    n_items = len(data["item_ids"])
    content = sparse.csr_matrix(
        (data["content_data"], data["content_indices"], data["content_indptr"]), shape=tuple(data["content_shape"]), copy=False
    )
    weights_params = dict(params["weights"])
    weights_params["stars"] = tuple(weights_params["stars"])
    model = HybridModel(
        item_factors=data["item_factors"],
        content=content,
        popularity=data["popularity"],
        known_items=data["known_items"],
        als=ALSParams(**params["als"]),
        blend=BlendParams(**params["blend"]),
        content_map=data["content_map"] if "content_map" in data and data["content_map"].size else None,
        graph=sparse.csr_matrix((data["graph_data"], data["graph_indices"], data["graph_indptr"]), shape=(n_items, n_items), copy=False)
        if params.get("graph")
        else None,
        graph_params=GraphParams(**params["graph"]) if params.get("graph") else None,
        gram=data.get("gram"),
        inverse=data.get("gram_inverse"),
        meaning=data.get("meaning"),
        meaning_missing=data.get("meaning_missing"),
        words_map=data.get("words_map"),
    )
    encoder = TfidfEncoder(terms=data["terms"], idf=data["idf"])
    return Artifact(
        model=model,
        item_ids=data["item_ids"],
        encoder=encoder,
        weights=FeedbackWeights(**weights_params),
        meta=params["meta"],
        meaning_identity=params.get("meaning"),
    )


def _serving(data: dict[str, np.ndarray], folder: Path, model: HybridModel) -> ServingIndex:
    """The saved serving index (its nearest-neighbour index memory-mapped), or one made now if it was not saved."""
    if "term_papers_data" not in data:
        return serving_index(model)
    ann = None
    if (folder / ANN_FILE).exists():
        import faiss

        ann = faiss.read_index(str(folder / ANN_FILE), faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY)
        ann.nprobe = ANN_PROBES
    meaning_ann = None
    if (folder / MEANING_ANN_FILE).exists():
        import faiss

        meaning_ann = faiss.read_index(str(folder / MEANING_ANN_FILE), faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY)
        if hasattr(meaning_ann, "nprobe"):
            meaning_ann.nprobe = MEANING_PROBES
    n_terms = model.content.shape[1]
    return ServingIndex(
        mean_factor=data["mean_factor"],
        content_mean=data["content_mean"],
        content_sample=data["content_sample"],
        popular=data["popular"],
        term_papers=sparse.csr_matrix(
            (data["term_papers_data"], data["term_papers_indices"], data["term_papers_indptr"]), shape=(n_terms, model.n_items), copy=False
        ),
        ann=ann,
        meaning_mean=data.get("meaning_mean"),
        meaning_gram=data.get("meaning_gram"),
        meaning_ann=meaning_ann,
        meaning_codes=data.get("meaning_codes"),
        meaning_scales=data.get("meaning_scales"),
    )
