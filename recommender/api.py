"""The JSON API (Django REST framework): papers, search, the reader's feed, and feedback (record and undo)."""

import logging
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler

from recommender.model_store import store
from recommender.models import Interaction, Paper
from recommender.selectors.feed import FeedItem, feed_for_user
from recommender.selectors.fts import MAX_QUERY_LENGTH
from recommender.selectors.neighbours import paper_neighbours
from recommender.selectors.papers import BadCursor, feedback_state, papers_count, papers_newest, papers_newest_page
from recommender.selectors.search import MAX_PAGES, papers_search, search_filters
from recommender.services.feedback import TOGGLE_KINDS, feedback_set, parse_stars, rating_set, read_record


class PaperSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="external_id", read_only=True)
    url = serializers.CharField(read_only=True)
    link = serializers.SerializerMethodField(help_text="This paper's page on Paperfeed.")

    class Meta:
        model = Paper
        fields = ["id", "title", "abstract", "authors", "published", "url", "link", "added_at"]

    def get_link(self, paper: Paper) -> str:
        request = self.context.get("request")
        if request is None:
            return paper.get_absolute_url()
        if "site_root" not in self.context:  # the host is checked once per response, not once per paper
            self.context["site_root"] = request.build_absolute_uri("/")[:-1]
        return self.context["site_root"] + paper.get_absolute_url()


