"""The weekly digest: compose with the feed's ranking, send at most once per reader and week.

The weekly job writes a ``pending`` DigestLog row for every recipient, then queues one task per
batch. A batch is composed together (one scoring pass) and sent over one SMTP connection. Each
reader's row moves pending -> sending -> sent by conditional updates, so a retried, redelivered or
repeated batch never sends twice. A row whose email may have reached the mail server stays
"sending" and is never sent again (at most once): a crash while sending, or a connection that broke
while the message was being handed over (the server may have accepted it without our hearing so).
Only failures known to leave the email unsent (no connection, or the server answered with an error)
put the row back to ``pending`` for the retry. A sweep queues again rows left ``pending`` by a
batch that stopped (its soft time limit, a lost message) after DIGEST_STALE_MINUTES.
"""

from __future__ import annotations

import logging
import smtplib
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
from django.conf import settings
from django.core.mail import get_connection
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from recommender.emails import digest_message
from recommender.model_store import store
from recommender.models import Collection, DigestLog
from recommender.selectors.collections import collection_feed
from recommender.selectors.feed import SHORT_LIST_BREADTH, FeedItem, explained_papers, rank_readers, readers_feedback

log = logging.getLogger(__name__)
Status = DigestLog.Status
SECTIONS = 3  # collections a reader may give a section of the email, at most
SECTION_SIZE = 3  # papers in a collection's section
NEW_PAPER_BOOST = 1.0  # added to the blended score (a blend of per-reader standardised parts): papers new since the last digest come first


def week_of(moment: datetime | date | None = None) -> date:
    """Monday of the ISO week of ``moment`` (today by default)."""
    moment = moment or timezone.now()
    day = moment.date() if isinstance(moment, datetime) else moment
    return day - timedelta(days=day.weekday())


def digest_recipients() -> list[int]:
    """Ids of active readers who asked for the weekly email and have an address."""
    return list(User.objects.filter(weekly_digest=True, is_active=True).exclude(email="").order_by("id").values_list("id", flat=True))


@dataclass
class Digest:
    user: User
    items: list[FeedItem]
    sections: list[tuple[str, list[FeedItem]]] = field(default_factory=list)  # (a collection's name, picks for it)

    @property
    def papers(self) -> list[FeedItem]:
        return self.items + [item for _, items in self.sections for item in items]


def digests_compose(*, users: list[User], week: date) -> list[Digest]:
    """Each reader's digest for ``week``: up to DIGEST_SIZE papers not read, dismissed or sent before."""
    if not users:
        return []
    served = store.current()
    if served is None:  # a web process still loading its first model (a preview): nothing to compose yet
        return [Digest(user, []) for user in users]
    now = time.time()
    ids = [u.pk for u in users]
    feedback = readers_feedback(served, ids, now, with_facets=True)
    history = DigestLog.objects.filter(user_id__in=ids, status__in=[Status.SENT, Status.SENDING]).exclude(week=week)
    sent: dict[int, set[int]] = {}
    last_sent: dict[int, float] = {}
    for user_id, papers, sent_at in history.values_list("user_id", "papers", "sent_at"):
        sent.setdefault(user_id, set()).update(papers)
        if sent_at:
            last_sent[user_id] = max(last_sent.get(user_id, 0.0), sent_at.timestamp())
    exclude = [np.array([served.column_of[pk] for pk in sent.get(uid, ()) if pk in served.column_of], dtype=np.int64) for uid in ids]
    new_since = np.array([last_sent.get(uid, now - 7 * 86400) for uid in ids], dtype=np.float64)  # papers added since come first
    picks = rank_readers(
        served,
        feedback,
        limit=settings.DIGEST_SIZE,
        now=now,
        exclude=exclude,
        new_since=new_since,
        new_boost=NEW_PAPER_BOOST,
        pool_size=50,
        breadth=SHORT_LIST_BREADTH,  # ten papers, not a feed that pages: fewer candidates keep the same best ten
        first_page=settings.DIGEST_SIZE,  # each of the reader's interests is sure of a place in the email
    )
    digests = [Digest(user, items) for user, items in zip(users, explained_papers(served, feedback, picks))]
    _collection_sections(digests, sent)
    return digests


def _collection_sections(digests: list[Digest], sent: dict[int, set[int]]) -> None:
    """Add to each digest a section for each collection its reader put in the email (SECTIONS at most): the best
    SECTION_SIZE of that collection's feed not in the email already nor sent before."""
    by_owner: dict[int, list[Collection]] = {}
    wanted = Collection.objects.filter(owner_id__in=[d.user.pk for d in digests], in_digest=True).order_by("owner_id", "name", "id")
    for collection in wanted:
        by_owner.setdefault(collection.owner_id, []).append(collection)
    for digest in digests:
        taken = sent.get(digest.user.pk, set()) | {item.paper.pk for item in digest.items}
        for collection in by_owner.get(digest.user.pk, [])[:SECTIONS]:
            found = collection_feed(collection=collection, limit=SECTION_SIZE, leave_out=taken)
            picks = [item for item in found if item.source != "popular"]  # a section is for the collection, not the trending list
            if picks:
                digest.sections.append((collection.name, picks))
                taken |= {item.paper.pk for item in picks}


