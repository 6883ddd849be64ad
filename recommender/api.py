"""Read-only JSON API for papers (Django REST framework)."""

from rest_framework import serializers, viewsets

from recommender.models import Paper
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
