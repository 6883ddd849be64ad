"""One job of a kind at a time: a row that holds the claim (a unique constraint on its kind's in-progress rows), which
process holds it (``host:pid``), and writes that happen only while it still does."""

import os
import socket
from collections.abc import Callable

from django.db import IntegrityError, models, transaction


def claimant() -> str:
    """Who is running a job: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def claimant_is_dead(claimed_by: str) -> bool:
    """True when ``claimed_by`` names a process on this host that no longer exists."""
    host, _, pid = claimed_by.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def claim_create(model: type[models.Model], busy: Callable[[], Exception], **fields) -> models.Model:
    """Create the in-progress row of ``model`` that holds the claim, or raise ``busy()`` when another row holds it."""
    try:
        with transaction.atomic():
            return model.objects.create(in_progress=True, **fields)
    except IntegrityError:
        raise busy() from None


def claim_update(row: models.Model, **values) -> bool:
    """Write ``values`` to ``row`` only while it holds its claim (in progress, claimed by the same process); False when
    it lost it (closed as abandoned, or taken over), and then nothing is written."""
    return bool(type(row).objects.filter(pk=row.pk, in_progress=True, claimed_by=row.claimed_by).update(**values))
