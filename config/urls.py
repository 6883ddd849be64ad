from django.contrib import admin
from django.urls import include, path
from rest_framework.routers import DefaultRouter

from recommender.api import PaperViewSet

api = DefaultRouter()
api.register("papers", PaperViewSet, basename="api-paper")

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("api/", include(api.urls)),
    path("", include("recommender.urls")),
]