class CataloguePagination(BasePagination):
    """The catalogue, newest first, a page at a time by keys (``?older=`` from ``next``, ``?newer=`` from ``previous``):
    each page is a range of an index, however deep (``selectors.papers.papers_newest_page``). ``count`` is PostgreSQL's
    estimate for a large catalogue (``count_exact`` says which)."""

    def paginate_queryset(self, queryset, request: Request, view=None) -> list[Paper]:
        older, newer = request.query_params.get("older", "")[:64], request.query_params.get("newer", "")[:64]
        try:
            self.page = papers_newest_page(size=settings.REST_FRAMEWORK["PAGE_SIZE"], older_than=older, newer_than=newer)
        except BadCursor as exc:
            raise ValidationError({"older" if older else "newer": str(exc)}) from None
        self.base = request.build_absolute_uri(request.path)
        return self.page.papers

    def get_paginated_response(self, data) -> Response:
        count = papers_count()
        return Response(
            {
                "count": count.value,
                "count_exact": count.exact,
                "next": f"{self.base}?{urlencode({'older': self.page.older})}" if self.page.older else None,
                "previous": f"{self.base}?{urlencode({'newer': self.page.newer})}" if self.page.newer else None,
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema: dict) -> dict:
        link = {"type": "string", "format": "uri", "nullable": True}
        return {
            "type": "object",
            "required": ["count", "count_exact", "next", "previous", "results"],
            "properties": {
                "count": {"type": "integer", "description": "Papers in the catalogue (an estimate for a large one)."},
                "count_exact": {"type": "boolean"},
                "next": link,
                "previous": link,
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view) -> list[dict]:
        return [
            {"name": "older", "in": "query", "required": False, "schema": {"type": "string"}, "description": "The key in a `next` link."},
            {
                "name": "newer",
                "in": "query",
                "required": False,
                "schema": {"type": "string"},
                "description": "The key in a `previous` link.",
            },
        ]


class FeedbackSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["read", "like", "save", "dismiss", "rate"])
    stars = serializers.IntegerField(required=False, allow_null=True, help_text="1 to 5, with kind=rate.")
    reason = serializers.ChoiceField(
        choices=["topic", "author"], required=False, help_text="With kind=dismiss: fewer papers on this topic, or by `author`."
    )
    author = serializers.CharField(required=False, max_length=200, help_text="With reason=author: one of the paper's authors.")
    via = serializers.ChoiceField(
        choices=[v for v in Interaction.Via.values if v],
        required=False,
        help_text="Where the reader was: feed, email, similar (a paper's similar papers) or round; "
        "leave out when they found it on their own.",
    )


class FeedbackStateSerializer(serializers.Serializer):
    like = serializers.BooleanField()
    save = serializers.BooleanField()
    dismiss = serializers.BooleanField()
    stars = serializers.IntegerField(allow_null=True)
    reads = serializers.IntegerField()


class NeighboursSerializer(serializers.Serializer):
    similar = PaperSerializer(many=True, help_text="Closest by content (title and abstract).")
    also_liked = PaperSerializer(many=True, help_text="Liked by the readers who liked this paper (collaborative).")


def _state(user, paper) -> dict:
    state = feedback_state(user=user, paper=paper)
    return {"like": state.like, "save": state.save, "dismiss": state.dismiss, "stars": state.stars, "reads": state.reads}


class PaperViewSet(viewsets.ReadOnlyModelViewSet):
    """Papers, newest first. ``GET /api/papers/`` and ``GET /api/papers/<id>/``, their neighbours, and feedback on them."""

    serializer_class = PaperSerializer
    pagination_class = CataloguePagination
    lookup_field = "external_id"
    lookup_url_kwarg = "id"
    lookup_value_regex = r"\S+?"

    def get_queryset(self):
        return papers_newest()

    @extend_schema(responses=NeighboursSerializer)
    @action(detail=True, methods=["get"])
    def similar(self, request: Request, id: str) -> Response:
        """Papers similar by content, and papers its readers also liked, each list labelled."""
        neighbours = paper_neighbours(paper=self.get_object())
        context = {"request": request}
        return Response(
            {
                "similar": PaperSerializer(neighbours.similar, many=True, context=context).data,
                "also_liked": PaperSerializer(neighbours.also_liked, many=True, context=context).data,
            }
        )

    @extend_schema(request=FeedbackSerializer, responses=FeedbackStateSerializer)
    @action(detail=True, methods=["post"], permission_classes=[permissions.IsAuthenticated])
    def feedback(self, request: Request, id: str) -> Response:
        """Record feedback: read, like, save, dismiss ("not interested"), or rate with 1-5 stars."""
        paper = self.get_object()
        body = FeedbackSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        kind, via = body.validated_data["kind"], body.validated_data.get("via", "")
        try:
            if kind == "rate":
                stars = parse_stars(body.validated_data.get("stars"))
                if stars is None:
                    raise DjangoValidationError("A rating needs stars from 1 to 5; DELETE the rating to remove it.")
                rating_set(user=request.user, paper=paper, stars=stars, via=via)
            elif kind == "read":
                read_record(user=request.user, paper=paper, via=via)
            else:
                reason, author = body.validated_data.get("reason", ""), body.validated_data.get("author", "")
                feedback_set(user=request.user, paper=paper, kind=kind, on=True, reason=reason, author=author, via=via)
        except DjangoValidationError as exc:
            raise ValidationError({"stars" if kind == "rate" else "reason": exc.messages}) from None
        return Response(_state(request.user, paper))

    @extend_schema(responses={204: None})
    @feedback.mapping.delete
    def undo_feedback(self, request: Request, id: str) -> Response:
        """Undo a like, save, dismissal or rating: ``DELETE /api/papers/<id>/feedback/?kind=like``."""
        paper = self.get_object()
        kind = request.query_params.get("kind", "")
        if kind == "rate":
            rating_set(user=request.user, paper=paper, stars=None)
        elif kind in TOGGLE_KINDS:
            feedback_set(user=request.user, paper=paper, kind=kind, on=False)
        else:
            raise ValidationError({"kind": "give ?kind=like, save, dismiss or rate (reads are a history, not undone)"})
        return Response(status=status.HTTP_204_NO_CONTENT)


class SearchHitSerializer(PaperSerializer):
    snippet = serializers.SerializerMethodField(help_text="The abstract around the matched words, each in <mark> (escaped HTML).")

    by_meaning = serializers.SerializerMethodField(help_text="True when found by meaning (the query's words may not be in it).")

    class Meta(PaperSerializer.Meta):
        fields = [*PaperSerializer.Meta.fields, "snippet", "by_meaning"]

    def get_snippet(self, paper: Paper) -> str:
        return str(self.context["snippets"].get(paper.pk, ""))

    def get_by_meaning(self, paper: Paper) -> bool:
        return paper.pk in self.context["by_meaning"]


class SearchPageSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Matching papers, counted up to 1,001.")
    count_capped = serializers.BooleanField(help_text="True when more than 1,000 papers match.")
    too_broad = serializers.BooleanField(help_text="True when the search took too long to answer: add a word or a filter.")
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = SearchHitSerializer(many=True)


class SearchView(APIView):
    """``GET /api/search/?q=words``: papers matching the words (title, authors, abstract; "phrases", ``or``, ``-word``),
    most relevant first, fused on the first page with the papers nearest the query by meaning; for a signed-in reader
    the first page is nudged by their taste."""

    @extend_schema(
        parameters=[
            OpenApiParameter("q", str, required=True, description=f"Words to find, at most {MAX_QUERY_LENGTH} characters."),
            OpenApiParameter("category", str, description="Only papers in this arXiv category (e.g. cs.LG)."),
            OpenApiParameter("year", int, description="Only papers published this year."),
            OpenApiParameter("page", int, description=f"1 to {MAX_PAGES}."),
        ],
        responses=SearchPageSerializer,
    )
    def get(self, request: Request) -> Response:
        query = request.query_params.get("q", "").strip()
        if not query or len(query) > MAX_QUERY_LENGTH:
            raise ValidationError({"q": f"give 1 to {MAX_QUERY_LENGTH} characters to search for"})
        try:
            filters = search_filters(request.query_params)
        except DjangoValidationError as exc:
            raise ValidationError({"filters": exc.messages}) from None
        number = bounded_int(request, "page", 1, 1, MAX_PAGES)
        results = papers_search(query=query, filters=filters, page=number, user=request.user)
        base = request.build_absolute_uri(request.path)
        params = {name: request.query_params[name] for name in ("q", "category", "year") if request.query_params.get(name)}
        context = {
            "request": request,
            "snippets": {hit.paper.pk: hit.snippet for hit in results.hits},
            "by_meaning": {hit.paper.pk for hit in results.hits if hit.by_meaning},
        }
        return Response(
            {
                "count": results.count,
                "count_capped": results.count_capped,
                "too_broad": results.too_broad,
                "next": f"{base}?{urlencode({**params, 'page': number + 1})}" if results.has_next else None,
                "previous": f"{base}?{urlencode({**params, 'page': number - 1})}" if number > 1 else None,
                "results": SearchHitSerializer(results.papers, many=True, context=context).data,
            }
        )


def bounded_int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdecimal() or len(raw) > 9 or not low <= int(raw) <= high:
        raise ValidationError({name: f"must be a whole number from {low} to {high}"})
    return int(raw)


log = logging.getLogger(__name__)


def json_exception_handler(exc: Exception, context: dict) -> Response:
    """DRF's handler for API errors; anything unexpected becomes a JSON 500 (logged), never an HTML page.

    A body over DATA_UPLOAD_MAX_MEMORY_SIZE is a 413 and one with too many form fields a 400, each with its limit.
    """
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return Response(
            {"detail": f"The request body is larger than the limit of {limit:,} bytes."}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
        )
    if isinstance(exc, TooManyFieldsSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        return Response({"detail": f"The request has more than {limit:,} fields."}, status=status.HTTP_400_BAD_REQUEST)
    response = exception_handler(exc, context)
    if response is None:
        log.exception("API error in %s", context.get("view").__class__.__name__, exc_info=exc)
        response = Response({"detail": "Internal server error. It has been logged."}, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    return response


_FEED_RESPONSE = inline_serializer(
    "FeedResponse",
    {
        "model": serializers.CharField(
            allow_null=True, help_text="Version of the model that ranked the feed; null before the first training."
        ),
        "results": inline_serializer(
            "FeedItem",
            {
                "paper": PaperSerializer(),
                "score": serializers.FloatField(),
                "reason": serializers.CharField(),
                "source": serializers.ChoiceField(choices=["content", "meaning", "collaborative", "graph", "popular"]),
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
            OpenApiParameter("window", str, enum=["all", "week"], description="Only papers from the last seven days (week), or all."),
        ],
        responses={200: _FEED_RESPONSE},
    )
    def get(self, request: Request) -> Response:
        limit = bounded_int(request, "limit", 20, 1, 100)
        offset = bounded_int(request, "offset", 0, 0, 900)
        window = request.query_params.get("window", "all")
        if window not in ("all", "week"):
            raise ValidationError({"window": "all or week"})
        items = feed_for_user(user=request.user, limit=limit, offset=offset, within_days=7 if window == "week" else None)
        return Response({"model": getattr(store.current(), "version", None) or None, "results": feed_items_json(items, request)})


def feed_items_json(items: list[FeedItem], request: Request) -> list[dict]:
    """A feed's items as the API gives them: the paper, its score, the reason and the reader's paper behind it."""
    papers = PaperSerializer([item.paper for item in items], many=True, context={"request": request}).data  # fields built once
    return [
        {
            "paper": paper,
            "score": round(item.score, 4),
            "reason": item.reason,
            "source": item.source,
            "because": item.because.external_id if item.because else None,
        }
        for item, paper in zip(items, papers)
    ]
