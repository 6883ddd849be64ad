"""Finding pasted references in the catalogue: arXiv ids and links, Paperfeed links and ids, titles, BibTeX.

People paste what they have: a column of arXiv ids copied from a reading list, ``arXiv:2401.01234v2``,
``https://arxiv.org/pdf/2401.01234.pdf``, titles with the odd typo, or a whole ``.bib`` file with
LaTeX accents and broken entries. Everything that was not found is reported back, in the words
the reader pasted.
"""

from __future__ import annotations

import difflib
import re
import time
import unicodedata
from dataclasses import dataclass, field

import bibtexparser
from bibtexparser.middlewares import LatexDecodingMiddleware
from django.contrib.postgres.search import TrigramSimilarity
from django.db import connection
from django.db.models import Q

from recommender.models import Paper
from recommender.sources.records import arxiv_id_normalised

MAX_REFERENCES_CHARS = 200_000
MAX_REFERENCES = 500
# Ids are index look-ups; titles cost more (a fuzzy search each), so one paste looks up this many titles at most,
# and stops looking up titles after TITLE_LOOKUP_SECONDS. What was not looked up is listed back, in the pasted words.
MAX_TITLE_LOOKUPS = 50
TITLE_LOOKUP_SECONDS = 5.0
TITLE_MATCH_RATIO = 0.85  # difflib similarity of normalised titles that counts as the same paper
TITLE_CANDIDATES = 20  # closest titles by trigram similarity (PostgreSQL) compared with difflib

_ARXIV_NEW = r"[0-9]{4}\.[0-9]{4,5}"  # ASCII digits only: other scripts' digits are not arXiv ids
_ARXIV_OLD = r"[a-z]+(?:-[a-z]+)*(?:\.[A-Z]{2})?/[0-9]{7}"
ARXIV_ID = re.compile(rf"(?<![\w.])(?:arxiv:\s*)?({_ARXIV_NEW}|{_ARXIV_OLD})(?:v[0-9]+)?(?![\w])", re.IGNORECASE)
_ARXIV_LINK = re.compile(rf"arxiv\.org/(?:abs|pdf|html)/({_ARXIV_NEW}|{_ARXIV_OLD})(?:v[0-9]+)?", re.IGNORECASE)
_PAPERFEED_LINK = re.compile(r"/papers/([^\s/][^\s]*?)/?$")
_LIST_MARKER = re.compile(r"^\s*(?:[-*•·]|\[?\d{1,3}[.)\]])\s+")
_ID_SEPARATORS = re.compile(r"[\s,;]+")


@dataclass(frozen=True)
class Reference:
    """One thing the reader pasted: its text as shown back, and what to look it up by."""

    text: str
    arxiv_id: str = ""
    title: str = ""
    paper_id: str = ""  # a Paperfeed id (slug) or the id in a Paperfeed link


@dataclass
class ReferenceMatch:
    """Papers found (in the order pasted, each once), the references that found nothing (and of those, the arXiv
    ids, id -> the reference as pasted, which arXiv may still know), and those not looked up (titles past
    MAX_TITLE_LOOKUPS or TITLE_LOOKUP_SECONDS)."""

    papers: list[Paper] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    unmatched_arxiv: dict[str, str] = field(default_factory=dict)
    not_looked_up: list[str] = field(default_factory=list)


class ReferencesTooLong(ValueError):
    pass


def references_parse(text: str) -> list[Reference]:
    """The references in ``text``: BibTeX entries if it holds any, else one or more per line."""
    if len(text) > MAX_REFERENCES_CHARS:
        raise ReferencesTooLong(f"Paste at most {MAX_REFERENCES_CHARS:,} characters at a time.")
    references = _bibtex_references(text) if re.search(r"@\w+\s*[{(]", text) else _line_references(text)
    if len(references) > MAX_REFERENCES:
        raise ReferencesTooLong(f"Paste at most {MAX_REFERENCES} references at a time; this has {len(references)}.")
    return references


def _line_references(text: str) -> list[Reference]:
    references = []
    for raw in text.splitlines():
        line = _LIST_MARKER.sub("", raw).strip().strip("\"'“”‘’").strip()
        if not line:
            continue
        links = _ARXIV_LINK.findall(line)
        tokens = [t for t in _ID_SEPARATORS.split(line) if t]
        ids = [m.group(1) for m in (ARXIV_ID.fullmatch(t) for t in tokens) if m]
        if links and len(links) == len(tokens):
            references += [Reference(text=t, arxiv_id=_bare(i)) for t, i in zip(tokens, links)]
        elif ids and len(ids) == len(tokens):  # a line of ids only
            references += [Reference(text=t, arxiv_id=_bare(i)) for t, i in zip(tokens, ids)]
        elif (link := _PAPERFEED_LINK.search(line)) and len(tokens) == 1:
            references.append(Reference(text=line, paper_id=link.group(1)))
        elif len(tokens) == 1:  # one word: a Paperfeed id, or a one-word title
            references.append(Reference(text=line, paper_id=line, title=line))
        else:
            found = ARXIV_ID.search(line) or _ARXIV_LINK.search(line)
            title = (ARXIV_ID.sub("", _ARXIV_LINK.sub("", line)) if found else line).strip(" ()[],;")
            references.append(Reference(text=line, arxiv_id=_bare(found.group(1)) if found else "", title=title))
    return references


