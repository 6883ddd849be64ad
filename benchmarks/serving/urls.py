"""The site's own URLs, plus the trivial view the feed is measured against: one row read, a tiny page."""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from config.urls import urlpatterns as site
from recommender.models import Paper


def one_row(request: HttpRequest) -> HttpResponse:
    paper = Paper.objects.only("title").order_by("pk").first()
    return HttpResponse(paper.title if paper else "", content_type="text/plain")


urlpatterns = [path("bench/one-row/", one_row), *site]
