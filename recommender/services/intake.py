"""Taking in papers from outside sources: arXiv's daily listings (OAI-PMH), papers by id (the arXiv API), and
the daily trending list. Each harvest is an ``IntakeRun``: one at a time per source, each page's papers stored
with the run's progress in one transaction, so a run stopped by a crash or a bad page is taken up by the next
run of its source from the page after the last one stored.

Papers are unique by their arXiv id without version: a new version updates title, abstract, authors and the
rest in place. A record deleted at the source withdraws the paper (it stays, with its readers' feedback,
but is no longer recommended).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from recommender.engine.exchange import PaperRecord, UnsafeText, clean_text, id_makes_no_path
from recommender.models import IntakeRun, Paper
from recommender.services.claims import claim_create, claim_update, claimant, claimant_is_dead
from recommender.sources import SourceError
from recommender.sources.arxiv_api import fetch_by_ids
from recommender.sources.arxiv_oai import PAGE_SIZE, OaiPage, OaiPageError, RepeatedToken, list_records, next_token
from recommender.sources.records import PoliteClient, arxiv_id_normalised
from recommender.sources.trending import fetch_day

log = logging.getLogger(__name__)
Source, Status = IntakeRun.Source, IntakeRun.Status
UPSERT_BATCH = 2000
OAI_MAX_BYTES = 16 * 2**20  # an answer's size at most: a page of 1,000 records is about 5 MB
API_MAX_BYTES = 4 * 2**20  # 100 entries of the arXiv API are about 200 KB
TRENDING_MAX_BYTES = 8 * 2**20
PAGE_FAILURES_TO_SKIP = 3
MAX_ERRORS_TEXT = 20_000
_DETAIL_FIELDS = ("abstract", "authors", "published", "updated", "version", "categories", "doi", "license", "comments", "url")


class IntakeBusy(Exception):
    """Another harvest of the same source is running; nothing was started."""


class RecordRejected(ValueError):
    """A record from outside that cannot be stored (its message says why and, for a file, on which line)."""


@dataclass
class UpsertResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (id, why) of records left out
    notes: list[str] = field(default_factory=list)  # what was cut to fit


# --- the one boundary for records from outside ------------------------------------------------------------

_COLUMN = {name: Paper._meta.get_field(name).max_length for name in ("external_id", "title", "doi", "license", "url")}
MAX_ABSTRACT = 20_000  # characters; a long abstract is about 2,000
MAX_COMMENTS = 2_000
MAX_AUTHORS = 1_000  # collaborations list a few thousand authors; the first thousand are kept
MAX_AUTHOR_NAME = 300
MAX_CATEGORIES = 20
MAX_VERSION = 32_767  # the column's limit; arXiv's highest versions are in the dozens
EARLIEST_DAY = date(1900, 1, 1)
_CATEGORY = re.compile(r"[A-Za-z][A-Za-z0-9.-]{0,39}", re.ASCII)


def record_checked(record: PaperRecord, *, arxiv: bool) -> tuple[PaperRecord, list[str]]:
    """``record`` as it may be stored, and notes on what was cut to fit; RecordRejected when it cannot be stored at
    all. Every source's records pass here before they reach the database (and the files' through their readers):

    - the id: an arXiv id in ASCII in its one spelling (``arxiv``), or any id that fits its column and makes no path;
    - text through ``clean_text`` (a NUL or a lone surrogate refuses the record); the title, abstract, authors, comments,
      DOI, license and link cut to their columns (or to a sane size), with a note;
    - categories that look like arXiv's (others dropped, with a note); a version from 1 to 32,767; dates from 1900 to a
      week from today.
    """
    where = f"line {record.line}: " if record.line else ""
    notes: list[str] = []
    ident = arxiv_id_normalised(record.id) if arxiv else record.id.strip()
    if not ident or len(ident) > _COLUMN["external_id"] or not id_makes_no_path(ident):
        raise RecordRejected(f"{where}{record.id[:40]!r} is not {'an arXiv id' if arxiv else 'an id we can keep'}")

    def text(value: str, name: str, limit: int, *, multiline: bool = False) -> str:
        try:
            cleaned = clean_text(value or "", field=name, multiline=multiline)
        except UnsafeText as exc:
            raise RecordRejected(f"{where}{ident}: {exc}") from None
        if len(cleaned) > limit:
            notes.append(f"{ident}: {name} cut from {len(cleaned):,} to {limit:,} characters")
            cleaned = cleaned[:limit].rstrip()
        return cleaned

    title = text(record.title, "title", _COLUMN["title"])
    if not title:
        raise RecordRejected(f"{where}{ident}: no title")
    authors = [name for name in (text(a, "author", MAX_AUTHOR_NAME) for a in record.authors[: MAX_AUTHORS + 1]) if name]
    if len(authors) > MAX_AUTHORS:
        notes.append(f"{ident}: the first {MAX_AUTHORS:,} authors kept")
        authors = authors[:MAX_AUTHORS]
    categories = [c for c in record.categories if _CATEGORY.fullmatch(c)][:MAX_CATEGORIES]
    if len(categories) != len(record.categories):
        notes.append(f"{ident}: categories that are not arXiv's left out")
    if record.version is not None and not 1 <= record.version <= MAX_VERSION:
        raise RecordRejected(f"{where}{ident}: version {record.version} is out of range")
    latest = timezone.now().date() + timedelta(days=7)
    for name in ("published", "updated"):
        day = getattr(record, name)
        if day is not None and not EARLIEST_DAY <= day <= latest:
            raise RecordRejected(f"{where}{ident}: {name} {day} is out of range")
    url = text(record.url, "url", _COLUMN["url"])
    checked = replace(
        record,
        id=ident,
        title=title,
        abstract=text(record.abstract, "abstract", MAX_ABSTRACT, multiline=True),
        authors=tuple(authors),
        categories=tuple(categories),
        url=url if url.startswith(("https://", "http://")) else "",
        doi=text(record.doi, "doi", _COLUMN["doi"]),
        license=text(record.license, "license", _COLUMN["license"]),
        comments=text(record.comments, "comments", MAX_COMMENTS),
    )
    return checked, notes


def _newest(records: Iterable[PaperRecord]) -> list[PaperRecord]:
    """One record per id: the newest version (else the latest update, else the last given), whatever their order."""
    newest: dict[str, PaperRecord] = {}
    for record in records:
        kept = newest.get(record.id)
        if kept is None or not _older_record(record, kept):
            newest[record.id] = record
    return list(newest.values())


def _older_record(record: PaperRecord, than: PaperRecord) -> bool:
    if record.version and than.version:
        return record.version < than.version
    return bool(record.updated and than.updated and record.updated < than.updated)


def _fields(record: PaperRecord) -> dict:
    """The paper fields a record gives; empty ones are left out, so a source that does not know a field (the
    trending list has no categories) never erases what another source said."""
    fields = {
        "title": record.title,
        "abstract": record.abstract,
        "authors": list(record.authors),
        "published": record.published,
        "updated": record.updated,
        "version": record.version,
        "categories": list(record.categories),
        "primary_category": record.categories[0] if record.categories else "",
        "doi": record.doi,
        "license": record.license,
        "comments": record.comments,
        "url": record.url,
    }
    return {name: value for name, value in fields.items() if value not in (None, "", [])}


def papers_upsert(
    records: Iterable[PaperRecord], *, source: str, extra: dict[str, dict] | None = None, strict: bool = False
) -> UpsertResult:
    """Create papers new by id and update those whose fields changed (``extra[id]`` adds fields per paper, such as
    upvotes). Every record passes ``record_checked`` first: one that fails is left out and listed in the result's
    ``rejected`` (or, ``strict``, raises RecordRejected: a file is all or nothing). Of one id the newest version wins,
    whatever the order; an older version than the one stored (by version, else by last-updated day) never overwrites
    it. arXiv (OAI-PMH, its API, its snapshot) owns a paper's metadata: the trending list adds its upvotes and day to a
    paper already known and fills only what is empty. Papers withdrawn before and seen again are restored. Call inside
    a transaction."""
    extra = extra or {}
    result = UpsertResult()
    checked = []
    for record in records:
        try:
            record, notes = record_checked(record, arxiv=source != Paper.Source.IMPORT)
        except RecordRejected as exc:
            if strict:
                raise
            result.rejected.append((record.id[:80], str(exc)))
            continue
        checked.append(record)
        result.notes += notes
    records = _newest(checked)
    extra = {arxiv_id_normalised(key) or key: value for key, value in extra.items()}
    existing = {p.external_id: p for p in Paper.objects.filter(external_id__in=[r.id for r in records])}
    to_create, to_update, changed_fields = [], [], set()
    for record in records:
        fields = {**_fields(record), **extra.get(record.id, {})}
        paper = existing.get(record.id)
        if paper is None:
            to_create.append(Paper(external_id=record.id, source=source, **fields))
            continue
        if source == Paper.Source.TRENDING and paper.source != Paper.Source.TRENDING:  # arXiv's metadata stands
            fields = {k: v for k, v in fields.items() if k in extra.get(record.id, {}) or not getattr(paper, k)}
        elif _older(record, paper):  # an older version than the one stored: keep what is stored
            fields = {k: v for k, v in fields.items() if k not in ("title", *_DETAIL_FIELDS)}
        if source == Paper.Source.ARXIV and paper.source == Paper.Source.TRENDING:
            fields["source"] = Paper.Source.ARXIV  # arXiv itself has now told us about it
        if paper.withdrawn_at is not None:
            fields["withdrawn_at"] = None
        changes = {name: value for name, value in fields.items() if getattr(paper, name) != value}
        if changes:
            for name, value in changes.items():
                setattr(paper, name, value)
            to_update.append(paper)
            changed_fields |= changes.keys()
        else:
            result.unchanged += 1
    Paper.objects.bulk_create(to_create, batch_size=UPSERT_BATCH, ignore_conflicts=True)  # a paper another process just added
    if to_update:
        Paper.objects.bulk_update(to_update, sorted(changed_fields), batch_size=UPSERT_BATCH)
    result.created, result.updated = len(to_create), len(to_update)
    return result


def _older(record: PaperRecord, paper: Paper) -> bool:
    if record.version and paper.version:
        return record.version < paper.version
    return bool(record.updated and paper.updated and record.updated < paper.updated)


@transaction.atomic
def papers_import_stream(*, records: Iterable[PaperRecord], source: str = Paper.Source.ARXIV, batch: int = UPSERT_BATCH) -> UpsertResult:
    """``papers_upsert`` over a stream of any length, ``batch`` at a time, all in one transaction: a line that
    cannot be read (the reader raises) leaves the catalogue as it was. Memory does not grow with the stream."""
    total, chunk = UpsertResult(), []
    for record in records:
        chunk.append(record)
        if len(chunk) == batch:
            _add(total, papers_upsert(chunk, source=source, strict=True))
            chunk = []
    if chunk:
        _add(total, papers_upsert(chunk, source=source, strict=True))
    return total


def _add(total: UpsertResult, part: UpsertResult) -> None:
    total.created, total.updated, total.unchanged = (
        total.created + part.created,
        total.updated + part.updated,
        total.unchanged + part.unchanged,
    )
    total.notes += part.notes


def papers_withdraw(ids: Iterable[str]) -> int:
    """Mark the papers of ``ids`` withdrawn by arXiv (a deletion in its listings); papers that came from elsewhere (a
    file, the trending list) are not arXiv's to withdraw. Returns how many were not withdrawn already."""
    known = [normal for normal in (arxiv_id_normalised(i) for i in ids) if normal]
    return Paper.objects.filter(external_id__in=known, source=Paper.Source.ARXIV, withdrawn_at__isnull=True).update(
        withdrawn_at=timezone.now()
    )


