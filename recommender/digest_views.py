"""Pages behind the links in the weekly email, and the digest preview."""

from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_replace
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

from accounts.models import User
from accounts.services import user_update_preferences
from recommender.emails import digest_context
from recommender.links import BadLink, read_action, read_unsubscribe
from recommender.models import Interaction, Paper
from recommender.services.digests import digests_compose, week_of
from recommender.services.feedback import feedback_set, read_record

_CONFIRM = {"open": "Open the paper", "like": "Like this paper", "dismiss": "Not interested in this paper"}


def _refused(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "recommender/digest_link.html", {"error": message}, status=400)


@require_http_methods(["GET", "POST"])
def digest_action(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows what the link will do; the POST from that page does it (mail scanners only follow GETs)."""
    try:
        action = read_action(token)
    except BadLink as exc:
        return _refused(request, str(exc))
    if request.user.is_authenticated and request.user.pk != action.user_id:
        return _refused(request, "This link belongs to another reader's email. Log out, or act on the paper from your own feed.")
    user = get_object_or_404(User, pk=action.user_id, is_active=True)
    paper = get_object_or_404(Paper, pk=action.paper_id)
    if request.method == "GET":
        return render(request, "recommender/digest_link.html", {"paper": paper, "action": action.action, "label": _CONFIRM[action.action]})
    if action.action == "open":
        read_record(user=user, paper=paper, via=Interaction.Via.EMAIL)
        return redirect(paper.url or paper.get_absolute_url())
    feedback_set(user=user, paper=paper, kind=action.action, on=True, via=Interaction.Via.EMAIL)
    return render(request, "recommender/digest_link.html", {"paper": paper, "done": action.action})


@csrf_exempt  # RFC 8058: mail clients POST "List-Unsubscribe=One-Click" with no cookies and no form of ours
@require_http_methods(["GET", "POST"])
def digest_unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET asks for confirmation; POST (a button here, or the mail client's one click) turns the digest off."""
    try:
        user_id = read_unsubscribe(token)
    except BadLink as exc:
        return _refused(request, str(exc))
    user = get_object_or_404(User, pk=user_id)
    if request.method == "GET":
        return render(request, "recommender/digest_unsubscribe.html", {"reader": user, "done": False})
    user_update_preferences(user=user, weekly_digest=False)
    return render(request, "recommender/digest_unsubscribe.html", {"reader": user, "done": True})


@login_required
@require_safe
@csp_replace({"style-src": [SELF, UNSAFE_INLINE]})  # the email's inline styles, in a sandboxed frame (no scripts run there)
def digest_preview(request: HttpRequest) -> HttpResponse:
    """Exactly what the next email would contain (nothing is sent or logged)."""
    week = week_of()
    digest = digests_compose(users=[request.user], week=week)[0]
    context = digest_context(user=request.user, items=digest.items, week=week, sections=digest.sections)
    subject = " ".join(render_to_string("emails/digest_subject.txt", context).split()) if digest.papers else ""
    html = render_to_string("emails/digest.html", context) if digest.papers else ""
    return render(request, "recommender/digest_preview.html", {"subject": subject, "html": html, "count": len(digest.papers)})
