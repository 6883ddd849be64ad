"""The reader's interests page: the facets the feed found in their papers, to rename, merge or hide."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from recommender.selectors.facets import facets_of
from recommender.services.facets import FacetError, facet_hide, facet_rename, facets_merge


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def interests(request: HttpRequest) -> HttpResponse:
    """GET: the reader's interests and their sizes. POST ``facet`` with ``action`` = rename (``name``), hide, show or
    merge (``into``), then back here."""
    if request.method == "POST":
        facet, action = request.POST.get("facet", ""), request.POST.get("action", "")
        try:
            if action == "rename":
                facet_rename(user=request.user, facet_id=facet, name=request.POST.get("name", ""))
            elif action in ("hide", "show"):
                facet_hide(user=request.user, facet_id=facet, hidden=action == "hide")
            elif action == "merge":
                facets_merge(user=request.user, facet_id=facet, into_id=request.POST.get("into", ""))
            else:
                raise FacetError("Pick rename, hide, show or merge.")
        except FacetError as exc:
            return render(request, "error.html", {"title": "Not done", "message": str(exc)}, status=400)
        messages.success(request, "Your interests are updated; the feed follows at once.")
        return redirect("interests")
    return render(request, "recommender/interests.html", {"facets": facets_of(user=request.user)})
