"""POST /api/v1/recommend/: the same recommendation as the /recommend/ page, as JSON."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from leaderboard.api.schema import error_response
from recommender.api.serializers import RecommendationSerializer, RecommendInputSerializer
from recommender.queries import recommend_query, recommendation_payload
from recommender.selectors import recommend


class RecommendView(APIView):
    """Models that meet your limits, ranked by weighted quality with bootstrap confidence and the Pareto frontier."""

    permission_classes = [AllowAny]

    @extend_schema(request=RecommendInputSerializer, responses={
        200: RecommendationSerializer, 404: error_response("No suite version has public results yet")})
    def post(self, request: Request) -> Response:
        body = RecommendInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        query, errors = recommend_query(data=body.validated_data, user=request.user)
        if errors.get("suite") and body.validated_data.get("suite") is None:
            raise NotFound("no suite version has public results yet")  # as /api/v1/compare/ says it
        if errors:
            raise ValidationError(errors)
        return Response(RecommendationSerializer(recommendation_payload(recommend(query=query, user=request.user))).data)
