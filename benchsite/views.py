"""Project-wide error pages: the API answers a URL it does not have in JSON, as it answers everything else."""
from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

API_PREFIX = "/api/"


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    # An id or slug that does not match the URL pattern (/api/v1/runs/0.5/) never reaches DRF; a client that reads
    # {"detail": ...} on every other 404 gets the same body here, not the site's HTML page.
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)
