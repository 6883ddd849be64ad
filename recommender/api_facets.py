"""The facets API: the signed-in reader's interests as the feed sees them, and their renames, merges and hiding."""

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from recommender.models import Facet
from recommender.selectors.facets import facets_of
from recommender.services.facets import FacetError, FacetNotFound, facet_hide, facet_rename, facets_merge


class FacetSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The interest's id.")
    name = serializers.CharField(help_text="Its name: the reader's own, else its papers' strongest terms.")
    found_name = serializers.CharField(help_text="The name found from its papers.")
    size = serializers.IntegerField(help_text="How many of the papers you want it holds.")
    hidden = serializers.BooleanField(help_text="Hidden interests do not steer the feed or the email.")


class FacetChangeSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False, allow_blank=True, help_text="Your name for it (blank: the found one).")
    hidden = serializers.BooleanField(required=False, help_text="Hide it from the feed and the email, or show it again.")


class FacetMergeSerializer(serializers.Serializer):
    into = serializers.IntegerField(help_text="The interest that takes this one's papers and keeps its name.")


def _as_json(facet: Facet, size: int) -> dict:
    return {"id": facet.pk, "name": facet.label, "found_name": facet.name, "size": size, "hidden": facet.hidden}


def _mine(request: Request, pk: str) -> dict:
    """One of the reader's interests as listed (one that holds none of the papers they want now: size 0)."""
    found = [_as_json(facet, size) for facet, size in facets_of(user=request.user) if str(facet.pk) == str(pk)]
    if found:
        return found[0]
    facet = Facet.objects.filter(owner=request.user, pk=int(pk)).first()
    if facet is None:
        raise Http404("No such interest of yours.")
    return _as_json(facet, 0)


class FacetViewSet(viewsets.ViewSet):
    """``/api/facets/``: the reader's interests (``GET``), one of them renamed or hidden (``PATCH {"name", "hidden"}``),
    or merged into another (``POST <id>/merge/ {"into"}``)."""

    permission_classes = [permissions.IsAuthenticated]
    lookup_value_regex = r"\d+"

    @extend_schema(responses=FacetSerializer(many=True))
    def list(self, request: Request) -> Response:
        return Response([_as_json(facet, size) for facet, size in facets_of(user=request.user)])

    @extend_schema(request=FacetChangeSerializer, responses=FacetSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        body = FacetChangeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            if "name" in body.validated_data:
                facet_rename(user=request.user, facet_id=pk, name=body.validated_data["name"])
            if "hidden" in body.validated_data:
                facet_hide(user=request.user, facet_id=pk, hidden=body.validated_data["hidden"])
        except FacetNotFound as exc:
            raise Http404(str(exc)) from None
        except FacetError as exc:
            raise ValidationError({"detail": str(exc)}) from None
        return Response(_mine(request, pk))

    @extend_schema(request=FacetMergeSerializer, responses=FacetSerializer)
    @action(detail=True, methods=["post"])
    def merge(self, request: Request, pk: str) -> Response:
        """Merge this interest into ``into``: its papers join that one, which keeps its name."""
        body = FacetMergeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            into = facets_merge(user=request.user, facet_id=pk, into_id=body.validated_data["into"])
        except FacetNotFound as exc:
            raise Http404(str(exc)) from None
        except FacetError as exc:
            raise ValidationError({"detail": str(exc)}) from None
        return Response(_mine(request, into.pk))
