"""The API's model, run and suite resources: read-only viewsets over the same privacy rule as the pages.

A private run exists only for its owner and staff: other callers get 404 on its id and never see it
listed or counted.
"""
from __future__ import annotations

from rest_framework import viewsets
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

from evaluations.models import Suite
from evaluations.selectors import visible_runs
from leaderboard import selectors
from leaderboard.api.filters import ModelFilter, RunFilter, SuiteFilter
from leaderboard.api.read_serializers import (
    ModelDetailSerializer,
    ModelEntrySerializer,
    RunDetailSerializer,
    RunSummarySerializer,
    SuiteDetailSerializer,
)

MODEL_DETAIL_RUNS = 50


class Pages(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200


class ModelViewSet(viewsets.ReadOnlyModelViewSet):
    """Registered models with the counts of the runs you may see."""

    serializer_class = ModelEntrySerializer
    filterset_class = ModelFilter
    pagination_class = Pages
    lookup_field = "slug"

    def get_queryset(self):
        return selectors.model_list(self.request.user).select_related("base_model")

    def get_serializer_class(self):
        return ModelDetailSerializer if self.action == "retrieve" else ModelEntrySerializer

    def retrieve(self, request, *args, **kwargs) -> Response:
        model = self.get_object()
        runs = (visible_runs(request.user).filter(model=model).select_related("model")
                .order_by("-created_at", "-pk")[:MODEL_DETAIL_RUNS])
        return Response(ModelDetailSerializer(model, context={"runs": runs}).data)


class RunViewSet(viewsets.ReadOnlyModelViewSet):
    """Evaluation runs you may see, newest first."""

    filterset_class = RunFilter
    pagination_class = Pages

    def get_queryset(self):
        return visible_runs(self.request.user).select_related("model").order_by("-created_at", "-pk")

    def get_serializer_class(self):
        return RunDetailSerializer if self.action == "retrieve" else RunSummarySerializer


class SuiteViewSet(viewsets.ReadOnlyModelViewSet):
    """Suite versions: which benchmarks, in which configuration, make up a leaderboard."""

    serializer_class = SuiteDetailSerializer
    filterset_class = SuiteFilter
    pagination_class = Pages
    queryset = Suite.objects.order_by("slug", "-created_at", "-pk")
