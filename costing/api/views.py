"""The TCO calculator over JSON: the same calculator the /costs/ page uses."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from costing.api.serializers import TcoInputSerializer, TcoOutputSerializer
from costing.calculators import tco


class TcoView(APIView):
    """Cost per hour, month and 1M tokens, energy, carbon and break-even against an API price."""

    permission_classes = [AllowAny]
    # A calculator reads nothing stored: no session needed, so no CSRF token either.
    authentication_classes = []

    @extend_schema(request=TcoInputSerializer, responses=TcoOutputSerializer)
    def post(self, request: Request) -> Response:
        query = TcoInputSerializer(data=request.data)
        query.is_valid(raise_exception=True)
        return Response(TcoOutputSerializer(tco(query.inputs_of(query.validated_data)).as_dict()).data)
