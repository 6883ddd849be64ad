"""The papers' meaning vectors in the database (``PaperEmbedding``): made for every paper without a current one by
the retrain, by the task after each harvest (new papers, newest first) and by ``manage.py embed_papers`` (the whole
catalogue, resumable); read back by the retrain and by serving (for papers added since the model).

A vector is current when it was made by ``EMBEDDING_MODEL`` from the paper's text as it is now (``text_key``).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from recommender.engine.meaning import SentenceEncoder, embedding_text, mean_vector, pick_device, text_key
from recommender.models import Paper, PaperEmbedding

log = logging.getLogger(__name__)
READ_CHUNK = 5000  # vectors read per query
SAVE_CHUNK = 512  # papers embedded, then saved, at a time (a stopped run loses at most this many)
_encoder: SentenceEncoder | None = None
_encoder_lock = threading.Lock()


def encoder() -> SentenceEncoder | None:
    """This process's sentence encoder (the weights load on first use); None with ``CONTENT_EMBEDDINGS=off``."""
    global _encoder
    if not settings.CONTENT_EMBEDDINGS:
        return None
    with _encoder_lock:
        if _encoder is None or _encoder.name != settings.EMBEDDING_MODEL:
            _encoder = encoder_from_settings()
        return _encoder


def encoder_from_settings() -> SentenceEncoder:
    """A new encoder as the settings describe it (model, device, batch), whether CONTENT_EMBEDDINGS is on or not."""
    return SentenceEncoder(settings.EMBEDDING_MODEL, device=pick_device(settings.EMBEDDING_DEVICE), batch_size=settings.EMBEDDING_BATCH)


def stored_vectors(paper_pks: Iterable[int], name: str) -> dict[int, tuple[str, np.ndarray]]:
    """pk -> (text key, float16 vector) of the stored vectors of ``name``'s encoder, read ``READ_CHUNK`` pks at a time."""
    pks = list(paper_pks)
    found: dict[int, tuple[str, np.ndarray]] = {}
    for start in range(0, len(pks), READ_CHUNK):
        rows = PaperEmbedding.objects.filter(paper_id__in=pks[start : start + READ_CHUNK], encoder=name)
        for pk, key, vector in rows.values_list("paper_id", "text_key", "vector"):
            found[pk] = (key, np.frombuffer(bytes(vector), dtype="<f2"))
    return found


def vectors_save(paper_pks: list[int], keys: list[str], vectors: np.ndarray, name: str) -> None:
    """Store (or replace) the vectors of ``paper_pks``."""
    now = timezone.now()
    rows = [
        PaperEmbedding(paper_id=pk, encoder=name, text_key=key, vector=np.asarray(vector, dtype="<f2").tobytes(), embedded_at=now)
        for pk, key, vector in zip(paper_pks, keys, vectors)
    ]
    PaperEmbedding.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["paper"], update_fields=["encoder", "text_key", "vector", "embedded_at"]
    )


@dataclass
class CatalogueMeaning:
    vectors: np.ndarray  # (n_papers, d) float16
    embedded: int  # papers embedded now
    left: int  # papers still without a current vector (over the limit): they hold the mean vector, neutral
    missing: np.ndarray | None = None  # (n_papers,) bool: those papers (None: every paper has its vector)


def catalogue_meaning(
    papers: list[tuple[int, str, str]],
    on_progress: Callable[[int, int], None] = lambda done, total: None,
    *,
    limit: int | None = None,
) -> CatalogueMeaning | None:
    """The float16 meaning vectors of ``papers`` ((pk, title, abstract) each): the stored ones that are current, the
    others embedded now and stored (``on_progress(done, total)`` after each chunk), at most ``limit`` of them, the
    newest first; the rest get the mean vector and are marked ``missing`` (read by their words alone) until a later run
    or the backfill embeds them. None when off."""
    model = encoder()
    if model is None:
        return None
    texts = [embedding_text(title, abstract) for _, title, abstract in papers]
    keys = [text_key(text) for text in texts]
    out = np.zeros((len(papers), model.dimension), dtype=np.float16)
    stored = stored_vectors((pk for pk, _, _ in papers), model.name)
    missing = []
    for j, (pk, _, _) in enumerate(papers):
        kept = stored.get(pk)
        if kept is not None and kept[0] == keys[j] and len(kept[1]) == model.dimension:
            out[j] = kept[1]
        else:
            missing.append(j)
    missing.sort(key=lambda j: -papers[j][0])  # the newest papers first
    todo, left = missing[:limit], missing[len(missing) if limit is None else limit :]
    for start in range(0, len(todo), SAVE_CHUNK):
        chunk = todo[start : start + SAVE_CHUNK]
        out[chunk] = model.transform([texts[j] for j in chunk])
        vectors_save([papers[j][0] for j in chunk], [keys[j] for j in chunk], out[chunk], model.name)
        on_progress(start + len(chunk), len(todo))
    missing = None
    if left:
        have = np.setdiff1d(np.arange(len(papers)), left)
        out[left] = mean_vector(out[have[:100_000]]) if len(have) else 0.0
        missing = np.zeros(len(papers), dtype=bool)
        missing[left] = True
        log.warning("%d papers have no meaning vector yet (over EMBEDDING_RETRAIN_LIMIT): manage.py embed_papers embeds them", len(left))
    return CatalogueMeaning(out, len(todo), len(left), missing)


