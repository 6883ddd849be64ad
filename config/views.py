"""Site-wide error views."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A plain explanation instead of Django's debug page: the form was stale or forged."""
    message = "Your request was refused because its security token was missing or out of date. Reload the page and try again."
    if request.headers.get("HX-Request") or request.path.startswith("/api/"):
        return HttpResponse(message, status=403, content_type="text/plain")
    return render(request, "error.html", {"title": "Request refused", "message": message}, status=403)
