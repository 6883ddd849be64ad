"""The collections API: a reader's collections, their papers and their feeds (only the owner's; a shared link is a page,
not an API)."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from recommender.api import PaperSerializer, bounded_int, feed_items_json
from recommender.models import Collection, Paper
from recommender.selectors.collections import collection_feed, collection_papers, collections_of
from recommender.services.collections import (
    collection_create,
    collection_delete,
    collection_in_digest,
    collection_paper_add,
    collection_paper_remove,
    collection_rename,
)


class CollectionSerializer(serializers.ModelSerializer):
    size = serializers.IntegerField(read_only=True, help_text="Papers in it.")
    shared = serializers.SerializerMethodField(help_text="Whether a read-only link to it is live.")

    class Meta:
        model = Collection
        fields = ["id", "name", "size", "shared", "in_digest", "created"]
        read_only_fields = ["id", "created"]

    def get_shared(self, collection: Collection) -> bool:
        return bool(collection.share_token)


class CollectionNameSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, help_text="1 to 100 characters, unique among your collections.")


def _name(request: Request) -> str:
    body = CollectionNameSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    return body.validated_data["name"]


class CollectionChangeSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False, help_text="1 to 100 characters, unique among your collections.")
    in_digest = serializers.BooleanField(required=False, help_text="Give it a section of picks in your weekly email.")


class CollectionPaperSerializer(serializers.Serializer):
    paper = serializers.CharField(max_length=128, help_text="The paper's id (its arXiv id, DOI or slug).")


def _validated(call):
    try:
        return call()
    except DjangoValidationError as exc:
        raise ValidationError({"detail": exc.messages}) from None


class CollectionViewSet(viewsets.ViewSet):
    """``/api/collections/``: the signed-in reader's collections (``GET``, ``POST {"name"}``), one of them (``GET``,
    ``PATCH {"name", "in_digest"}``, ``DELETE``), its papers (``GET``, ``POST {"paper"}``, ``DELETE papers/<id>``) and its feed."""

    permission_classes = [permissions.IsAuthenticated]
    lookup_value_regex = r"\d+"

    def _mine(self, request: Request, pk: str) -> Collection:
        try:
            return collections_of(user=request.user).get(pk=int(pk))
        except (Collection.DoesNotExist, ValueError):
            raise Http404("No such collection of yours.") from None

    @extend_schema(responses=CollectionSerializer(many=True))
    def list(self, request: Request) -> Response:
        return Response(CollectionSerializer(collections_of(user=request.user), many=True).data)

    @extend_schema(request=CollectionNameSerializer, responses={201: CollectionSerializer})
    def create(self, request: Request) -> Response:
        name = _name(request)
        made = _validated(lambda: collection_create(owner=request.user, name=name))
        return Response(CollectionSerializer(self._mine(request, made.pk)).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=CollectionSerializer)
    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(CollectionSerializer(self._mine(request, pk)).data)

    @extend_schema(request=CollectionChangeSerializer, responses=CollectionSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        collection = self._mine(request, pk)
        body = CollectionChangeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if "name" in body.validated_data:
            _validated(lambda: collection_rename(collection=collection, name=body.validated_data["name"]))
        if "in_digest" in body.validated_data:
            collection_in_digest(collection=collection, on=body.validated_data["in_digest"])
        return Response(CollectionSerializer(self._mine(request, pk)).data)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str) -> Response:
        collection_delete(collection=self._mine(request, pk))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        methods=["GET"],
        parameters=[OpenApiParameter("limit", int, description="1 to 100 (default 50)."), OpenApiParameter("offset", int)],
        responses=PaperSerializer(many=True),
    )
    @extend_schema(methods=["POST"], request=CollectionPaperSerializer, responses={201: PaperSerializer, 200: PaperSerializer})
    @action(detail=True, methods=["get", "post"])
    def papers(self, request: Request, pk: str) -> Response:
        """The collection's papers, the newest added first; ``POST {"paper": "<id>"}`` puts one in (and saves it)."""
        collection = self._mine(request, pk)
        if request.method == "GET":
            limit, offset = bounded_int(request, "limit", 50, 1, 100), bounded_int(request, "offset", 0, 0, 100_000)
            papers = collection_papers(collection=collection, limit=limit, offset=offset)
            return Response(PaperSerializer(papers, many=True, context={"request": request}).data)
        body = CollectionPaperSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        paper = Paper.objects.filter(external_id=body.validated_data["paper"]).first()
        if paper is None:
            raise ValidationError({"paper": "no paper with this id in the catalogue"})
        added = _validated(lambda: collection_paper_add(collection=collection, paper=paper))
        return Response(PaperSerializer(paper, context={"request": request}).data, status=status.HTTP_201_CREATED if added else 200)

    @extend_schema(responses={204: None})
    def remove_paper(self, request: Request, pk: str, external_id: str) -> Response:
        """``DELETE /api/collections/<id>/papers/<paper id>``: take a paper out of the collection (it stays saved).
        Routed in ``config.urls`` (paper ids may hold "/", and the address has no trailing slash)."""
        collection = self._mine(request, pk)
        paper = Paper.objects.filter(external_id=external_id.removesuffix("/")).first()
        if paper is None or not collection_paper_remove(collection=collection, paper=paper):
            raise Http404("That paper is not in this collection.")
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        parameters=[
            OpenApiParameter("limit", int, description="Papers to return, 1 to 100 (default 20)."),
            OpenApiParameter("offset", int, description="Papers to skip, 0 to 900 (default 0)."),
        ],
        responses=inline_serializer("CollectionFeed", {"results": serializers.ListField(child=serializers.DictField())}),
    )
    @action(detail=True, methods=["get"])
    def feed(self, request: Request, pk: str) -> Response:
        """Papers for this collection, ranked as for a reader who saved exactly its papers, items as the personal feed's."""
        collection = self._mine(request, pk)
        limit, offset = bounded_int(request, "limit", 20, 1, 100), bounded_int(request, "offset", 0, 0, 900)
        return Response({"results": feed_items_json(collection_feed(collection=collection, limit=limit, offset=offset), request)})
