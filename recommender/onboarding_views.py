"""Onboarding: a new reader's first minute, from picks and a pasted reading list to a rating round and the feed.

It lives with the recommender (it seeds the feed); its addresses stay under /accounts/welcome/, where sign-up leads.
"""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from accounts.forms import CategoriesForm
from accounts.services import user_follow_categories
from recommender.models import Paper
from recommender.selectors.fts import MAX_QUERY_LENGTH
from recommender.selectors.neighbours import MAX_TEXT_LENGTH, papers_close_to_text
from recommender.selectors.onboarding import onboarding_round
from recommender.selectors.papers import library_for_user
from recommender.selectors.references import MAX_TITLE_LOOKUPS, ReferencesTooLong
from recommender.selectors.search import papers_search
from recommender.services.feedback import likes_add, parse_stars, ratings_set
from recommender.services.onboarding import pasted_references_like

ABOUT_SESSION_KEY = "welcome_about"  # the text a reader pasted about their work, kept while they pick from its papers


@login_required
@require_http_methods(["GET", "POST"])
def welcome(request: HttpRequest) -> HttpResponse:
    """Onboarding, step 1: seed the feed by searching and picking papers, by pasting ids, titles or BibTeX, or by
    pasting an abstract (or a few sentences about one's work) and picking from the papers closest to it."""
    query = request.GET.get("q", "").strip()[:MAX_QUERY_LENGTH]
    context = {
        "query": query,
        "results": papers_search(query=query, per_page=10).papers if query else [],
        "max_titles": MAX_TITLE_LOOKUPS,
        "max_about": MAX_TEXT_LENGTH,
    }
    status = 200
    if request.method == "POST" and "pick" in request.POST:
        paper = get_object_or_404(Paper, external_id=request.POST["pick"])
        likes_add(user=request.user, papers=[paper])
        messages.success(request, f"Picked “{paper.title}”.")
        if request.POST.get("back") == "about":
            return redirect(f"{reverse('welcome')}?about=1#about")
        return redirect(f"{reverse('welcome')}?{urlencode({'q': request.POST.get('q', '')[:MAX_QUERY_LENGTH]})}")
    if request.method == "POST" and "about" in request.POST:
        about = request.POST["about"].replace("\r\n", "\n").strip()  # a browser counts a line break as one character
        if about and len(about) <= MAX_TEXT_LENGTH:
            request.session[ABOUT_SESSION_KEY] = about
            return redirect(f"{reverse('welcome')}?about=1#about")
        context["about_error"], status = _about_error(about), 400
        context["about"] = about[:MAX_TEXT_LENGTH]
    elif request.GET.get("about") and request.session.get(ABOUT_SESSION_KEY):
        context["about"] = request.session[ABOUT_SESSION_KEY]
        context["close"] = papers_close_to_text(text=context["about"], limit=10)
    elif request.method == "POST":
        text = request.POST.get("references", "")
        try:
            found = pasted_references_like(user=request.user, text=text)
        except ReferencesTooLong as exc:
            context["paste_error"], status = str(exc), 400
        else:
            context.update(pasted=text, found=found, added=found.added)
    liked = library_for_user(user=request.user)["liked"]
    context.update(picks=[i.paper for i in liked], picked_ids={i.paper_id for i in liked})
    context.setdefault("categories_form", CategoriesForm(initial={"categories": request.user.categories}))
    return render(request, "recommender/welcome.html", context, status=status)


@login_required
@require_POST
def follow_categories(request: HttpRequest) -> HttpResponse:
    """Onboarding: the arXiv categories the reader's feed keeps to."""
    form = CategoriesForm(request.POST)
    if not form.is_valid():
        return render(request, "recommender/welcome.html", {"categories_form": form}, status=400)
    user_follow_categories(user=request.user, categories=form.cleaned_data["categories"])
    followed = ", ".join(form.cleaned_data["categories"]) or "every category"
    messages.success(request, f"Your feed follows {followed}.")
    return redirect("welcome")


@login_required
@require_http_methods(["GET", "POST"])
def welcome_rate(request: HttpRequest) -> HttpResponse:
    """Onboarding, step 2: rate a short round of papers chosen to teach the model the most; then the feed."""
    if request.method == "POST":
        wanted = {_paper_pk(key.removeprefix("stars-")): value for key, value in request.POST.items() if key.startswith("stars-")}
        papers = Paper.objects.in_bulk([pk for pk in wanted if pk is not None])
        try:
            stars = {papers[pk]: parse_stars(value) for pk, value in wanted.items() if pk in papers}
        except ValidationError as exc:
            context = {"papers": list(papers.values()), "error": " ".join(exc.messages)}
            return render(request, "recommender/welcome_rate.html", context, status=400)
        rated = ratings_set(user=request.user, stars_by_paper={p: s for p, s in stars.items() if s is not None}, via="round")
        picked = len(library_for_user(user=request.user)["liked"])
        messages.success(
            request, f"Your feed is ready: it follows the {picked} paper{'s' if picked != 1 else ''} you picked and the {rated} you rated."
        )
        return redirect("feed")
    return render(request, "recommender/welcome_rate.html", {"papers": onboarding_round(user=request.user)})


def _about_error(text: str) -> str:
    if not text:
        return "Paste an abstract, or a few sentences about your work."
    return f"That text is {len(text):,} characters long; paste at most {MAX_TEXT_LENGTH:,} (one abstract is enough)."


def _paper_pk(text: str) -> int | None:
    """A paper's id from a form field name; None for anything that cannot be one (not digits, or past a 64-bit id)."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None
