from django.urls import path
from rest_framework.routers import SimpleRouter

from leaderboard.api import read_views, views

router = SimpleRouter()
router.register("models", read_views.ModelViewSet, basename="model")
router.register("runs", read_views.RunViewSet, basename="run")
router.register("suites", read_views.SuiteViewSet, basename="suite")

app_name = "api"
urlpatterns = [
    path("compare/", views.CompareView.as_view(), name="compare"),
    *router.urls,
]
