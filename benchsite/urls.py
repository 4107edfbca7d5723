from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

urlpatterns = [
    path("admin/", admin.site.urls),
    # set_language: the language switcher in base.html posts here.
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("operations.urls")),
    # Before allauth's include: /accounts/profile/ is ours.
    path("", include("community.urls")),
    path("accounts/", include("allauth.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file (?script), not inline: the CSP runs no inline script.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema", template_name="api/redoc.html"),
         name="api-redoc"),
    path("api/v1/", include("leaderboard.api.urls")),
    path("", include("recommender.urls")),
    path("", include("costing.urls")),
    path("", include("leaderboard.urls")),
]

handler404 = "benchsite.views.page_not_found"
