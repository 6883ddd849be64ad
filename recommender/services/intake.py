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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from recommender.engine.exchange import PaperRecord
from recommender.models import IntakeRun, Paper
from recommender.services.claims import claimant, claimant_is_dead
from recommender.sources import SourceError
from recommender.sources.arxiv_api import fetch_by_ids
from recommender.sources.arxiv_oai import OaiPage, OaiPageError, list_records
from recommender.sources.records import PoliteClient
from recommender.sources.trending import fetch_day

log = logging.getLogger(__name__)
Source, Status = IntakeRun.Source, IntakeRun.Status
UPSERT_BATCH = 2000
_DETAIL_FIELDS = ("abstract", "authors", "published", "updated", "version", "categories", "doi", "license", "comments", "url")


class IntakeBusy(Exception):
    """Another harvest of the same source is running; nothing was started."""


@dataclass
class UpsertResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


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


def papers_upsert(records: Iterable[PaperRecord], *, source: str, extra: dict[str, dict] | None = None) -> UpsertResult:
    """Create papers new by id and update those whose fields changed (``extra[id]`` adds fields per paper, such as
    upvotes). An older version than the one stored (by version, else by last-updated day) never overwrites it. Papers
    withdrawn before and seen again are restored. Call inside a transaction."""
    records = list({record.id: record for record in records}.values())  # an id given twice: the last one counts
    extra = extra or {}
    result = UpsertResult()
    existing = {p.external_id: p for p in Paper.objects.filter(external_id__in=[r.id for r in records])}
    to_create, to_update, changed_fields = [], [], set()
    for record in records:
        fields = {**_fields(record), **extra.get(record.id, {})}
        paper = existing.get(record.id)
        if paper is None:
            to_create.append(Paper(external_id=record.id, source=source, **fields))
            continue
        if _older(record, paper):  # an older version than the one stored: keep what is stored
            fields = {k: v for k, v in fields.items() if k not in ("title", *_DETAIL_FIELDS)}
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
    Paper.objects.bulk_create(to_create, batch_size=UPSERT_BATCH)
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
            _add(total, papers_upsert(chunk, source=source))
            chunk = []
    if chunk:
        _add(total, papers_upsert(chunk, source=source))
    return total


def _add(total: UpsertResult, part: UpsertResult) -> None:
    total.created, total.updated, total.unchanged = (
        total.created + part.created,
        total.updated + part.updated,
        total.unchanged + part.unchanged,
    )


def papers_withdraw(ids: Iterable[str]) -> int:
    """Mark the papers of ``ids`` withdrawn by their source; returns how many were not already."""
    return Paper.objects.filter(external_id__in=list(ids), withdrawn_at__isnull=True).update(withdrawn_at=timezone.now())


