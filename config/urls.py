from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from config.views import status
from recommender.api import FeedView, PaperViewSet, SearchView

class ActionsFirstRouter(DefaultRouter):
    """Paper ids may contain "/", so a paper's actions (``similar/``, ``feedback/``) are matched before its detail route."""

    routes = [DefaultRouter.routes[0], DefaultRouter.routes[1], DefaultRouter.routes[3], DefaultRouter.routes[2]]


api = ActionsFirstRouter()
api.register("papers", PaperViewSet, basename="api-paper")

urlpatterns = [
    path("status", status, name="status"),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("api/feed/", FeedView.as_view(), name="api-feed"),
    path("api/search/", SearchView.as_view(), name="api-search"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/", include(api.urls)),
    path("", include("recommender.urls")),
]