def _client(*, max_bytes: int = OAI_MAX_BYTES) -> PoliteClient:
    """The client of a harvest: arXiv's pace (shared by the process), a whole answer within INTAKE_TIMEOUT_SECONDS,
    the run's requests within INTAKE_RUN_DEADLINE_SECONDS, and at most ``max_bytes`` an answer."""
    return PoliteClient(
        user_agent=settings.INTAKE_USER_AGENT,
        timeout=settings.INTAKE_TIMEOUT_SECONDS,
        min_interval=settings.INTAKE_REQUEST_INTERVAL,
        max_bytes=max_bytes,
        deadline=settings.INTAKE_RUN_DEADLINE_SECONDS,
    )


# --- runs: one at a time per source ----------------------------------------------------------------------


def intake_runs_close_abandoned(source: str) -> int:
    """Fail the source's in-progress runs whose process died or went silent (their cursor is kept for a resume)."""
    stale = timezone.now() - timedelta(seconds=settings.INTAKE_STALE_SECONDS)
    closed = 0
    for run in IntakeRun.objects.filter(source=source, in_progress=True):
        if claimant_is_dead(run.claimed_by) or (run.heartbeat_at or run.started_at) < stale:
            closed += IntakeRun.objects.filter(pk=run.pk, in_progress=True, claimed_by=run.claimed_by).update(
                status=Status.FAILED,
                in_progress=False,
                finished_at=timezone.now(),
                errors=f"{run.errors}\nAbandoned: the process running it ({run.claimed_by}) died or went silent.".strip(),
            )
    return closed


