"""The arXiv API (Atom, read with feedparser): papers by id, for the ones a reader pastes that we do not have."""

from __future__ import annotations

from datetime import date

import feedparser

from recommender.engine.exchange import PaperRecord
from recommender.sources import SourceError
from recommender.sources.records import PoliteClient, abstract_url, split_version, tidy

MAX_IDS_PER_REQUEST = 100


def fetch_by_ids(client: PoliteClient, base_url: str, ids: list[str]) -> list[PaperRecord]:
    """The papers of ``ids`` (without versions) that arXiv knows, in the order asked; unknown ids are left out."""
    found: dict[str, PaperRecord] = {}
    for start in range(0, len(ids), MAX_IDS_PER_REQUEST):
        chunk = ids[start : start + MAX_IDS_PER_REQUEST]
        response = client.get(base_url, params={"id_list": ",".join(chunk), "max_results": str(len(chunk))})
        for record in parse_feed(response.content):
            found[record.id] = record
    return [found[i] for i in ids if i in found]


def parse_feed(content: bytes) -> list[PaperRecord]:
    """The entries of an API answer; arXiv's own error entries (an id it cannot read) are left out."""
    feed = feedparser.parse(content)
    if feed.bozo and not feed.entries:
        raise SourceError(f"the arXiv API answered something that is not an Atom feed ({feed.bozo_exception})")
    records = []
    for entry in feed.entries:
        link = entry.get("id", "")
        if "/abs/" not in link or entry.get("title", "").strip() == "Error":
            continue
        arxiv_id, version = split_version(link.rsplit("/abs/", 1)[1])
        categories = [tag["term"] for tag in entry.get("tags", []) if tag.get("term")]
        primary = entry.get("arxiv_primary_category", {}).get("term")
        if primary:
            categories = [primary, *[c for c in categories if c != primary]]
        records.append(
            PaperRecord(
                id=arxiv_id,
                title=tidy(entry.get("title")),
                abstract=tidy(entry.get("summary")),
                authors=tuple(tidy(author.get("name")) for author in entry.get("authors", []) if tidy(author.get("name"))),
                published=_day(entry.get("published")),
                url=abstract_url(arxiv_id),
                categories=tuple(categories),
                updated=_day(entry.get("updated")),
                version=version,
                doi=tidy(entry.get("arxiv_doi")),
                comments=tidy(entry.get("arxiv_comment")),
            )
        )
    return records


def _day(stamp: str | None) -> date | None:
    try:
        return date.fromisoformat(stamp[:10]) if stamp else None
    except ValueError:
        return None
