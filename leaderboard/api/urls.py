from django.urls import path
from rest_framework.routers import SimpleRouter

from community.api.views import BenchmarkCreate, BenchmarkReviewCreate, ModelFlagCreate, SubmissionViewSet
from costing.api.views import TcoView
from leaderboard.api import read_views, views
from recommender.api.views import RecommendView

router = SimpleRouter()
router.register("models", read_views.ModelViewSet, basename="model")
router.register("runs", read_views.RunViewSet, basename="run")
router.register("suites", read_views.SuiteViewSet, basename="suite")
router.register("submissions", SubmissionViewSet, basename="submission")

app_name = "api"
urlpatterns = [
    path("compare/", views.CompareView.as_view(), name="compare"),
    path("benchmarks/", BenchmarkCreate.as_view(), name="benchmark_create"),
    path("benchmarks/<slug:slug>/reviews/", BenchmarkReviewCreate.as_view(), name="benchmark_review_create"),
    path("models/<slug:slug>/flags/", ModelFlagCreate.as_view(), name="model_flag_create"),
    path("costs/tco/", TcoView.as_view(), name="costs-tco"),
    path("recommend/", RecommendView.as_view(), name="recommend"),
    *router.urls,
]
