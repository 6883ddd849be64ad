from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from config.views import status
from recommender.api import FeedView, PaperViewSet

api = DefaultRouter()
api.register("papers", PaperViewSet, basename="api-paper")

urlpatterns = [
    path("status", status, name="status"),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("api/feed/", FeedView.as_view(), name="api-feed"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/", include(api.urls)),
    path("", include("recommender.urls")),
]