def _claim(source: str, **fields) -> IntakeRun:
    intake_runs_close_abandoned(source)

    def busy() -> IntakeBusy:
        running = IntakeRun.objects.filter(source=source, in_progress=True).first()
        since = f" (running since {running.started_at:%Y-%m-%d %H:%M} UTC)" if running else ""
        return IntakeBusy(f"A {Source(source).label} harvest is already running{since}; nothing was started.")

    return claim_create(IntakeRun, busy, source=source, claimed_by=claimant(), heartbeat_at=timezone.now(), **fields)


def _progress(run: IntakeRun, **changes) -> bool:
    """Save ``changes`` on the run if it still holds its claim (a run closed as abandoned meanwhile must stop)."""
    updated = claim_update(run, heartbeat_at=timezone.now(), **changes)
    for name, value in changes.items():
        setattr(run, name, value)
    return updated


def _finish(run: IntakeRun, status: str, error: str = "") -> IntakeRun:
    errors = f"{run.errors}\n{error}".strip() if error else run.errors
    _progress(run, status=status, in_progress=False, finished_at=timezone.now(), errors=errors)
    return run


# --- arXiv OAI-PMH ---------------------------------------------------------------------------------------


def arxiv_harvest_from(set_spec: str, today: date) -> date:
    """The first day of tonight's harvest of ``set_spec`` (it runs to today, open-ended): the last successful harvest's
    end, with a day of overlap (records are stamped by the day arXiv changed them; the same record twice changes
    nothing), or INTAKE_ARXIV_FIRST_DAYS back the first time."""
    done = IntakeRun.objects.filter(source=Source.ARXIV, set_spec=set_spec, status=Status.SUCCEEDED).first()
    if done is None:
        return today - timedelta(days=settings.INTAKE_ARXIV_FIRST_DAYS)
    return (done.window_until or done.started_at.date()) - timedelta(days=1)


