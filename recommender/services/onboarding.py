"""Seeding a new reader's feed from what they paste: papers found become likes, and arXiv papers the catalogue
does not have yet are fetched from arXiv (briefly in the request, else in the background) and liked too."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction

from accounts.models import User
from config.ratelimit import rate_limit_hit
from recommender.models import Paper
from recommender.selectors.references import references_match
from recommender.services.feedback import likes_add
from recommender.services.intake import papers_fetch_by_ids
from recommender.sources import SourceError, SourceTimeout

log = logging.getLogger(__name__)


@dataclass
class PasteResult:
    papers: list[Paper] = field(default_factory=list)  # found or fetched, now liked
    unmatched: list[str] = field(default_factory=list)  # references that found nothing, as pasted
    not_looked_up: list[str] = field(default_factory=list)  # titles past the paste's budget of look-ups
    fetched: list[Paper] = field(default_factory=list)  # of ``papers``: new to the catalogue, just taken from arXiv
    pending: list[str] = field(default_factory=list)  # arXiv ids still being fetched in the background
    source_error: str = ""  # why unknown arXiv ids could not be fetched
    added: int = 0  # likes that are new


def pasted_references_like(*, user: User, text: str) -> PasteResult:
    """Like every paper ``text`` refers to; raises ReferencesTooLong. arXiv ids the catalogue lacks are asked of
    arXiv for at most INTAKE_PASTE_WAIT_SECONDS; if it does not answer in time they are fetched (and liked) by a
    background task; if it cannot be reached at all they are reported as not found, with the reason."""
    found = references_match(text=text)
    result = PasteResult(papers=list(found.papers), not_looked_up=found.not_looked_up)
    missing = list(found.unmatched_arxiv)
    if missing and not _may_fetch(user):
        result.source_error = "You have asked arXiv for papers several times this minute: paste these again in a minute."
        missing = []
    if missing:
        try:
            result.fetched = papers_fetch_by_ids(missing, timeout=settings.INTAKE_PASTE_WAIT_SECONDS)
        except SourceTimeout as exc:
            log.info("arXiv did not answer in time (%s); fetching %d papers in the background", exc, len(missing))
            result.pending = missing
            transaction.on_commit(lambda: _fetch_later(missing, user.pk))
        except SourceError as exc:  # unreachable (no network) or refused: the ids stay "not found", and say why
            log.warning("arXiv could not be asked for pasted ids: %s", exc)
            result.source_error = "arXiv could not be reached, so papers not yet in the catalogue could not be fetched."
        result.papers += [p for p in result.fetched if p not in result.papers]
    resolved = {found.unmatched_arxiv[p.external_id] for p in result.fetched} | {found.unmatched_arxiv[i] for i in result.pending}
    result.unmatched = [text for text in found.unmatched if text not in resolved]
    result.added = likes_add(user=user, papers=result.papers)
    return result


def _may_fetch(user: User) -> bool:
    """Whether a paste may ask arXiv now: INTAKE_PASTE_FETCHES_PER_MINUTE per reader, INTAKE_SITE_FETCHES_PER_MINUTE in
    all (each fetch keeps arXiv's pace besides)."""
    mine, _ = rate_limit_hit(f"arxiv-fetch:user:{user.pk}", limit=settings.INTAKE_PASTE_FETCHES_PER_MINUTE, period=60)
    return mine and rate_limit_hit("arxiv-fetch:site", limit=settings.INTAKE_SITE_FETCHES_PER_MINUTE, period=60)[0]


def pasted_papers_like(*, user_id: int, papers: list[Paper]) -> int:
    """Like ``papers`` for the reader ``user_id`` (fetched in the background after they pasted them)."""
    user = User.objects.filter(pk=user_id).first()
    return likes_add(user=user, papers=papers) if user else 0


def _fetch_later(ids: list[str], user_id: int) -> None:
    from kombu.exceptions import OperationalError as BrokerError

    from tasks.intake import fetch_ids

    try:
        fetch_ids.delay(ids, like_for_user=user_id)
    except BrokerError:
        log.warning("broker unreachable: %d pasted arXiv ids not fetched (%s)", len(ids), ", ".join(ids))
