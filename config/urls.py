from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_replace
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter, Route

from config.views import status
from recommender import onboarding_views
from recommender.api import FeedView, PaperViewSet, SearchView
from recommender.api_collections import CollectionViewSet
from recommender.api_facets import FacetViewSet


class ActionsFirstRouter(DefaultRouter):
    """Paper ids may contain "/", so a paper's actions (``similar/``, ``feedback/``) are matched before its detail route:
    DRF's routes, with the plain detail route last (picked by kind, not by position in DRF's list)."""

    routes = sorted(DefaultRouter.routes, key=lambda route: isinstance(route, Route) and route.detail)


api = ActionsFirstRouter()
api.register("papers", PaperViewSet, basename="api-paper")
api.register("collections", CollectionViewSet, basename="api-collection")
api.register("facets", FacetViewSet, basename="api-facet")

urlpatterns = [
    path("status", status, name="status"),
    path("admin/", admin.site.urls),
    # Onboarding belongs to the recommender; its addresses stay under /accounts/, where sign-up leads.
    path("accounts/welcome/", onboarding_views.welcome, name="welcome"),
    path("accounts/welcome/rate/", onboarding_views.welcome_rate, name="welcome_rate"),
    path("accounts/welcome/categories/", onboarding_views.follow_categories, name="follow_categories"),
    path("accounts/", include("accounts.urls")),
    path("api/feed/", FeedView.as_view(), name="api-feed"),
    path("api/search/", SearchView.as_view(), name="api-search"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Its set-up is a script file (no inline script); Swagger UI sets a few inline styles, allowed on this page only.
    path(
        "api/docs/",
        csp_replace({"style-src": [SELF, UNSAFE_INLINE]})(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
    path(
        "api/collections/<int:pk>/papers/<path:external_id>",
        CollectionViewSet.as_view({"delete": "remove_paper"}),
        name="api-collection-remove-paper",
    ),
    path("api/", include(api.urls)),
    path("", include("recommender.urls")),
]