def resumable_run(set_spec: str, from_day: date | None, until_day: date | None) -> IntakeRun | None:
    """The set's latest run when it stopped with pages left, and asked for this window (any, when none is given)."""
    last = IntakeRun.objects.filter(source=Source.ARXIV, set_spec=set_spec).exclude(status=Status.RUNNING).first()
    if last is None or last.status != Status.FAILED or not last.cursor:
        return None
    if from_day is not None and (last.window_from, last.window_until) != (from_day, until_day):
        return None
    return last


def intake_arxiv(
    *,
    from_day: date | None = None,
    until_day: date | None = None,
    sets: list[str] | None = None,
    on_page: Callable[[IntakeRun, OaiPage], None] | None = None,
    client: PoliteClient | None = None,
) -> list[IntakeRun]:
    """Harvest each of ``sets`` (INTAKE_ARXIV_SETS) over the window (by default the one after the last harvest),
    keeping only INTAKE_ARXIV_CATEGORIES when set. A run that stopped with pages left is taken up where it stopped.
    Returns the runs (one a set); raises IntakeBusy when a harvest is already running."""
    client = client or _client()
    categories = frozenset(settings.INTAKE_ARXIV_CATEGORIES)
    runs = []
    try:
        for set_spec in sets or settings.INTAKE_ARXIV_SETS:
            resume = resumable_run(set_spec, from_day, until_day)
            if resume is not None:
                start, until = resume.window_from, resume.window_until
            elif from_day is not None:
                start, until = from_day, until_day
            else:
                start, until = arxiv_harvest_from(set_spec, timezone.now().date()), None
            run = _claim(
                Source.ARXIV,
                set_spec=set_spec,
                window_from=start,
                window_until=until,
                cursor=resume.cursor if resume else "",
                pages=resume.pages if resume else 0,
                page_failures=resume.page_failures if resume else 0,
                resumed_from=resume,
            )
            runs.append(_harvest(run, client, categories, on_page))
    finally:
        client.close()
    return runs