def papers_without_vectors(name: str) -> Q:
    """Papers with no vector of ``name``'s encoder (a changed text is found by the retrain, which compares keys)."""
    return Q(embedding__isnull=True) | ~Q(embedding__encoder=name)


def papers_embed(*, limit: int, on_progress: Callable[[int, int], None] = lambda done, total: None) -> int:
    """Embed at most ``limit`` papers that have no vector yet, newest first (the task after each harvest); returns how
    many. Each chunk is saved as it is made, so a stopped run keeps what it did."""
    model = encoder()
    if model is None:
        return 0
    pks = list(Paper.objects.filter(papers_without_vectors(model.name)).order_by("-id").values_list("id", flat=True)[:limit])
    for start in range(0, len(pks), SAVE_CHUNK):
        chunk = list(Paper.objects.filter(id__in=pks[start : start + SAVE_CHUNK]).values_list("id", "title", "abstract"))
        catalogue_meaning(chunk)
        on_progress(start + len(chunk), len(pks))
    return len(pks)


BACKFILL_CHUNK = 2048  # papers read (and their missing vectors made and saved) at a time by the backfill


def meaning_backfill(*, after: int = 0, on_chunk: Callable[[int, int, int], None] = lambda last, seen, embedded: None) -> int:
    """Give every paper with a pk above ``after`` a current vector, walking the catalogue by pk (an index), a chunk at
    a time, each chunk saved before the next: a stopped backfill resumes where it was (``after`` = the last pk it
    reported), and papers that have a current vector cost one read. ``on_chunk(last pk, papers seen, embedded)``
    after each chunk; returns how many papers it embedded."""
    if encoder() is None:
        raise RuntimeError("CONTENT_EMBEDDINGS is off")
    last, embedded = after, 0
    while True:
        chunk = list(Paper.objects.filter(id__gt=last).order_by("id").values_list("id", "title", "abstract")[:BACKFILL_CHUNK])
        if not chunk:
            return embedded
        made = catalogue_meaning(chunk).embedded
        last, embedded = chunk[-1][0], embedded + made
        on_chunk(last, len(chunk), made)


_background_load = False


def query_encoder_load_in_background() -> None:
    """A web process: the encoder's weights load in a thread as the process starts (a request never waits for them;
    until they are in, :func:`query_vector` gives None and search is full-text alone)."""
    global _background_load
    model = encoder()
    if model is None or not settings.SEARCH_BY_MEANING:
        return
    _background_load = True
    threading.Thread(target=_load_quietly, args=(model,), name="query-encoder-loader", daemon=True).start()


def _load_quietly(model: SentenceEncoder) -> None:
    try:
        import torch

        torch.set_num_threads(1)  # one query at a time per web process; the cores are the other workers'
        model.model()
    except Exception:  # a broken install: search stays full-text, and says why once
        log.exception("the sentence encoder cannot be loaded; search is full-text alone")


def _after_fork() -> None:
    """A server that loads the app before forking: the parent's loader thread does not come along; start one here."""
    if _background_load and _encoder is not None and not _encoder.loaded:
        threading.Thread(target=_load_quietly, args=(_encoder,), name="query-encoder-loader", daemon=True).start()


os.register_at_fork(after_in_child=_after_fork)


def query_vector(text: str, dimension: int | None = None) -> np.ndarray | None:
    """(d,) float32 the meaning vector of a query, or None (embeddings off, the encoder still loading in a web process,
    or its vectors not of the served model's ``dimension``: the encoder was changed since the last retrain)."""
    model = encoder()
    if model is None or not settings.SEARCH_BY_MEANING or (_background_load and not model.loaded):
        return None
    if dimension is not None and model.dimension != dimension:
        return None
    return model.transform([text[:2000]])[0].astype(np.float32)
