"""Pages of the site. Each view parses the request, calls a selector or service, and renders."""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST, require_safe
from django_htmx.http import HttpResponseClientRedirect

from accounts.services import user_set_balance
from recommender.models import Paper
from recommender.selectors.collections import collections_to_pick
from recommender.selectors.feed import feed_page_for_user
from recommender.selectors.fts import MAX_QUERY_LENGTH
from recommender.selectors.neighbours import paper_neighbours
from recommender.selectors.papers import (
    BadCursor,
    feedback_state,
    library_for_user,
    papers_by_author,
    papers_count,
    papers_newest_page,
    papers_trending,
)
from recommender.selectors.portability import library_bibtex, my_data
from recommender.selectors.search import papers_search, search_filters
from recommender.selectors.showcase import example_feed
from recommender.services.feedback import TOGGLE_KINDS, feedback_set, parse_stars, rating_set, read_record, via_checked

_FEEDBACK_DONE = {
    ("like", True): "Liked.",
    ("like", False): "Like removed.",
    ("save", True): "Saved to your library.",
    ("save", False): "Removed from saved.",
    ("dismiss", True): "Hidden: not interested.",
    ("dismiss", False): "Not-interested mark removed.",
}


def _page(request: HttpRequest, items):
    return Paginator(items, settings.FEED_PAGE_SIZE).get_page(request.GET.get("page"))


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    """The reader's feed; for visitors, what Paperfeed does, a real feed for an example reader, and the newest papers."""
    if request.user.is_authenticated:
        return feed(request)
    liked, items = example_feed(limit=3)
    context = {"example_liked": liked, "example_items": items, "newest": papers_newest_page(size=8).papers, "count": papers_count()}
    return render(request, "recommender/home_visitor.html", context)


@login_required
@require_safe
def feed(request: HttpRequest) -> HttpResponse:
    page = _positive_int(request.GET.get("page"), default=1)
    window = "week" if request.GET.get("window") == "week" else "all"
    size = settings.FEED_PAGE_SIZE
    found = feed_page_for_user(user=request.user, limit=size + 1, offset=(page - 1) * size, within_days=7 if window == "week" else None)
    items = found.items
    balance = next((name for name, share in BALANCES.items() if share == request.user.cf_balance), "blend")
    context = {
        "items": items[:size],
        "page_number": page,
        "has_next": len(items) > size,
        "window": window,
        "balance": balance,
        "newcomer": not found.has_feedback,
        "interests": found.interests,
        "collections": collections_to_pick(user=request.user),  # for each card's "+ Collection"
    }
    template = "recommender/_feed_list.html" if request.htmx else "recommender/feed.html"
    return render(request, template, context)


MAX_FEED_PAGES = 50


def _positive_int(raw: str | None, *, default: int) -> int:
    if not raw or not raw.isdecimal():
        return default
    value = int(raw) if len(raw) <= 9 else MAX_FEED_PAGES  # a longer number is past the last page anyway
    return min(value, MAX_FEED_PAGES) if value > 0 else default


@require_safe
def catalogue(request: HttpRequest) -> HttpResponse:
    """The catalogue, newest first, a page at a time by keys (``?older=`` / ``?newer=``, from the page's own links)."""
    try:
        page = papers_newest_page(
            size=settings.FEED_PAGE_SIZE, older_than=request.GET.get("older", "")[:64], newer_than=request.GET.get("newer", "")[:64]
        )
    except BadCursor as exc:
        return render(request, "error.html", {"title": "No such page", "message": str(exc)}, status=400)
    return render(request, "recommender/catalogue.html", {"page": page, "count": papers_count()})


@require_safe
def author_papers(request: HttpRequest, name: str) -> HttpResponse:
    papers = papers_by_author(name=name[:200])
    return render(request, "recommender/author.html", {"name": name[:200], "page": _page(request, papers)})


@require_safe
def trending(request: HttpRequest) -> HttpResponse:
    papers = papers_trending(limit=settings.FEED_PAGE_SIZE)
    return render(request, "recommender/trending.html", {"papers": papers, "days": settings.TRENDING_DAYS})


