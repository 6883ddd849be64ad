"""Signed, expiring links in emails: an action on one paper for one reader, and one-click unsubscribe.

Each token carries the reader's id (and the paper and action) and is signed with SECRET_KEY;
a changed character, another purpose or an expired token is refused.
"""

from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.urls import reverse

ACTIONS = ("open", "like", "dismiss")
_ACTION_SALT = "paperfeed.digest.action"
_UNSUBSCRIBE_SALT = "paperfeed.digest.unsubscribe"


class BadLink(Exception):
    """The link was changed, has expired or is not for this purpose."""


@dataclass(frozen=True)
class PaperAction:
    user_id: int
    paper_id: int
    action: str


def action_url(*, user_id: int, paper_id: int, action: str) -> str:
    token = signing.dumps({"u": user_id, "p": paper_id, "a": action}, salt=_ACTION_SALT, compress=True)
    return settings.SITE_URL + reverse("digest_action", args=[token])


def unsubscribe_url(*, user_id: int) -> str:
    token = signing.dumps({"u": user_id}, salt=_UNSUBSCRIBE_SALT, compress=True)
    return settings.SITE_URL + reverse("digest_unsubscribe", args=[token])


def read_action(token: str) -> PaperAction:
    try:
        data = signing.loads(token, salt=_ACTION_SALT, max_age=settings.DIGEST_LINK_MAX_AGE_DAYS * 86400)
        action = PaperAction(int(data["u"]), int(data["p"]), str(data["a"]))
    except signing.SignatureExpired:
        raise BadLink("This link has expired. Open Paperfeed to act on the paper instead.") from None
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise BadLink("This link is not valid: it may have been changed or cut short.") from None
    if action.action not in ACTIONS:
        raise BadLink("This link is not valid: it may have been changed or cut short.")
    return action


def read_unsubscribe(token: str) -> int:
    try:
        return int(signing.loads(token, salt=_UNSUBSCRIBE_SALT, max_age=settings.DIGEST_UNSUBSCRIBE_MAX_AGE_DAYS * 86400)["u"])
    except signing.SignatureExpired:
        raise BadLink("This unsubscribe link has expired. Turn the weekly email off on your settings page instead.") from None
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise BadLink("This unsubscribe link is not valid: it may have been changed or cut short.") from None