def _harvest(run: IntakeRun, client: PoliteClient, categories: frozenset[str], on_page) -> IntakeRun:
    """Take in the run's pages one by one (each page with the run's progress in one transaction). Whatever stops it
    (the source, the database, a bug) ends the run as failed with the reason; the next run takes up from the page it
    failed at, and a page that failed PAGE_FAILURES_TO_SKIP times in a row is stepped over with a note."""
    client.on_wait = lambda: _progress(run)  # a long Retry-After is no sign of a dead run
    if run.cursor and run.page_failures >= PAGE_FAILURES_TO_SKIP:
        run = _step_over(run)
        if not run.in_progress:
            return run
    pages = list_records(
        client,
        settings.ARXIV_OAI_URL,
        set_spec=run.set_spec or None,
        from_day=run.window_from,
        until_day=run.window_until,
        categories=categories,
        token=run.cursor,
        first_page=run.pages + 1,
    )
    try:
        for page in pages:
            with transaction.atomic():
                stored = papers_upsert(page.records, source=Paper.Source.ARXIV)
                withdrawn = papers_withdraw(page.deleted)
                refused = page.rejected + stored.rejected
                if not _progress(
                    run,
                    cursor=page.token,
                    pages=run.pages + 1,
                    page_failures=0,
                    created=run.created + stored.created,
                    updated=run.updated + stored.updated,
                    deleted=run.deleted + withdrawn,
                    skipped=run.skipped + page.skipped + stored.unchanged,
                    rejected=run.rejected + len(refused),
                    errors=_noted(run.errors, [f"page {page.number}: {i} refused: {why}" for i, why in refused] + stored.notes),
                ):
                    raise SourceError("this run was closed as abandoned while it worked; its last page was not stored")
            if on_page:
                on_page(run, page)
    except RepeatedToken as exc:
        log.warning("arXiv harvest %s stopped: %s", run.pk, exc)
        _progress(run, cursor="")  # nothing to take up: the next run starts a window of its own
        return _finish(run, Status.FAILED, f"{exc}; the harvest ends here")
    except BaseException as exc:  # the source, the database or a bug: the run ends, and says why
        log.warning("arXiv harvest %s stopped at page %d: %s", run.pk, run.pages + 1, exc)
        if isinstance(exc, OaiPageError):  # the page itself: after three in a row it is stepped over
            _progress(run, page_failures=run.page_failures + 1)
        why = str(exc) if isinstance(exc, OaiPageError) else f"page {run.pages + 1}: {_reason(exc)}"
        _finish(run, Status.FAILED, f"{why} (the next run takes up from this page)")
        if not isinstance(exc, Exception):
            raise  # an interrupt or exit: the run is closed, the process goes on stopping
        return run
    return _finish(run, Status.SUCCEEDED)


def _step_over(run: IntakeRun) -> IntakeRun:
    """The page at the run's cursor failed PAGE_FAILURES_TO_SKIP runs in a row: go on from the page after it (arXiv's
    tokens count records), or, for a token we cannot step, end this window so that the next run starts a new one."""
    after = next_token(run.cursor)
    lost = f"page {run.pages + 1} failed {run.page_failures} times in a row and was skipped"
    if after is None:
        _progress(run, cursor="", page_failures=0)
        return _finish(run, Status.FAILED, f"{lost}; its token cannot be stepped over, so this window ends here")
    _progress(run, cursor=after, pages=run.pages + 1, page_failures=0, errors=_noted(run.errors, [f"{lost} (up to {PAGE_SIZE} records)"]))
    return run


def _reason(exc: BaseException) -> str:
    """What stopped a run, for a person: a source's own message, else the kind of error and its text."""
    if isinstance(exc, SourceError):
        return str(exc)
    return f"{type(exc).__name__}: {str(exc)[:300]}" if str(exc) else type(exc).__name__


def _noted(errors: str, lines: list[str]) -> str:
    """``errors`` with ``lines`` added, the whole kept under MAX_ERRORS_TEXT characters (a count stands for the rest)."""
    if not lines:
        return errors
    text = "\n".join([errors, *lines]).strip()
    if len(text) <= MAX_ERRORS_TEXT:
        return text
    kept = text[: MAX_ERRORS_TEXT - 80].rsplit("\n", 1)[0]
    return f"{kept}\n... and more (about {text.count(chr(10)) - kept.count(chr(10))} lines left out)"


