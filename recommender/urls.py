from django.urls import path

from recommender import collection_views, digest_views, facet_views, views
from recommender.syndication import PersonalFeed

urlpatterns = [
    path("", views.home, name="home"),
    path("feed/", views.feed, name="feed"),
    path("feed/balance/", views.feed_balance, name="feed_balance"),
    path("atom/<str:token>/", PersonalFeed(), name="personal_atom"),
    path("papers/", views.catalogue, name="catalogue"),
    path("trending/", views.trending, name="trending"),
    path("authors/<path:name>/", views.author_papers, name="author_papers"),
    path("search/", views.search, name="search"),
    path("library/", views.library, name="library"),
    path("collections/", collection_views.collections, name="collections"),
    path("interests/", facet_views.interests, name="interests"),
    path("collections/add/", collection_views.collection_add, name="collection_add"),
    path("collections/<int:pk>/", collection_views.collection_detail, name="collection_detail"),
    path("collections/<int:pk>/remove/", collection_views.collection_remove, name="collection_remove"),
    path("collections/<int:pk>/edit/", collection_views.collection_edit, name="collection_edit"),
    path("collections/<int:pk>/share/", collection_views.collection_sharing, name="collection_share"),
    path("collections/<int:pk>/digest/", collection_views.collection_digest, name="collection_digest"),
    path("collections/<int:pk>/import/", collection_views.collection_import_view, name="collection_import"),
    path("collections/<int:pk>/collection.bib", collection_views.collection_bibtex, name="collection_bibtex"),
    path("c/<str:token>/", collection_views.collection_shared_page, name="collection_shared"),
    path("c/<str:token>/atom/", collection_views.collection_shared_atom, name="collection_shared_atom"),
    path("me/export.json", views.export_data, name="export_data"),
    path("me/library.bib", views.export_bibtex, name="export_bibtex"),
    path("digest/preview/", digest_views.digest_preview, name="digest_preview"),
    path("digest/act/<str:token>/", digest_views.digest_action, name="digest_action"),
    path("digest/unsubscribe/<str:token>/", digest_views.digest_unsubscribe, name="digest_unsubscribe"),
    path("feedback/<path:external_id>", views.paper_feedback, name="paper_feedback"),
    path("open/<path:external_id>", views.paper_open, name="paper_open"),
    path("papers/<path:external_id>/", views.paper_detail, name="paper_detail"),
]
