"""Read-only JSON API for papers (Django REST framework)."""

import logging

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler

from recommender.models import Paper
from recommender.model_store import store
from recommender.selectors.feed import feed_for_user
from recommender.selectors.papers import papers_newest


class PaperSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="external_id", read_only=True)
    url = serializers.CharField(read_only=True)
    link = serializers.SerializerMethodField(help_text="This paper's page on Paperfeed.")

    class Meta:
        model = Paper
        fields = ["id", "title", "abstract", "authors", "published", "url", "link", "added_at"]

    def get_link(self, paper: Paper) -> str:
        request = self.context.get("request")
        path = paper.get_absolute_url()
        return request.build_absolute_uri(path) if request else path


class PaperViewSet(viewsets.ReadOnlyModelViewSet):
    """Papers, newest first. ``GET /api/papers/`` and ``GET /api/papers/<id>/``."""

    serializer_class = PaperSerializer
    lookup_field = "external_id"
    lookup_url_kwarg = "id"
    lookup_value_regex = r"\S+?"

    def get_queryset(self):
        return papers_newest()


def _bounded_int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ValidationError({name: f"must be a whole number from {low} to {high}"})
    return int(raw)


log = logging.getLogger(__name__)


def json_exception_handler(exc: Exception, context: dict) -> Response:
    """DRF's handler for API errors; anything unexpected becomes a JSON 500 (logged), never an HTML page."""
    response = exception_handler(exc, context)
    if response is None:
        log.exception("API error in %s", context.get("view").__class__.__name__, exc_info=exc)
        response = Response({"detail": "Internal server error. It has been logged."}, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    return response


_FEED_RESPONSE = inline_serializer(
    "FeedResponse",
    {
        "model": serializers.CharField(allow_null=True, help_text="Version of the model that ranked the feed; null before the first training."),
        "results": inline_serializer(
            "FeedItem",
            {
                "paper": PaperSerializer(),
                "score": serializers.FloatField(),
                "reason": serializers.CharField(),
                "source": serializers.ChoiceField(choices=["content", "collaborative", "popular"]),
                "because": serializers.CharField(allow_null=True, help_text="Id of the reader's paper behind the reason."),
            },
            many=True,
        ),
    },
)


class FeedView(APIView):
    """``GET /api/feed/?limit=20&offset=0``: the signed-in reader's feed with scores and reasons."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        parameters=[
            OpenApiParameter("limit", int, description="Papers to return, 1 to 100 (default 20)."),
            OpenApiParameter("offset", int, description="Papers to skip, 0 to 900 (default 0)."),
        ],
        responses={200: _FEED_RESPONSE},
    )
    def get(self, request: Request) -> Response:
        limit = _bounded_int(request, "limit", 20, 1, 100)
        offset = _bounded_int(request, "offset", 0, 0, 900)
        items = feed_for_user(user=request.user, limit=limit, offset=offset)
        context = {"request": request}
        return Response(
            {
                "model": store.current().version or None,
                "results": [
                    {
                        "paper": PaperSerializer(item.paper, context=context).data,
                        "score": round(item.score, 4),
                        "reason": item.reason,
                        "source": item.source,
                        "because": item.because.external_id if item.because else None,
                    }
                    for item in items
                ],
            }
        )