# --- the daily trending list -----------------------------------------------------------------------------


def intake_trending(*, day: date | None = None, client: PoliteClient | None = None) -> IntakeRun:
    """Take in the trending list of ``day`` (today by default), keeping each paper's upvotes and its day on the list
    (papers arXiv already told us of keep arXiv's title, authors and abstract). The run ends whatever happens."""
    day = day or timezone.now().date()
    client = client or _client(max_bytes=TRENDING_MAX_BYTES)
    run = _claim(Source.TRENDING, window_from=day, window_until=day)
    try:
        papers = fetch_day(client, settings.HF_PAPERS_URL, day)
        with transaction.atomic():
            extra = {p.record.id: {"upvotes": p.upvotes, "trending_on": day} for p in papers}
            stored = papers_upsert([p.record for p in papers], source=Paper.Source.TRENDING, extra=extra)
            _progress(
                run,
                pages=1,
                created=stored.created,
                updated=stored.updated,
                skipped=stored.unchanged,
                rejected=len(stored.rejected),
                errors=_noted(run.errors, [f"{i} refused: {why}" for i, why in stored.rejected] + stored.notes),
            )
    except BaseException as exc:
        log.warning("trending list of %s not taken in: %s", day, exc)
        _finish(run, Status.FAILED, _reason(exc))
        if not isinstance(exc, Exception):
            raise
        return run
    finally:
        client.close()
    return _finish(run, Status.SUCCEEDED)


# --- papers by id ----------------------------------------------------------------------------------------


def papers_fetch_by_ids(ids: list[str], *, timeout: float | None = None, client: PoliteClient | None = None) -> list[Paper]:
    """Add the papers of arXiv ``ids`` (without versions) that the catalogue lacks, from the arXiv API; returns the
    papers of ``ids`` now in the catalogue. The whole fetch (arXiv's pace included, shared with the harvest) ends
    within ``timeout`` seconds, else SourceTimeout; SourceError when arXiv cannot be reached or answers nonsense. The
    run it records always ends, with what was refused and why."""
    wanted = list(dict.fromkeys(normal for normal in (arxiv_id_normalised(i) for i in ids) if normal))
    missing = sorted(set(wanted) - set(Paper.objects.filter(external_id__in=wanted).values_list("external_id", flat=True)))
    if missing:
        wait = timeout or settings.INTAKE_TIMEOUT_SECONDS
        client = client or PoliteClient(
            user_agent=settings.INTAKE_USER_AGENT,
            timeout=wait,
            deadline=wait,
            min_interval=settings.INTAKE_REQUEST_INTERVAL,
            max_retries=0,
            max_bytes=API_MAX_BYTES,
        )
        # Not a claim: readers paste ids at the same time, and each fetch is its own short run.
        run = IntakeRun.objects.create(source=Source.IDS, requested=missing, claimed_by=claimant(), heartbeat_at=timezone.now())
        try:
            records = fetch_by_ids(client, settings.ARXIV_API_URL, missing)
            with transaction.atomic():
                stored = papers_upsert(records, source=Paper.Source.ARXIV)
            unknown = sorted(set(missing) - {r.id for r in records})
            lines = [f"{i} refused: {why}" for i, why in stored.rejected] + stored.notes
            IntakeRun.objects.filter(pk=run.pk).update(
                status=Status.SUCCEEDED,
                finished_at=timezone.now(),
                pages=1,
                created=stored.created,
                updated=stored.updated,
                skipped=len(unknown),
                rejected=len(stored.rejected),
                errors=_noted("arXiv does not know: " + ", ".join(unknown) if unknown else "", lines),
            )
        except BaseException as exc:
            IntakeRun.objects.filter(pk=run.pk).update(status=Status.FAILED, finished_at=timezone.now(), errors=_reason(exc))
            if isinstance(exc, Exception) and not isinstance(exc, SourceError):
                raise SourceError(f"the papers asked of arXiv could not be taken in ({_reason(exc)})") from exc
            raise
        finally:
            client.close()
    found = {p.external_id: p for p in Paper.objects.filter(external_id__in=wanted)}
    return [found[i] for i in wanted if i in found]