def digest_batch_send(*, user_ids: list[int], week: date) -> dict[str, int]:
    """Compose and send the digests of ``user_ids`` for ``week`` over one mail connection; safe to run again.
    Returns counts by outcome. Raises the mail error (rows not handed over are pending again) for a retry."""
    DigestLog.objects.bulk_create([DigestLog(user_id=uid, week=week, queued_at=timezone.now()) for uid in user_ids], ignore_conflicts=True)
    pending = set(DigestLog.objects.filter(user_id__in=user_ids, week=week, status=Status.PENDING).values_list("user_id", flat=True))
    counts = {"sent": 0, "skipped": 0, "failed": 0, "not_pending": len(user_ids) - len(pending)}
    users = list(User.objects.filter(pk__in=pending).order_by("id"))
    connection = get_connection()
    try:
        for digest in digests_compose(users=users, week=week):
            counts[_send_one(digest, week, connection)] += 1
    finally:
        connection.close()
    return counts


def _send_one(digest: Digest, week: date, connection) -> str:
    user = digest.user
    mine = DigestLog.objects.filter(user=user, week=week, status=Status.PENDING)
    if not digest.papers:
        mine.update(status=Status.SKIPPED, note="Nothing new to recommend this week.")
        log.info("digest %s for %s: skipped, nothing new", week, user.username)
        return "skipped"
    message = digest_message(user=user, items=digest.items, week=week, sections=digest.sections)
    connection.open()  # once per batch (a no-op while open); if it fails, nothing is claimed and the row stays pending
    claimed = mine.update(
        status=Status.SENDING,
        papers=[item.paper.pk for item in digest.papers],
        subject=message.subject,
        message_id=message.extra_headers["Message-ID"],
    )
    if not claimed:
        return "not_pending"  # another worker took this reader
    sending = DigestLog.objects.filter(user=user, week=week, status=Status.SENDING)
    try:
        connection.send_messages([message])
    except smtplib.SMTPRecipientsRefused as exc:
        sending.update(status=Status.FAILED, note=f"Address refused: {exc}"[:300])
        return "failed"
    except smtplib.SMTPResponseException:
        sending.update(status=Status.PENDING)  # the server answered with an error: it did not take the email
        raise
    except (smtplib.SMTPException, OSError) as exc:
        # The connection broke while the email was being handed over: the server may have accepted it. At most once.
        sending.update(note=f"Connection lost while sending ({type(exc).__name__}): the server may have it; not sent again."[:300])
        raise
    sending.update(status=Status.SENT, sent_at=timezone.now())
    return "sent"


def digest_stalled_requeue(*, stale_minutes: int | None = None, queue: bool = True) -> list[list[int]]:
    """Queue again this week's readers whose rows are still ``pending`` DIGEST_STALE_MINUTES after their batch was
    queued (it stopped at its time limit, or its message was lost); returns the batches. Earlier weeks' rows left
    pending are closed as failed. Each row is re-stamped by a conditional update, so two sweeps queue it once."""
    now = timezone.now()
    week = week_of(now)
    DigestLog.objects.filter(status=Status.PENDING, week__lt=week).update(status=Status.FAILED, note="Not sent within its week.")
    cutoff = now - timedelta(minutes=settings.DIGEST_STALE_MINUTES if stale_minutes is None else stale_minutes)
    stale = DigestLog.objects.filter(week=week, status=Status.PENDING).filter(
        Q(queued_at__lt=cutoff) | Q(queued_at__isnull=True, created__lt=cutoff)
    )
    user_ids = []
    for pk, user_id, queued_at in stale.values_list("pk", "user_id", "queued_at"):
        if DigestLog.objects.filter(pk=pk, status=Status.PENDING, queued_at=queued_at).update(queued_at=now):
            user_ids.append(user_id)
    batches = _batches(sorted(user_ids))
    if queue:
        _queue(batches, week)
    if batches:
        log.info("digest %s: %d readers left pending by a stopped batch queued again", week, len(user_ids))
    return batches


def _batches(user_ids: list[int]) -> list[list[int]]:
    size = settings.DIGEST_BATCH_SIZE
    return [user_ids[i : i + size] for i in range(0, len(user_ids), size)]


def _queue(batches: list[list[int]], week: date) -> None:
    from tasks.digests import send_digest_batch

    for batch in batches:
        transaction.on_commit(lambda batch=batch: send_digest_batch.apply_async(args=[batch, week.isoformat()]))


def digest_week_start(*, week: date | None = None, queue: bool = True) -> tuple[date, list[list[int]]]:
    """Write a pending row for each of this week's recipients and split them into batches; queue one task per batch
    (after commit), or return them to run here. Readers already handled this week are left as they are."""
    week = week or week_of()
    recipients = digest_recipients()
    now = timezone.now()
    DigestLog.objects.bulk_create([DigestLog(user_id=uid, week=week, queued_at=now) for uid in recipients], ignore_conflicts=True)
    batches = _batches(recipients)
    if queue:
        _queue(batches, week)
    return week, batches
