"""Every email Paperfeed sends is built here, from a subject/text/html template triplet."""

from datetime import date
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from accounts.models import User
from recommender.links import action_url, unsubscribe_url
from recommender.selectors.feed import FeedItem

Sections = list[tuple[str, list[FeedItem]]]  # (a collection's name, picks for it), each a section of the email


def digest_context(*, user: User, items: list[FeedItem], week: date, sections: Sections = ()) -> dict:
    """What the digest templates show: each paper with its reason and signed action links, then a section of picks
    for each of the reader's collections in the email."""

    def with_links(item: FeedItem) -> dict:
        return {
            "item": item,
            "open_url": action_url(user_id=user.pk, paper_id=item.paper.pk, action="open"),
            "like_url": action_url(user_id=user.pk, paper_id=item.paper.pk, action="like"),
            "dismiss_url": action_url(user_id=user.pk, paper_id=item.paper.pk, action="dismiss"),
        }

    papers = [with_links(item) for item in items]
    return {
        "user": user,
        "week": week,
        "papers": papers,
        "sections": [{"name": name, "papers": [with_links(item) for item in picks]} for name, picks in sections],
        "count": len(items) + sum(len(picks) for _, picks in sections),
        "first_title": next((item.paper.title for item in [*items, *(i for _, picks in sections for i in picks)]), ""),
        "unsubscribe_url": unsubscribe_url(user_id=user.pk),
        "settings_url": settings.SITE_URL + "/accounts/settings/",
        "site_url": settings.SITE_URL,
    }


def digest_message(*, user: User, items: list[FeedItem], week: date, sections: Sections = ()) -> EmailMultiAlternatives:
    """The weekly digest for ``user``: plain text and HTML, one-click unsubscribe (RFC 8058), a stable Message-ID."""
    context = digest_context(user=user, items=items, week=week, sections=sections)
    subject = " ".join(render_to_string("emails/digest_subject.txt", context).split())
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("emails/digest.txt", context),
        to=[user.email],
        headers={
            "List-Unsubscribe": f"<{context['unsubscribe_url']}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Message-ID": f"<digest-{week.isoformat()}-{user.pk}@{urlsplit(settings.SITE_URL).hostname or 'paperfeed'}>",
        },
    )
    message.attach_alternative(render_to_string("emails/digest.html", context), "text/html")
    return message
