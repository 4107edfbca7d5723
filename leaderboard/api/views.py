"""API views: parse the query, call the same read as the page, serialise."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from evaluations.compare import Comparison
from leaderboard import compare
from leaderboard.api.schema import error_response
from leaderboard.api.serializers import ComparisonSerializer, CompareQuerySerializer


class CompareView(APIView):
    """Models compared on one suite version, with paired statistics per benchmark."""

    permission_classes = [AllowAny]

    @extend_schema(parameters=[CompareQuerySerializer], responses={
        200: ComparisonSerializer, 404: error_response("No suite version has public results yet")})
    def get(self, request: Request) -> Response:
        query = CompareQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        suite_id = query.validated_data.get("suite")
        parsed = compare.compare_request(references=query.validated_data["models"],
                                         suite_id=str(suite_id) if suite_id is not None else None, user=request.user)
        if parsed.problems:
            raise ValidationError({"detail": parsed.problems})
        if parsed.suite is None:
            raise NotFound("no suite version has public results yet")
        if len(parsed.models) < 2:
            raise ValidationError({"models": ["give two different models"]})
        page = compare.compare_page(request=parsed, user=request.user, for_page=False)
        return Response(ComparisonSerializer(_payload(page.comparison)).data)


def _payload(comparison: Comparison) -> dict:
    pairs = [{"model_a": pair.model_a.slug, "model_b": pair.model_b.slug,
              "benchmarks": [row.as_dict() for row in pair.rows]} for pair in comparison.pairs]
    slugs = {model.pk: model.slug for model in comparison.models}
    return {
        "suite": comparison.suite,
        "models": [model.slug for model in comparison.models],
        "alpha": comparison.alpha,
        "benchmarks": pairs[0]["benchmarks"],
        "comparisons": pairs,
        "categories": [{"category": category.category, "benchmarks": list(category.benchmarks),
                        "scores": {slugs[pk]: value for pk, value in category.scores.items()}}
                       for category in comparison.categories],
    }
