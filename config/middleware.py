"""Site-wide request guards that run before any view, session or database lookup."""

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError

from config.views import refusal

NUL = "\x00"


class HealthCheckMiddleware:
    """``/healthz``: 200 "ok" when this process serves requests. Answered first, so a load balancer's probe by
    address (any Host) and over plain http (HTTPS_ONLY) gets it too; it touches neither the database nor Redis.
    ``/status`` is the full report."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info == "/healthz" and request.method in ("GET", "HEAD"):
            response = HttpResponse("ok\n", content_type="text/plain")
            response["Cache-Control"] = "no-store"
            return response
        return self.get_response(request)


class RejectNulMiddleware:
    """Answer 400 to a NUL character wherever a request carries text: path, query string, headers, cookies and form
    fields (names and values). PostgreSQL text cannot hold NUL and no real client sends one, so one reaching a look-up
    would otherwise be a 500. JSON bodies are checked by the API's parser (``config.parsers.SafeJSONParser``).

    A form body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` or with more than ``DATA_UPLOAD_MAX_NUMBER_FIELDS`` fields is
    answered here too (413 and 400), as is a multipart form that cannot be read (400), with a message.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            where = _where_nul(request)
        except RequestDataTooBig:
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            return refusal(request, "Request too large", f"The request body is larger than the limit of {limit:,} bytes.", status=413)
        except TooManyFieldsSent:
            limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
            return refusal(request, "Request refused", f"The form has more than {limit:,} fields.", status=400)
        except MultiPartParserError as exc:
            return refusal(request, "Request refused", f"The form could not be read ({exc}).", status=400)
        if where:
            message = f"The request was refused: its {where} contains a NUL character (\\x00), which Paperfeed never accepts."
            return refusal(request, "Request refused", message, status=400)
        return self.get_response(request)


def _where_nul(request: HttpRequest) -> str:
    """Which part of ``request`` holds a NUL character ("" when none does)."""
    if NUL in request.path or NUL in request.path_info:
        return "address"
    if _has_nul(request.GET):
        return "query string"
    if any(NUL in value for name, value in request.META.items() if name.startswith("HTTP_") and isinstance(value, str)):
        return "headers"
    if any(NUL in name or NUL in value for name, value in request.COOKIES.items()):
        return "cookies"
    if request.method == "POST" and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        if _has_nul(request.POST) or any(NUL in name or NUL in (upload.name or "") for name, upload in request.FILES.items()):
            return "form"
    return ""


def _has_nul(data) -> bool:
    return any(NUL in name or any(NUL in value for value in values) for name, values in data.lists())
