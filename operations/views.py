"""Operational endpoints: /healthz for load balancers."""
from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from operations.health import health_report


@csrf_exempt
@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when every required dependency answers, 503 naming the failing ones; no session, user or throttle."""
    report = health_report()
    return JsonResponse(report.as_json(), status=200 if report.healthy else 503)
