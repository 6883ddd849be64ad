from django.urls import path

from recommender import views

urlpatterns = [
    path("", views.home, name="home"),
    path("feed/", views.feed, name="feed"),
    path("papers/", views.catalogue, name="catalogue"),
    path("trending/", views.trending, name="trending"),
    path("search/", views.search, name="search"),
    path("library/", views.library, name="library"),
    path("feedback/<path:external_id>", views.paper_feedback, name="paper_feedback"),
    path("open/<path:external_id>", views.paper_open, name="paper_open"),
    path("papers/<path:external_id>/", views.paper_detail, name="paper_detail"),
]
