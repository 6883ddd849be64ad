"""The daily trending list (Hugging Face's daily papers, JSON): the day's papers and their upvotes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from recommender.engine.exchange import PaperRecord
from recommender.sources import SourceError
from recommender.sources.records import ARXIV_ID, PoliteClient, abstract_url, split_version, tidy

MAX_ITEMS = 1000  # a day's list has a few dozen papers
MAX_UPVOTES = 10**6  # more than any paper has had; a larger count is taken as this


@dataclass(frozen=True)
class TrendingPaper:
    record: PaperRecord
    upvotes: int


def fetch_day(client: PoliteClient, base_url: str, day: date) -> list[TrendingPaper]:
    """The list of ``day``, most upvoted first (an empty day gives an empty list)."""
    response = client.get(base_url, params={"date": day.isoformat()})
    try:
        items = response.json()
    except (ValueError, RecursionError) as exc:
        raise SourceError(f"{base_url}: the trending list is not JSON ({exc})") from None
    return parse_day(items)


def parse_day(items: object) -> list[TrendingPaper]:
    """Items ``{"paper": {"id", "title", "summary", "authors": [{"name"}], "publishedAt", "upvotes"}, ...}``; items
    without an arXiv id or a title are left out."""
    if not isinstance(items, list):
        raise SourceError("the trending list is not a JSON list of papers")
    papers = []
    for item in items[:MAX_ITEMS]:
        paper = item.get("paper") if isinstance(item, dict) else None
        if not isinstance(paper, dict):
            continue
        arxiv_id, version = split_version(_text(paper.get("id")))
        title = tidy(_text(paper.get("title")) or _text(item.get("title")))
        if not ARXIV_ID.match(arxiv_id) or not title:
            continue
        names = paper.get("authors") if isinstance(paper.get("authors"), list) else []
        authors = tuple(tidy(_text(a.get("name"))) for a in names if isinstance(a, dict) and tidy(_text(a.get("name"))))
        published = (_text(paper.get("publishedAt")) or _text(item.get("publishedAt")))[:10]
        record = PaperRecord(
            id=arxiv_id,
            title=title,
            abstract=tidy(_text(paper.get("summary")) or _text(item.get("summary"))),
            authors=authors,
            published=_day(published),
            url=abstract_url(arxiv_id),
            version=version,
        )
        upvotes = paper.get("upvotes", 0)
        counted = upvotes if isinstance(upvotes, int) and not isinstance(upvotes, bool) and 0 <= upvotes else 0
        papers.append(TrendingPaper(record, min(counted, MAX_UPVOTES)))
    return sorted(papers, key=lambda p: -p.upvotes)


def _text(value: object) -> str:
    """A field that should be text: itself, or "" for anything else (a number, a list, null)."""
    return value if isinstance(value, str) else ""


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None
