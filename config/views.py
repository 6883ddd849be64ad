"""Site-wide error views."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from recommender.selectors.status import system_status


def refusal(request: HttpRequest, title: str, message: str, *, status: int) -> HttpResponse:
    """A refused request, said plainly: JSON ``{"detail": ...}`` for the API, text for htmx, else a page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message}, status=status)
    if request.headers.get("HX-Request"):
        return HttpResponse(message, status=status, content_type="text/plain")
    return render(request, "error.html", {"title": title, "message": message}, status=status)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A plain explanation instead of Django's debug page: the form was stale or forged."""
    message = "Your request was refused because its security token was missing or out of date. Reload the page and try again."
    if request.headers.get("HX-Request") or request.path.startswith("/api/"):
        return HttpResponse(message, status=403, content_type="text/plain")
    return render(request, "error.html", {"title": "Request refused", "message": message}, status=403)


@never_cache
@require_safe
def status(request: HttpRequest) -> JsonResponse:
    """Health for a load balancer or a person: 200 while the database answers, 503 otherwise."""
    report = system_status()
    return JsonResponse(report, status=200 if report["ok"] else 503, json_dumps_params={"indent": 2})
