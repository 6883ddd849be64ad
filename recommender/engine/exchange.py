"""Read and write the exchange format (docs/data.md "The exchange format") and the demo page-dump text.

A data set is a folder with ``papers.jsonl`` and ``interactions.csv``. Readers check
every line and raise :class:`DatasetError` naming the file, the line and the reason;
they return whole lists so that a caller can refuse a file before writing anything.
Every text that becomes part of a paper passes :func:`clean_text` (any source of papers
should do the same), so nothing stored breaks a page, an Atom feed or the database.
"""

from __future__ import annotations

import csv
import json
import os
import re
import tempfile
import unicodedata
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TextIO

KINDS = ("read", "like", "save", "dismiss", "rate")
INTERACTION_COLUMNS = ["user", "paper", "kind", "value", "timestamp"]
MAX_ID_LENGTH = 128
MAX_TITLE_LENGTH = 500
MAX_URL_LENGTH = 500
_ID_PATTERN = re.compile(r"^[^\s\x00-\x1f\x7f]+$")
# Characters XML 1.0 cannot carry (C0 controls but tab, newline and carriage return; DEL; U+FFFE/U+FFFF), NUL and lone surrogates included.
UNSAFE_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_BLANKS = re.compile(r"[ \t\f\v\u00a0]+")


class DatasetError(ValueError):
    """A line of an input file that cannot be read; the message names file and line."""

    def __init__(self, path: str | os.PathLike, line: int, reason: str) -> None:
        self.path, self.line, self.reason = str(path), line, reason
        super().__init__(f"{path}, line {line}: {reason}")


class UnsafeText(ValueError):
    """Text no field may hold: a NUL character or a lone surrogate. The message names the field."""


def clean_text(value: str, *, field: str, multiline: bool = False) -> str:
    """``value`` made safe to store and to serve as HTML, Atom (XML 1.0) and email; raises UnsafeText.

    Refused, naming ``field``: a NUL character (PostgreSQL text cannot hold it, and in an input it means a
    broken file or a probe) and a lone surrogate (not text: it cannot be written as UTF-8). Removed: the other
    C0 control characters, DEL, U+FFFE and U+FFFF, which XML 1.0 cannot carry. Tabs, carriage returns and
    newlines become spaces, and runs of blanks one space; with ``multiline`` (an abstract) line breaks are kept
    as ``\\n`` and only the blanks within a line are collapsed. The result has no leading or trailing blanks.
    Any source of papers (files, the arXiv intake) should pass every text field through this before storing it.
    """
    if "\x00" in value:
        raise UnsafeText(f"{field!r} contains a NUL character (\\x00), which no text may hold")
    if _SURROGATE.search(value):
        raise UnsafeText(f"{field!r} contains a lone surrogate (\\ud800-\\udfff), which is not text")
    text = value.replace("\r\n", "\n").replace("\r", "\n")
    if not multiline:
        return " ".join(UNSAFE_CHARACTERS.sub("", text).split())
    lines = (_BLANKS.sub(" ", UNSAFE_CHARACTERS.sub("", line)).strip() for line in text.split("\n"))
    return "\n".join(lines).strip()


def id_makes_no_path(paper_id: str) -> bool:
    """Whether ``paper_id`` stays one paper's address inside ``/papers/`` and ``/feedback/`` (no ``.`` or ``..`` part, no
    leading slash, no backslash, which browsers read as a slash)."""
    return not (paper_id.startswith("/") or "\\" in paper_id or any(part in (".", "..") for part in paper_id.split("/")))


