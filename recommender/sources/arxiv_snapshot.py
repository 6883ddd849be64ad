"""arXiv's metadata snapshot (one JSON object a line: ``id``, ``title``, ``abstract``, ``authors_parsed``,
``categories``, ``versions``, ``update_date``, ``doi``, ``license``, ``comments``, ...), read one line at a time,
so that years of papers can fill a new catalogue without holding them in memory."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import date
from email.utils import parsedate_to_datetime

from recommender.engine.exchange import MAX_TITLE_LENGTH, DatasetError, PaperRecord
from recommender.sources.records import ARXIV_ID, abstract_url, tidy

SNAPSHOT_KEYS = {"id", "authors_parsed", "versions"}


def is_snapshot_line(line: str) -> bool:
    """Whether a line looks like the snapshot format (and not like the exchange format's papers.jsonl)."""
    try:
        obj = json.loads(line)
    except ValueError:
        return False
    return isinstance(obj, dict) and SNAPSHOT_KEYS <= obj.keys()


def read_snapshot(path: str | os.PathLike, on_bytes=None) -> Iterator[PaperRecord]:
    """Papers of a snapshot file, in file order; a line that cannot be read raises DatasetError naming it.
    ``on_bytes(n)`` is told how many bytes each line took (for a progress bar)."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if on_bytes:
                on_bytes(len(raw))
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise DatasetError(path, number, f"not UTF-8 text (byte {exc.start})") from None
            except ValueError as exc:
                raise DatasetError(path, number, f"not a JSON object ({exc})") from None
            yield snapshot_record(path, number, obj)


def snapshot_record(path, number: int, obj: object) -> PaperRecord:
    if not isinstance(obj, dict):
        raise DatasetError(path, number, "not a JSON object")
    arxiv_id = str(obj.get("id") or "").strip()
    if not ARXIV_ID.match(arxiv_id):
        raise DatasetError(path, number, f"'id' is not an arXiv id: {arxiv_id[:40]!r}")
    title = tidy(obj.get("title"))
    if not title or len(title) > MAX_TITLE_LENGTH:
        raise DatasetError(path, number, f"'title' must be 1 to {MAX_TITLE_LENGTH} characters")
    versions = obj.get("versions") or []
    if not isinstance(versions, list) or not all(isinstance(v, dict) for v in versions):
        raise DatasetError(path, number, "'versions' must be a list of {version, created}")
    try:
        published = parsedate_to_datetime(versions[0]["created"]).date() if versions else None
        updated = date.fromisoformat(obj["update_date"]) if obj.get("update_date") else None
    except (KeyError, TypeError, ValueError) as exc:
        raise DatasetError(path, number, f"a date cannot be read ({exc})") from None
    authors = obj.get("authors_parsed") or []
    if not isinstance(authors, list) or not all(isinstance(a, list) for a in authors):
        raise DatasetError(path, number, "'authors_parsed' must be a list of [last name, first names, suffix]")
    return PaperRecord(
        id=arxiv_id,
        title=title,
        abstract=tidy(obj.get("abstract")),
        authors=tuple(name for name in (_name(parts) for parts in authors) if name),
        published=published,
        url=abstract_url(arxiv_id),
        line=number,
        categories=tuple(tidy(obj.get("categories")).split()),
        updated=updated or published,
        version=len(versions) or None,
        doi=tidy(obj.get("doi")),
        license=tidy(obj.get("license")),
        comments=tidy(obj.get("comments")),
    )


def _name(parts: list) -> str:
    """``["Balázs", "Csaba", "Jr"]`` -> ``"Csaba Balázs Jr"``."""
    last, first, suffix = ([*map(lambda p: tidy(str(p or "")), parts), "", "", ""])[:3]
    return " ".join(part for part in (first, last, suffix) if part)
