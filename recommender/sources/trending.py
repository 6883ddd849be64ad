"""The daily trending list (Hugging Face's daily papers, JSON): the day's papers and their upvotes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from recommender.engine.exchange import PaperRecord
from recommender.sources import SourceError
from recommender.sources.records import ARXIV_ID, PoliteClient, abstract_url, split_version, tidy


@dataclass(frozen=True)
class TrendingPaper:
    record: PaperRecord
    upvotes: int


def fetch_day(client: PoliteClient, base_url: str, day: date) -> list[TrendingPaper]:
    """The list of ``day``, most upvoted first (an empty day gives an empty list)."""
    response = client.get(base_url, params={"date": day.isoformat()})
    try:
        items = response.json()
    except ValueError as exc:
        raise SourceError(f"{base_url}: the trending list is not JSON ({exc})") from None
    return parse_day(items)


def parse_day(items: object) -> list[TrendingPaper]:
    """Items ``{"paper": {"id", "title", "summary", "authors": [{"name"}], "publishedAt", "upvotes"}, ...}``; items
    without an arXiv id or a title are left out."""
    if not isinstance(items, list):
        raise SourceError("the trending list is not a JSON list of papers")
    papers = []
    for item in items:
        paper = item.get("paper") if isinstance(item, dict) else None
        if not isinstance(paper, dict):
            continue
        arxiv_id, version = split_version(str(paper.get("id", "")))
        title = tidy(paper.get("title") or item.get("title"))
        if not ARXIV_ID.match(arxiv_id) or not title:
            continue
        authors = tuple(tidy(a.get("name")) for a in paper.get("authors", []) if isinstance(a, dict) and tidy(a.get("name")))
        published = str(paper.get("publishedAt") or item.get("publishedAt") or "")[:10]
        record = PaperRecord(
            id=arxiv_id,
            title=title,
            abstract=tidy(paper.get("summary") or item.get("summary")),
            authors=authors,
            published=_day(published),
            url=abstract_url(arxiv_id),
            version=version,
        )
        upvotes = paper.get("upvotes", 0)
        papers.append(TrendingPaper(record, int(upvotes) if isinstance(upvotes, int) and upvotes >= 0 else 0))
    return sorted(papers, key=lambda p: -p.upvotes)


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None
