"""arXiv's OAI-PMH interface: ``ListRecords`` in the ``arXiv`` metadata format, page by page.

Each page is parsed whole before it is handed over, with its resumption token, so that the caller can
store a page's papers and the token in one transaction and a later run can go on from the last page
stored. (sickle and oaipmh-scythe hide page boundaries behind one record iterator, which is why this
is a small client of its own on httpx.) XML is parsed with defusedxml.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from xml.etree.ElementTree import Element

from defusedxml import ElementTree

from recommender.engine.exchange import PaperRecord
from recommender.sources import SourceError
from recommender.sources.records import PoliteClient, abstract_url, split_version, tidy

OAI = "{http://www.openarchives.org/OAI/2.0/}"
ARXIV = "{http://arxiv.org/OAI/arXiv/}"


@dataclass
class OaiPage:
    """One page of a harvest: papers, ids of deleted records, and the token for the next page ("" on the last)."""

    number: int
    records: list[PaperRecord] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    skipped: int = 0  # records outside the wanted categories
    token: str = ""
    complete_size: int | None = None


class OaiPageError(SourceError):
    """A page that cannot be read; ``page`` is its number in this run and ``token`` the one that asked for it."""

    def __init__(self, message: str, *, page: int, token: str) -> None:
        super().__init__(message)
        self.page, self.token = page, token


def list_records(
    client: PoliteClient,
    base_url: str,
    *,
    set_spec: str | None,
    from_day: date | None,
    until_day: date | None,
    categories: frozenset[str] = frozenset(),
    token: str = "",
    first_page: int = 1,
) -> Iterator[OaiPage]:
    """Pages of ``ListRecords`` (metadataPrefix arXiv) for one set and window, or from ``token`` to go on where an
    earlier run stopped. ``categories``, when given, keeps only papers with at least one of them."""
    number = first_page
    while True:
        params = (
            {"verb": "ListRecords", "resumptionToken": token}
            if token
            else {
                "verb": "ListRecords",
                "metadataPrefix": "arXiv",
                **({"set": set_spec} if set_spec else {}),
                **({"from": from_day.isoformat()} if from_day else {}),
                **({"until": until_day.isoformat()} if until_day else {}),
            }
        )
        response = client.get(base_url, params=params)
        page = parse_page(response.content, number=number, asked_with=token, categories=categories)
        yield page
        if not page.token:
            return
        token, number = page.token, number + 1


def parse_page(content: bytes, *, number: int = 1, asked_with: str = "", categories: frozenset[str] = frozenset()) -> OaiPage:
    """One ``ListRecords`` response. ``noRecordsMatch`` (an empty window) is an empty last page; any other OAI error,
    or XML that cannot be read, raises :class:`OaiPageError` naming the page."""
    try:
        root = ElementTree.fromstring(content)
    except ElementTree.ParseError as exc:
        raise OaiPageError(f"page {number} is not readable XML ({exc})", page=number, token=asked_with) from None
    page = OaiPage(number)
    error = root.find(f"{OAI}error")
    if error is not None:
        if error.get("code") == "noRecordsMatch":
            return page
        raise OaiPageError(
            f"page {number}: the OAI-PMH server answered {error.get('code')}: {tidy(error.text)}", page=number, token=asked_with
        )
    listing = root.find(f"{OAI}ListRecords")
    if listing is None:
        raise OaiPageError(f"page {number} has neither records nor an OAI-PMH error", page=number, token=asked_with)
    for record in listing.findall(f"{OAI}record"):
        header = record.find(f"{OAI}header")
        identifier = tidy(header.findtext(f"{OAI}identifier") if header is not None else "")
        if header is not None and header.get("status") == "deleted":
            page.deleted.append(split_version(identifier.removeprefix("oai:arXiv.org:"))[0])
            continue
        metadata = record.find(f"{OAI}metadata/{ARXIV}arXiv")
        if metadata is None:
            raise OaiPageError(f"page {number}: record {identifier or '?'} has no arXiv metadata", page=number, token=asked_with)
        paper = _paper(metadata, number, asked_with)
        if categories and not categories.intersection(paper.categories):
            page.skipped += 1
            continue
        page.records.append(paper)
    resumption = listing.find(f"{OAI}resumptionToken")
    if resumption is not None:
        page.token = (resumption.text or "").strip()
        size = resumption.get("completeListSize")
        page.complete_size = int(size) if size and size.isdigit() else None
    return page


def _paper(metadata: Element, number: int, token: str) -> PaperRecord:
    arxiv_id, version = split_version(tidy(metadata.findtext(f"{ARXIV}id")))
    title = tidy(metadata.findtext(f"{ARXIV}title"))
    if not arxiv_id or not title:
        raise OaiPageError(f"page {number}: a record without an id or a title ({arxiv_id or 'no id'})", page=number, token=token)
    try:
        created = _day(metadata.findtext(f"{ARXIV}created"))
        updated = _day(metadata.findtext(f"{ARXIV}updated"))
    except ValueError as exc:
        raise OaiPageError(f"page {number}: record {arxiv_id} has a bad date ({exc})", page=number, token=token) from None
    return PaperRecord(
        id=arxiv_id,
        title=title,
        abstract=tidy(metadata.findtext(f"{ARXIV}abstract")),
        authors=tuple(_author(a) for a in metadata.findall(f"{ARXIV}authors/{ARXIV}author")),
        published=created,
        url=abstract_url(arxiv_id),
        categories=tuple(tidy(metadata.findtext(f"{ARXIV}categories")).split()),
        updated=updated or created,
        version=version,
        doi=tidy(metadata.findtext(f"{ARXIV}doi")),
        license=tidy(metadata.findtext(f"{ARXIV}license")),
        comments=tidy(metadata.findtext(f"{ARXIV}comments")),
    )


def _author(element: Element) -> str:
    """ "Forenames Keyname Suffix" ("Jr", "III"); the affiliation is left out."""
    parts = (element.findtext(f"{ARXIV}{name}") for name in ("forenames", "keyname", "suffix"))
    return " ".join(tidy(part) for part in parts if part and tidy(part))


def _day(text: str | None) -> date | None:
    return date.fromisoformat(tidy(text)) if text and tidy(text) else None
