"""Pages of a reader's collections, the "add to a collection" form of a card and a paper's page (htmx), and a shared
collection's read-only page and Atom feed."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from recommender.models import Collection, Paper
from recommender.selectors.collections import collection_feed, collection_of, collection_papers, collection_shared, collections_of
from recommender.selectors.portability import papers_bibtex
from recommender.selectors.references import ReferencesTooLong
from recommender.services.collections import (
    collection_create,
    collection_delete,
    collection_import,
    collection_in_digest,
    collection_paper_add,
    collection_paper_remove,
    collection_rename,
    collection_share,
    collection_unshare,
)
from recommender.syndication import CollectionFeed

PAGE_PAPERS = 100  # a collection's page lists this many of its papers, the newest added first


def _mine(request: HttpRequest, pk: int) -> Collection:
    try:
        return collection_of(user=request.user, collection_id=pk)
    except Collection.DoesNotExist:
        raise Http404("No such collection of yours.") from None


def _refused(request: HttpRequest, error: ValidationError, *, status: int = 400) -> HttpResponse:
    return render(request, "error.html", {"title": "Not done", "message": " ".join(error.messages)}, status=status)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def collections(request: HttpRequest) -> HttpResponse:
    """The reader's collections; POST ``name`` makes a new one."""
    if request.method == "POST":
        try:
            made = collection_create(owner=request.user, name=request.POST.get("name", ""))
        except ValidationError as exc:
            return _refused(request, exc)
        return redirect("collection_detail", made.pk)
    return render(request, "recommender/collections.html", {"collections": collections_of(user=request.user)})


@login_required
@require_safe
def collection_detail(request: HttpRequest, pk: int) -> HttpResponse:
    collection = _mine(request, pk)
    token = collection.share_token
    context = {
        "collection": collection,
        "papers": collection_papers(collection=collection, limit=PAGE_PAPERS),
        "items": collection_feed(collection=collection, limit=20),
        "share_url": request.build_absolute_uri(reverse("collection_shared", args=[token])) if token else "",
    }
    return render(request, "recommender/collection_detail.html", context)


@login_required
@require_POST
def collection_add(request: HttpRequest) -> HttpResponse:
    """Put ``paper`` in a new collection called ``name`` when one is typed, else in ``collection`` (an id of the
    reader's); for htmx, the card's small form is swapped for a note, else back to where the reader was."""
    paper = get_object_or_404(Paper, external_id=request.POST.get("paper", ""))
    chosen, name = request.POST.get("collection", ""), request.POST.get("name", "").strip()
    try:
        if name or not chosen:
            collection = collection_create(owner=request.user, name=name)
        elif chosen.isdecimal() and len(chosen) < 12:
            collection = _mine(request, int(chosen))
        else:
            raise Http404("No such collection of yours.")
        collection_paper_add(collection=collection, paper=paper)
    except ValidationError as exc:
        if request.htmx:
            return render(request, "recommender/_collected.html", {"error": " ".join(exc.messages)})
        return _refused(request, exc)
    if request.htmx:
        return render(request, "recommender/_collected.html", {"collection": collection})
    messages.success(request, f"Added to “{collection.name}”.")
    return redirect(paper.get_absolute_url())


@login_required
@require_POST
def collection_remove(request: HttpRequest, pk: int) -> HttpResponse:
    collection = _mine(request, pk)
    paper = get_object_or_404(Paper, external_id=request.POST.get("paper", ""))
    collection_paper_remove(collection=collection, paper=paper)
    return redirect("collection_detail", collection.pk)


@login_required
@require_POST
def collection_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Rename (``name``) or delete (``delete``) a collection."""
    collection = _mine(request, pk)
    if request.POST.get("delete"):
        collection_delete(collection=collection)
        messages.success(request, f"Deleted “{collection.name}”; its papers stay saved.")
        return redirect("collections")
    try:
        collection_rename(collection=collection, name=request.POST.get("name", ""))
    except ValidationError as exc:
        return _refused(request, exc)
    return redirect("collection_detail", collection.pk)


@login_required
@require_POST
def collection_digest(request: HttpRequest, pk: int) -> HttpResponse:
    """``in_digest=on`` gives the collection a section in the reader's weekly email; anything else takes it out."""
    collection = collection_in_digest(collection=_mine(request, pk), on=request.POST.get("in_digest") == "on")
    messages.success(request, f"“{collection.name}” is {'now' if collection.in_digest else 'no longer'} a section of your weekly email.")
    return redirect("collection_detail", collection.pk)


@login_required
@require_POST
def collection_sharing(request: HttpRequest, pk: int) -> HttpResponse:
    """``share=on`` makes (or keeps) a read-only link; ``share=off`` revokes it."""
    collection = _mine(request, pk)
    if request.POST.get("share") == "on":
        collection_share(collection=collection)
    else:
        collection_unshare(collection=collection)
    return redirect("collection_detail", collection.pk)


@login_required
@require_POST
def collection_import_view(request: HttpRequest, pk: int) -> HttpResponse:
    """A pasted BibTeX file or list of arXiv ids, into this collection (all or nothing)."""
    collection = _mine(request, pk)
    try:
        added, missing = collection_import(collection=collection, text=request.POST.get("text", ""))
    except ReferencesTooLong as exc:
        return _refused(request, ValidationError(str(exc)))
    except ValidationError as exc:
        return _refused(request, exc)
    note = f"Added {len(added)} paper{'s' if len(added) != 1 else ''}."
    if missing:
        note += f" Not in the catalogue: {len(missing)}."
    messages.success(request, note)
    return redirect("collection_detail", collection.pk)


@login_required
@require_safe
def collection_bibtex(request: HttpRequest, pk: int) -> HttpResponse:
    collection = _mine(request, pk)
    response = HttpResponse(papers_bibtex(collection.papers.order_by("title")), content_type="application/x-bibtex; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="collection-{collection.pk}.bib"'
    return response


@require_safe
def collection_shared_page(request: HttpRequest, token: str) -> HttpResponse:
    """A shared collection, read-only, for anyone with the link: its papers and its feed."""
    collection = collection_shared(token=token)
    if collection is None:
        raise Http404("This link was revoked or never existed.")
    context = {
        "collection": collection,
        "papers": collection_papers(collection=collection, limit=PAGE_PAPERS),
        "items": collection_feed(collection=collection, limit=20, for_owner=False),
        "shared": True,
    }
    return render(request, "recommender/collection_detail.html", context)


collection_shared_atom = CollectionFeed()