def strip_unsafe(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot carry (NUL included): for text already stored, never refused."""
    return UNSAFE_CHARACTERS.sub("", text)


@dataclass(frozen=True)
class PaperRecord:
    """A paper as the exchange format and every source give it; ``published`` is the first submission's day.

    The arXiv fields (``categories`` with the primary one first, ``updated``, ``version``, ``doi``, ``license``,
    ``comments``) are optional in ``papers.jsonl``.
    """

    id: str
    title: str
    abstract: str = ""
    authors: tuple[str, ...] = ()
    published: date | None = None
    url: str = ""
    line: int = 0
    categories: tuple[str, ...] = ()
    updated: date | None = None
    version: int | None = None
    doi: str = ""
    license: str = ""
    comments: str = ""


@dataclass(frozen=True)
class InteractionRecord:
    user: str
    paper: str
    kind: str
    value: int | None = None
    timestamp: datetime | None = None
    line: int = 0


# --- papers -----------------------------------------------------------------------


def read_papers(path: str | os.PathLike) -> list[PaperRecord]:
    """Papers from ``papers.jsonl`` (by its .jsonl/.json name, or a first line that is a JSON object) or the page-dump text."""
    _refuse_bad_utf8(path)
    if Path(path).suffix.lower() in (".jsonl", ".json"):
        return read_papers_jsonl(path)
    with open(path, encoding="utf-8-sig") as handle:
        first = next((line for line in handle if line.strip()), "")
    if first.lstrip().startswith("{"):
        return read_papers_jsonl(path)
    return read_papers_text(path)


def _refuse_bad_utf8(path: str | os.PathLike) -> None:
    """Name the first line that is not UTF-8 (readers would otherwise fail without a line number)."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DatasetError(path, number, f"not valid UTF-8 (byte {exc.start + 1} of the line)") from None


def read_papers_jsonl(path: str | os.PathLike) -> list[PaperRecord]:
    """One JSON object a line: ``id``, ``title``, ``abstract``; optional ``authors``, ``published``, ``url``."""
    _refuse_bad_utf8(path)
    records: list[PaperRecord] = []
    with open(path, encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(path, number, f"not valid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise DatasetError(path, number, "expected a JSON object")
            records.append(_paper_from_object(path, number, obj))
    _refuse_duplicate_ids(path, records)
    return records


def read_papers_text(path: str | os.PathLike) -> list[PaperRecord]:
    """The page dump: two header lines, then a title line and an abstract line per paper.

    The page's "Subscribe" button text is glued to the first title; it is removed.
    Ids are slugs of the titles, so re-importing the same page gives the same ids.
    """
    _refuse_bad_utf8(path)
    with open(path, encoding="utf-8-sig") as handle:
        lines = [(number, line.strip()) for number, line in enumerate(handle, start=1)][2:]
    while lines and not lines[-1][1]:
        lines.pop()
    records: list[PaperRecord] = []
    for index in range(0, len(lines), 2):
        title_number, title = lines[index]
        if index == 0:
            title = re.sub(r"^Subscribe(?=[A-Z0-9])", "", title)
        if not title:
            raise DatasetError(path, title_number, "empty title line")
        if title.startswith("{"):
            raise DatasetError(path, title_number, "this looks like JSON: name the file .jsonl to import it as papers.jsonl")
        if index + 1 >= len(lines):
            raise DatasetError(path, title_number, "title without an abstract line after it")
        abstract_number, abstract = lines[index + 1]
        abstract = _clean(path, abstract_number, abstract, "abstract")
        if not abstract:
            raise DatasetError(path, abstract_number, "empty abstract line")
        title = _clean(path, title_number, title, "title")
        paper_id = slug(title)
        if not paper_id:
            raise DatasetError(path, title_number, "title has no letters or digits to make an id from")
        records.append(_paper_from_object(path, title_number, {"id": paper_id, "title": title, "abstract": abstract}))
    _refuse_duplicate_ids(path, records)
    return records


def slug(text: str, max_length: int = 100) -> str:
    """A lowercase ASCII id made from ``text``: ``"LookupViT: Compressing"`` -> ``"lookupvit-compressing"``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    result = ""
    for word in words:
        candidate = f"{result}-{word}" if result else word
        if len(candidate) > max_length:
            break
        result = candidate
    return result or "-".join(words)[:max_length]


def _clean(path, number: int, value: str, field: str, *, multiline: bool = False) -> str:
    try:
        return clean_text(value, field=field, multiline=multiline)
    except UnsafeText as exc:
        raise DatasetError(path, number, str(exc)) from None


def _paper_from_object(path, number: int, obj: dict) -> PaperRecord:
    paper_id = obj.get("id")
    if isinstance(paper_id, int) and not isinstance(paper_id, bool):
        paper_id = str(paper_id)
    if isinstance(paper_id, str):
        _clean(path, number, paper_id, "id")  # a NUL is named as such; other control characters fail the pattern below
    if not isinstance(paper_id, str) or not _ID_PATTERN.match(paper_id) or len(paper_id) > MAX_ID_LENGTH:
        raise DatasetError(path, number, f"'id' must be a non-empty string without spaces, at most {MAX_ID_LENGTH} characters")
    if not id_makes_no_path(paper_id):
        raise DatasetError(
            path, number, "'id' may not start with '/', hold a backslash or a '.' or '..' part: it is part of the paper's address"
        )
    title = obj.get("title")
    if isinstance(title, str):
        title = _clean(path, number, title, "title")
    if not isinstance(title, str) or not title:
        raise DatasetError(path, number, "'title' must be a non-empty string")
    if len(title) > MAX_TITLE_LENGTH:
        raise DatasetError(path, number, f"'title' is longer than {MAX_TITLE_LENGTH} characters")
    abstract = obj.get("abstract", "")
    if not isinstance(abstract, str):
        raise DatasetError(path, number, "'abstract' must be a string")
    abstract = _clean(path, number, abstract, "abstract", multiline=True)
    authors = obj.get("authors", [])
    if not isinstance(authors, list) or not all(isinstance(a, str) for a in authors):
        raise DatasetError(path, number, "'authors' must be a list of strings")
    authors = [_clean(path, number, author, "authors") for author in authors]
    published = obj.get("published")
    if published in (None, ""):
        published_date = None
    else:
        try:
            published_date = date.fromisoformat(published) if isinstance(published, str) and len(published) == 10 else None
        except ValueError:
            published_date = None
        if published_date is None:
            raise DatasetError(path, number, f"'published' must be a date YYYY-MM-DD, not {published!r}")
    url = obj.get("url", "") or ""
    if isinstance(url, str):
        _clean(path, number, url, "url")  # a NUL is named as such; other control characters fail the pattern below
    if not isinstance(url, str) or (url and not re.match(r"^https?://[^\s\x00-\x1f\x7f]+$", url)) or len(url) > MAX_URL_LENGTH:
        raise DatasetError(path, number, "'url' must be an http(s) address")
    return PaperRecord(
        id=paper_id,
        title=title,
        abstract=abstract,
        authors=tuple(a for a in authors if a),
        published=published_date,
        url=url,
        line=number,
    )


def _refuse_duplicate_ids(path, records: list[PaperRecord]) -> None:
    first_line: dict[str, int] = {}
    for record in records:
        if record.id in first_line:
            raise DatasetError(path, record.line, f"paper id {record.id!r} already appeared on line {first_line[record.id]}")
        first_line[record.id] = record.line


def write_papers_jsonl(path: str | os.PathLike, records: Iterable[PaperRecord]) -> int:
    """Write ``records`` atomically; returns how many were written."""
    count = 0
    with _atomic_text_file(path) as handle:
        for record in records:
            obj: dict = {"id": record.id, "title": record.title, "abstract": record.abstract}
            if record.authors:
                obj["authors"] = list(record.authors)
            if record.published:
                obj["published"] = record.published.isoformat()
            if record.url:
                obj["url"] = record.url
            handle.write(json.dumps(obj, ensure_ascii=False) + "\n")
            count += 1
    return count


# --- interactions -----------------------------------------------------------------


def read_interactions_csv(path: str | os.PathLike) -> list[InteractionRecord]:
    """Rows of ``user,paper,kind,value,timestamp``; ``value`` only (and always) for ``rate``."""
    _refuse_bad_utf8(path)
    records: list[InteractionRecord] = []
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise DatasetError(path, 1, "the file is empty; expected the header " + ",".join(INTERACTION_COLUMNS))
        if [column.strip() for column in header] != INTERACTION_COLUMNS:
            raise DatasetError(path, 1, f"expected the header {','.join(INTERACTION_COLUMNS)}, found {','.join(header)}")
        for row in reader:
            number = reader.line_num
            if not row or all(not cell.strip() for cell in row):
                continue
            if any("\x00" in cell for cell in row):
                raise DatasetError(path, number, "contains a NUL character (\\x00), which no text may hold")
            records.append(_interaction_from_row(path, number, row))
    return records


def _interaction_from_row(path, number: int, row: list[str]) -> InteractionRecord:
    if len(row) != len(INTERACTION_COLUMNS):
        raise DatasetError(path, number, f"expected {len(INTERACTION_COLUMNS)} columns, found {len(row)}")
    user, paper, kind, raw_value, raw_timestamp = (cell.strip() for cell in row)
    if not user:
        raise DatasetError(path, number, "empty user")
    if not paper:
        raise DatasetError(path, number, "empty paper")
    if kind not in KINDS:
        raise DatasetError(path, number, f"unknown kind {kind!r} (expected one of {', '.join(KINDS)})")
    value = None
    if kind == "rate":
        if raw_value not in ("1", "2", "3", "4", "5"):
            raise DatasetError(path, number, f"a rating needs a value of 1 to 5 stars, not {raw_value!r}")
        value = int(raw_value)
    elif raw_value:
        raise DatasetError(path, number, f"only 'rate' rows carry a value; {kind!r} has {raw_value!r}")
    return InteractionRecord(
        user=user, paper=paper, kind=kind, value=value, timestamp=_parse_timestamp(path, number, raw_timestamp), line=number
    )


def _parse_timestamp(path, number: int, raw: str) -> datetime | None:
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise DatasetError(path, number, f"timestamp {raw!r} is not ISO 8601") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def write_interactions_csv(path: str | os.PathLike, records: Iterable[InteractionRecord]) -> int:
    """Write ``records`` atomically with the header; returns how many rows were written."""
    count = 0
    with _atomic_text_file(path, newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(INTERACTION_COLUMNS)
        for record in records:
            timestamp = record.timestamp.isoformat() if record.timestamp else ""
            writer.writerow([record.user, record.paper, record.kind, "" if record.value is None else record.value, timestamp])
            count += 1
    return count


@contextmanager
def _atomic_text_file(path: str | os.PathLike, newline: str | None = None) -> Iterator[TextIO]:
    """Write to a temporary file beside ``path`` and rename it into place only on success."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as handle:
            yield handle
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise
