"""Saving and loading a fitted model as one .npz file (plain arrays and JSON text, no pickle).

The file is written beside its final name and renamed into place, so a reader never
sees half a file; which file is live is decided elsewhere (the active training run).
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
from scipy import sparse

from recommender.engine.blend import BlendParams, HybridModel
from recommender.engine.collaborative import ALSParams
from recommender.engine.content import TfidfEncoder
from recommender.engine.matrix import FeedbackWeights

FORMAT_VERSION = 1


@dataclass
class Artifact:
    """A loaded model with its column-to-paper map (``item_ids[j]`` is the external id of column j)."""

    model: HybridModel
    item_ids: np.ndarray
    encoder: TfidfEncoder
    weights: FeedbackWeights
    meta: dict

    def index_of(self) -> dict[str, int]:
        return {str(paper_id): j for j, paper_id in enumerate(self.item_ids)}


def save_artifact(path: str | os.PathLike, *, model: HybridModel, item_ids: list[str], encoder: TfidfEncoder, weights: FeedbackWeights, meta: dict) -> int:
    """Write the model to ``path`` atomically; returns the file size in bytes."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    content = model.content.tocsr()
    params = {
        "format": FORMAT_VERSION,
        "als": model.als.as_dict(),
        "blend": model.blend.as_dict(),
        "weights": {f.name: getattr(weights, f.name) for f in fields(weights)},
        "meta": meta,
    }
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(
                handle,
                params=np.array(json.dumps(params)),
                item_ids=np.array(item_ids, dtype=str),
                item_factors=model.item_factors,
                known_items=model.known_items,
                popularity=model.popularity,
                content_data=content.data,
                content_indices=content.indices,
                content_indptr=content.indptr,
                content_shape=np.array(content.shape),
                terms=np.asarray(encoder.terms if encoder.terms is not None else [], dtype=str),
                idf=np.asarray(encoder.idf if encoder.idf is not None else [], dtype=np.float32),
                content_map=model.content_map if model.content_map is not None else np.zeros((0, model.item_factors.shape[1]), np.float32),
            )
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise
    return target.stat().st_size


def load_artifact(path: str | os.PathLike) -> Artifact:
    """Read a file written by :func:`save_artifact`; a missing, truncated or foreign file raises ValueError."""
    try:
        with np.load(path, allow_pickle=False) as data:
            params = json.loads(str(data["params"]))
            if params.get("format") != FORMAT_VERSION:
                raise ValueError(f"{path}: unknown artifact format {params.get('format')!r}")
            content = sparse.csr_matrix(
                (data["content_data"], data["content_indices"], data["content_indptr"]), shape=tuple(data["content_shape"])
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
                content_map=data["content_map"] if "content_map" in data.files and data["content_map"].size else None,
            )
            encoder = TfidfEncoder(terms=data["terms"], idf=data["idf"])
            return Artifact(model=model, item_ids=data["item_ids"], encoder=encoder, weights=FeedbackWeights(**weights_params), meta=params["meta"])
    except (OSError, KeyError, EOFError, json.JSONDecodeError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path}: not a readable model artifact ({exc})") from exc