@require_safe
def search(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    context = {"query": query[:MAX_QUERY_LENGTH], "category": request.GET.get("category", "")[:40], "year": request.GET.get("year", "")[:4]}
    if len(query) > MAX_QUERY_LENGTH:
        context["error"] = f"A search can be at most {MAX_QUERY_LENGTH} characters long."
        return render(request, "recommender/search.html", context, status=400)
    try:
        filters = search_filters(request.GET)
    except ValidationError as exc:
        return render(request, "recommender/search.html", {**context, "error": " ".join(exc.messages)}, status=400)
    if query:
        results = papers_search(query=query, filters=filters, page=_positive_int(request.GET.get("page"), default=1), user=request.user)
        context["results"] = results
        context["newer_url"] = _search_url(request, results.number - 1) if results.number > 1 else ""
        context["older_url"] = _search_url(request, results.number + 1) if results.has_next else ""
    elif "q" in request.GET:
        context["hint"] = "Type a word or two from a title, an abstract or an author’s name."
    return render(request, "recommender/search.html", context)


def _search_url(request: HttpRequest, page: int) -> str:
    params = {name: request.GET[name] for name in ("q", "category", "year") if request.GET.get(name)}
    return f"{reverse('search')}?{urlencode({**params, 'page': page})}"


@require_safe
def paper_detail(request: HttpRequest, external_id: str) -> HttpResponse:
    paper = get_object_or_404(Paper, external_id=external_id)
    via = via_checked(request.GET.get("via"))  # a recommendation led here (feed, email, similar papers)
    if request.user.is_authenticated and request.method == "GET":  # a HEAD (a link checker) is not a read
        read_record(user=request.user, paper=paper, via=via)
        done = _pending_feedback(request, paper)
        if done:
            messages.success(request, done)
    context = {
        "paper": paper,
        "state": feedback_state(user=request.user, paper=paper),
        "collections": collections_to_pick(user=request.user),
        "neighbours": paper_neighbours(paper=paper),
        "via": via,
    }
    return render(request, "recommender/paper_detail.html", context)


@require_POST
def paper_open(request: HttpRequest, external_id: str) -> HttpResponse:
    """Follow a paper's link: records a read, then sends the reader to the paper itself."""
    paper = get_object_or_404(Paper, external_id=external_id)
    if request.user.is_authenticated:
        read_record(user=request.user, paper=paper, via=via_checked(request.POST.get("via")))
    return redirect(paper.url or paper.get_absolute_url())


PENDING_FEEDBACK = "pending_feedback"  # session key: what a visitor asked for before logging in
_VISITOR_VERB = {"like": "like", "save": "save", "dismiss": "hide", "rate": "rate"}


def _login_then_back(request: HttpRequest, paper: Paper) -> HttpResponse:
    """A visitor gave feedback: keep it in their session, ask them to log in (or sign up), and come back to the paper,
    where it is recorded (``_pending_feedback``)."""
    kind = request.POST.get("kind", "")
    if (kind in TOGGLE_KINDS and request.POST.get("on", "1") == "1") or kind == "rate":
        request.session[PENDING_FEEDBACK] = {
            "paper": paper.external_id,
            "kind": kind,
            "stars": request.POST.get("stars", "")[:2],
            "reason": request.POST.get("reason", "")[:10],
            "author": request.POST.get("author", "")[:200],
            "via": via_checked(request.POST.get("via")),
        }
    url = f"{reverse(settings.LOGIN_URL)}?{urlencode({'next': paper.get_absolute_url()})}"
    messages.info(
        request, f"Log in to {_VISITOR_VERB.get(kind, 'keep track of')} this paper (or sign up): it is done as soon as you are in."
    )
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


def _pending_feedback(request: HttpRequest, paper: Paper) -> str:
    """Record the feedback a visitor asked for on ``paper`` before logging in, now that they have; what to tell them."""
    pending = request.session.get(PENDING_FEEDBACK)
    if not isinstance(pending, dict) or pending.get("paper") != paper.external_id:
        return ""
    del request.session[PENDING_FEEDBACK]
    kind, via = pending.get("kind"), pending.get("via", "")
    try:
        if kind == "rate":
            stars = parse_stars(pending.get("stars"))
            if stars is None:
                return ""
            rating_set(user=request.user, paper=paper, stars=stars, via=via)
            return f"Rated {stars} star{'s' if stars != 1 else ''}."
        reason, author = pending.get("reason", ""), pending.get("author", "")
        feedback_set(user=request.user, paper=paper, kind=kind, on=True, reason=reason, author=author, via=via)
    except ValidationError:
        return ""
    return _dismissed_because(reason, author) if reason else _FEEDBACK_DONE[(kind, True)]


@require_POST
def paper_feedback(request: HttpRequest, external_id: str) -> HttpResponse:
    """Like, save, dismiss (``kind``, ``on`` = 1 or 0; a dismissal may give ``reason`` topic or author, with ``author``) or
    rate (``kind=rate``, ``stars`` 1-5 or empty) a paper."""
    paper = get_object_or_404(Paper, external_id=external_id)
    if not request.user.is_authenticated:
        return _login_then_back(request, paper)
    kind, via = request.POST.get("kind", ""), via_checked(request.POST.get("via"))
    try:
        if kind == "rate":
            stars = parse_stars(request.POST.get("stars"))
            rating_set(user=request.user, paper=paper, stars=stars, via=via)
            done = f"Rated {stars} star{'s' if stars != 1 else ''}." if stars else "Rating removed."
        elif kind in TOGGLE_KINDS:
            on = request.POST.get("on", "1")
            if on not in ("0", "1"):
                raise ValidationError("'on' must be 1 or 0.")
            author = request.POST.get("author", "")
            reason = request.POST.get("reason", "") or ("author" if author else "")  # the menu's author buttons send only the name
            feedback_set(user=request.user, paper=paper, kind=kind, on=on == "1", reason=reason, author=author, via=via)
            done = _dismissed_because(reason, author) if on == "1" and reason else _FEEDBACK_DONE[(kind, on == "1")]
        else:
            raise ValidationError(f"Unknown feedback {kind[:20]!r}: use like, save, dismiss or rate.")
    except ValidationError as exc:
        return _feedback_response(request, paper, error=" ".join(exc.messages), status=400)
    return _feedback_response(request, paper, done=done)


def _dismissed_because(reason: str, author: str) -> str:
    if reason == "author":
        return f"Hidden: less from {author}."
    return "Hidden: less on this topic."


def _feedback_response(request: HttpRequest, paper: Paper, *, done: str = "", error: str = "", status: int = 200) -> HttpResponse:
    if request.htmx and request.POST.get("next") and not error:
        # From a list (the feed): the card leaves it, so say what happened, with an undo, for a few seconds.
        kind, on = request.POST.get("kind", ""), request.POST.get("on", "1") == "1"
        context = {
            "paper": paper,
            "done": done,
            "kind": kind,
            "undo": on and kind in TOGGLE_KINDS,
            "next": request.POST["next"],
            "via": via_checked(request.POST.get("via")),
        }
        response = render(request, "recommender/_toast.html", context)
        response["HX-Trigger"] = "feedback-changed"
        return response
    if request.htmx:
        context = {
            "paper": paper,
            "state": feedback_state(user=request.user, paper=paper),
            "done": done,
            "error": error,
            "via": via_checked(request.POST.get("via")),
        }
        response = render(request, "recommender/_feedback.html", context, status=status)
        if not error:
            response["HX-Trigger"] = "feedback-changed"  # the feed on the page reloads itself
        return response
    if error:
        return render(request, "error.html", {"title": "Feedback not recorded", "message": error}, status=400)
    messages.success(request, done)
    next_url = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return redirect(next_url)
    return redirect(paper)


@login_required
@require_safe
def library(request: HttpRequest) -> HttpResponse:
    return render(request, "recommender/library.html", library_for_user(user=request.user))


@login_required
@require_safe
def export_data(request: HttpRequest) -> HttpResponse:
    """All of the reader's feedback as a JSON download."""
    response = JsonResponse(my_data(user=request.user), json_dumps_params={"indent": 2, "ensure_ascii": False})
    response["Content-Disposition"] = f'attachment; filename="paperfeed-{request.user.username}.json"'
    return response


@login_required
@require_safe
def export_bibtex(request: HttpRequest) -> HttpResponse:
    """The reader's liked and saved papers as BibTeX."""
    response = HttpResponse(library_bibtex(user=request.user), content_type="application/x-bibtex; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="paperfeed-{request.user.username}.bib"'
    return response


BALANCES = {"content": 0.0, "blend": None, "readers": 1.0}


@login_required
@require_POST
def feed_balance(request: HttpRequest) -> HttpResponse:
    """Lean the feed towards "papers like mine" (content), the tuned blend, or "what readers like me read"."""
    choice = request.POST.get("balance", "")
    if choice not in BALANCES:
        return render(request, "error.html", {"title": "Not changed", "message": "Choose content, blend or readers."}, status=400)
    user_set_balance(user=request.user, balance=BALANCES[choice])
    return redirect("feed")