def _bibtex_references(text: str) -> list[Reference]:
    library = bibtexparser.parse_string(text, append_middleware=[LatexDecodingMiddleware()])
    references = []
    for entry in library.entries:
        fields = {f.key.lower(): str(f.value) for f in entry.fields}
        title = _clean_latex(fields.get("title", ""))
        where = " ".join(fields.get(k, "") for k in ("eprint", "arxivid", "arxiv", "url", "doi", "journal", "note", "howpublished"))
        found = _ARXIV_LINK.search(where) or ARXIV_ID.search(where) or re.search(rf"arxiv\.({_ARXIV_NEW})", where, re.IGNORECASE)
        label = title or entry.key
        references.append(Reference(text=label, arxiv_id=_bare(found.group(1)) if found else "", title=title))
    for block in library.failed_blocks:
        first_line = block.raw.strip().splitlines()[0] if block.raw.strip() else "(empty entry)"
        references.append(Reference(text=f"Could not read the BibTeX entry starting {first_line[:80]!r}"))
    return references


def _bare(arxiv_id: str) -> str:
    """An arXiv id without its version suffix, spelt as the catalogue keeps it (``arxiv_id_normalised``)."""
    arxiv_id = re.sub(r"v[0-9]+$", "", arxiv_id.strip())
    return arxiv_id_normalised(arxiv_id) or arxiv_id


def _clean_latex(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("{", "").replace("}", "")).strip()


def normalise_title(title: str) -> str:
    """Lower case, accents and punctuation gone, one space between words."""
    decomposed = unicodedata.normalize("NFKD", title)
    ascii_letters = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return " ".join(re.sub(r"[^\w]+", " ", ascii_letters).split())


def references_match(*, text: str) -> ReferenceMatch:
    """Look up every reference in ``text``; see the module docstring. Raises ReferencesTooLong."""
    result = ReferenceMatch()
    found_pks: set[int] = set()
    titles = TitleBudget()
    for reference in references_parse(text):
        paper = _by_ids(reference)
        if paper is None and reference.title:
            if not titles.spend():
                result.not_looked_up.append(reference.text)
                continue
            paper = _by_title(reference.title)
        if paper is None:
            result.unmatched.append(reference.text)
            if reference.arxiv_id:
                result.unmatched_arxiv.setdefault(reference.arxiv_id, reference.text)
        elif paper.pk not in found_pks:
            found_pks.add(paper.pk)
            result.papers.append(paper)
    return result


class TitleBudget:
    """How many title look-ups one paste may still make: MAX_TITLE_LOOKUPS, within TITLE_LOOKUP_SECONDS."""

    def __init__(self) -> None:
        self.left = MAX_TITLE_LOOKUPS
        self.deadline = time.monotonic() + TITLE_LOOKUP_SECONDS

    def spend(self) -> bool:
        if self.left <= 0 or time.monotonic() > self.deadline:
            return False
        self.left -= 1
        return True


def _by_ids(reference: Reference) -> Paper | None:
    if reference.arxiv_id:
        paper = _by_arxiv_id(reference.arxiv_id)
        if paper:
            return paper
    if reference.paper_id:
        return Paper.objects.filter(external_id=reference.paper_id).first()
    return None


def _by_arxiv_id(arxiv_id: str) -> Paper | None:
    """The paper whose id is this arXiv id (with or without an ``arXiv:`` prefix) or whose link is on arXiv."""
    candidates = Paper.objects.filter(
        Q(external_id__iexact=arxiv_id)
        | Q(external_id__iexact=f"arxiv:{arxiv_id}")
        | Q(url__icontains=f"arxiv.org/abs/{arxiv_id}")
        | Q(url__icontains=f"arxiv.org/pdf/{arxiv_id}")
    )[:20]
    for paper in candidates:
        own = ARXIV_ID.fullmatch(paper.external_id) or _ARXIV_LINK.search(paper.url)
        if own and _bare(own.group(1)) == arxiv_id:
            return paper
    return None


def _by_title(title: str) -> Paper | None:
    """The paper with this title, allowing for case, accents, punctuation and small typos.

    On PostgreSQL the candidates are the titles closest by trigram similarity (``pg_trgm``, a GIN index on the
    title: one indexed query); elsewhere, titles that hold the longest words of the wanted one."""
    wanted = normalise_title(title)
    words = sorted(set(wanted.split()), key=len, reverse=True)
    if len(wanted) < 8 or not words:
        return None
    if connection.vendor == "postgresql":
        candidates = (
            Paper.objects.filter(title__trigram_similar=title)
            .annotate(similarity=TrigramSimilarity("title", title))
            .order_by("-similarity")[:TITLE_CANDIDATES]
        )
        return _closest(wanted, candidates)
    for clue in [words[:2], *[[w] for w in words[:4]]]:  # narrow by the longest words; one may hold the typo
        candidates = Paper.objects.all()
        for word in clue:
            candidates = candidates.filter(title__icontains=word)
        best = _closest(wanted, candidates[:200])
        if best is not None:
            return best
    return None


def _closest(wanted: str, candidates) -> Paper | None:
    best, best_ratio = None, TITLE_MATCH_RATIO
    for paper in candidates:
        ratio = difflib.SequenceMatcher(None, wanted, normalise_title(paper.title)).ratio()
        if ratio > best_ratio:
            best, best_ratio = paper, ratio
    return best