def _client() -> PoliteClient:
    return PoliteClient(
        user_agent=settings.INTAKE_USER_AGENT,
        timeout=settings.INTAKE_TIMEOUT_SECONDS,
        min_interval=settings.INTAKE_REQUEST_INTERVAL,
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
    try:
        with transaction.atomic():
            return IntakeRun.objects.create(source=source, in_progress=True, claimed_by=claimant(), heartbeat_at=timezone.now(), **fields)
    except IntegrityError:
        busy = IntakeRun.objects.filter(source=source, in_progress=True).first()
        since = f" (running since {busy.started_at:%Y-%m-%d %H:%M} UTC)" if busy else ""
        raise IntakeBusy(f"A {Source(source).label} harvest is already running{since}; nothing was started.") from None


def _progress(run: IntakeRun, **changes) -> bool:
    """Save ``changes`` on the run if it still holds its claim (a run closed as abandoned meanwhile must stop)."""
    updated = IntakeRun.objects.filter(pk=run.pk, in_progress=True, claimed_by=run.claimed_by).update(
        heartbeat_at=timezone.now(), **changes
    )
    for name, value in changes.items():
        setattr(run, name, value)
    return bool(updated)


def _finish(run: IntakeRun, status: str, error: str = "") -> IntakeRun:
    errors = f"{run.errors}\n{error}".strip() if error else run.errors
    _progress(run, status=status, in_progress=False, finished_at=timezone.now(), errors=errors)
    return run


# --- arXiv OAI-PMH ---------------------------------------------------------------------------------------


def arxiv_window(set_spec: str, today: date) -> tuple[date, date | None]:
    """The window of tonight's harvest of ``set_spec``: from the last successful harvest's end, with a day of overlap
    (records are stamped by the day arXiv changed them; the same record twice changes nothing), or
    INTAKE_ARXIV_FIRST_DAYS back the first time; open-ended."""
    done = IntakeRun.objects.filter(source=Source.ARXIV, set_spec=set_spec, status=Status.SUCCEEDED).first()
    if done is None:
        return today - timedelta(days=settings.INTAKE_ARXIV_FIRST_DAYS), None
    return (done.window_until or done.started_at.date()) - timedelta(days=1), None


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
                start, until = arxiv_window(set_spec, timezone.now().date())
            run = _claim(
                Source.ARXIV,
                set_spec=set_spec,
                window_from=start,
                window_until=until,
                cursor=resume.cursor if resume else "",
                pages=resume.pages if resume else 0,
                resumed_from=resume,
            )
            runs.append(_harvest(run, client, categories, on_page))
    finally:
        client.close()
    return runs


def _harvest(run: IntakeRun, client: PoliteClient, categories: frozenset[str], on_page) -> IntakeRun:
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
                if not _progress(
                    run,
                    cursor=page.token,
                    pages=run.pages + 1,
                    created=run.created + stored.created,
                    updated=run.updated + stored.updated,
                    deleted=run.deleted + withdrawn,
                    skipped=run.skipped + page.skipped + stored.unchanged,
                ):
                    raise SourceError("this run was closed as abandoned while it worked; its last page was not stored")
            if on_page:
                on_page(run, page)
    except OaiPageError as exc:
        log.warning("arXiv harvest %s stopped: %s", run.pk, exc)
        return _finish(run, Status.FAILED, f"{exc} (the next run takes up from this page)")
    except SourceError as exc:
        log.warning("arXiv harvest %s stopped: %s", run.pk, exc)
        return _finish(run, Status.FAILED, f"page {run.pages + 1}: {exc} (the next run takes up from this page)")
    return _finish(run, Status.SUCCEEDED)


# --- the daily trending list -----------------------------------------------------------------------------


def intake_trending(*, day: date | None = None, client: PoliteClient | None = None) -> IntakeRun:
    """Take in the trending list of ``day`` (today by default), keeping each paper's upvotes."""
    day = day or timezone.now().date()
    client = client or _client()
    run = _claim(Source.TRENDING, window_from=day, window_until=day)
    try:
        papers = fetch_day(client, settings.HF_PAPERS_URL, day)
        with transaction.atomic():
            extra = {p.record.id: {"upvotes": p.upvotes, "trending_on": day} for p in papers}
            stored = papers_upsert([p.record for p in papers], source=Paper.Source.TRENDING, extra=extra)
            _progress(run, pages=1, created=stored.created, updated=stored.updated, skipped=stored.unchanged)
    except SourceError as exc:
        log.warning("trending list of %s not taken in: %s", day, exc)
        return _finish(run, Status.FAILED, str(exc))
    finally:
        client.close()
    return _finish(run, Status.SUCCEEDED)


# --- papers by id ----------------------------------------------------------------------------------------


def papers_fetch_by_ids(ids: list[str], *, timeout: float | None = None, client: PoliteClient | None = None) -> list[Paper]:
    """Add the papers of arXiv ``ids`` (without versions) that the catalogue lacks, from the arXiv API; returns the
    papers of ``ids`` now in the catalogue. Raises SourceError when arXiv cannot be reached in ``timeout`` seconds."""
    wanted = list(dict.fromkeys(ids))
    missing = sorted(set(wanted) - set(Paper.objects.filter(external_id__in=wanted).values_list("external_id", flat=True)))
    if missing:
        client = client or PoliteClient(
            user_agent=settings.INTAKE_USER_AGENT,
            timeout=timeout or settings.INTAKE_TIMEOUT_SECONDS,
            min_interval=0,
            max_retries=0,
        )
        run = IntakeRun.objects.create(source=Source.IDS, requested=missing, claimed_by=claimant(), heartbeat_at=timezone.now())
        try:
            records = fetch_by_ids(client, settings.ARXIV_API_URL, missing)
            with transaction.atomic():
                stored = papers_upsert(records, source=Paper.Source.ARXIV)
            IntakeRun.objects.filter(pk=run.pk).update(
                status=Status.SUCCEEDED,
                finished_at=timezone.now(),
                pages=1,
                created=stored.created,
                updated=stored.updated,
                skipped=len(missing) - len(records),
                errors=""
                if len(records) == len(missing)
                else "arXiv does not know: " + ", ".join(sorted(set(missing) - {r.id for r in records})),
            )
        except SourceError as exc:
            IntakeRun.objects.filter(pk=run.pk).update(status=Status.FAILED, finished_at=timezone.now(), errors=str(exc))
            raise
        finally:
            client.close()
    found = {p.external_id: p for p in Paper.objects.filter(external_id__in=wanted)}
    return [found[i] for i in wanted if i in found]
