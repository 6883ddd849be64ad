"""arXiv's OAI-PMH interface: ``ListRecords`` in the ``arXiv`` metadata format, page by page.

Each page is parsed whole before it is handed over, with its resumption token, so that the caller can
store a page's papers and the token in one transaction and a later run can go on from the last page
stored. (sickle and oaipmh-scythe hide page boundaries behind one record iterator, which is why this
is a small client of its own on httpx.) XML is parsed with defusedxml.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException, ElementTree

from recommender.engine.exchange import PaperRecord
from recommender.sources import SourceError
from recommender.sources.records import PoliteClient, abstract_url, split_version, tidy

PAGE_SIZE = 1000  # records in one of arXiv's ListRecords pages
OAI = "{http://www.openarchives.org/OAI/2.0/}"
ARXIV = "{http://arxiv.org/OAI/arXiv/}"


@dataclass
class OaiPage:
    """One page of a harvest: papers, ids of deleted records, and the token for the next page ("" on the last)."""

    number: int
    records: list[PaperRecord] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    skipped: int = 0  # records outside the wanted categories
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (id, why) of records that could not be read
    token: str = ""
    complete_size: int | None = None


class OaiPageError(SourceError):
    """A page that cannot be read; ``page`` is its number in this run and ``token`` the one that asked for it."""

    def __init__(self, message: str, *, page: int, token: str) -> None:
        super().__init__(message)
        self.page, self.token = page, token


class RepeatedToken(OaiPageError):
    """The server answered a resumption token it had already sent: the harvest ends there."""


def next_token(token: str, page_size: int = PAGE_SIZE) -> str | None:
    """The token of the page after the one ``token`` asks for, for arXiv's tokens (``<list>|<offset>``); None for a
    token of another shape. Used to step over a page that failed again and again."""
    found = re.fullmatch(r"(.+)\|(\d{1,9})", token, re.ASCII)
    return f"{found[1]}|{int(found[2]) + page_size}" if found else None


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
    seen = {token} if token else set()
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
        if page.token in seen:  # a server that repeats itself would be followed for ever
            raise RepeatedToken(
                f"page {number}: the server sent resumption token {page.token[:80]!r} a second time", page=number, token=token
            )
        seen.add(page.token)
        yield page
        if not page.token:
            return
        token, number = page.token, number + 1


def parse_page(content: bytes, *, number: int = 1, asked_with: str = "", categories: frozenset[str] = frozenset()) -> OaiPage:
    """One ``ListRecords`` response. ``noRecordsMatch`` (an empty window) is an empty last page; any other OAI error,
    or XML that cannot be read, raises :class:`OaiPageError` naming the page."""
    try:
        root = ElementTree.fromstring(content, forbid_dtd=True)
    except ElementTree.ParseError as exc:
        raise OaiPageError(f"page {number} is not readable XML ({exc})", page=number, token=asked_with) from None
    except DefusedXmlException as exc:  # a DTD, an entity or an external reference: refused, never expanded
        raise OaiPageError(f"page {number} holds XML we refuse to read ({type(exc).__name__})", page=number, token=asked_with) from None
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
            page.rejected.append((identifier[:80] or "?", "no arXiv metadata"))
            continue
        try:
            paper = _paper(metadata)
        except ValueError as exc:  # this record only: the page's other records are still taken in
            page.rejected.append((tidy(metadata.findtext(f"{ARXIV}id"))[:80] or "?", str(exc)))
            continue
        if categories and not categories.intersection(paper.categories):
            page.skipped += 1
            continue
        page.records.append(paper)
    resumption = listing.find(f"{OAI}resumptionToken")
    if resumption is not None:
        page.token = (resumption.text or "").strip()
        size = resumption.get("completeListSize")
        page.complete_size = int(size) if size and size.isascii() and size.isdigit() and len(size) <= 12 else None
    return page


def _paper(metadata: Element) -> PaperRecord:
    """One record's metadata; ValueError for a record without an id or a title, or with a date that is not one."""
    arxiv_id, version = split_version(tidy(metadata.findtext(f"{ARXIV}id")))
    title = tidy(metadata.findtext(f"{ARXIV}title"))
    if not arxiv_id or not title:
        raise ValueError("no id or no title")
    try:
        created = _day(metadata.findtext(f"{ARXIV}created"))
        updated = _day(metadata.findtext(f"{ARXIV}updated"))
    except ValueError as exc:
        raise ValueError(f"a date that is not one ({exc})") from None
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
