"""/costs/: the live TCO calculator (HTMX re-renders the results on every change)."""
from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers

from costing import charts, forms
from costing.estimates import cost_estimate
from costing.grid import REGIONS, SOURCE, SOURCE_URL
from costing.selectors import hardware_catalogue, measured_servings


def cost_page(request: HttpRequest) -> HttpResponse:
    servings = measured_servings(request.user)
    shown = forms.page_input(request.GET, first_profile=servings[0].profile_id if servings else None)
    body = forms.CostPageSerializer(data=shown)
    estimate, errors, chart = None, {}, ""
    if body.is_valid():
        estimate, errors = cost_estimate(data=body.validated_data, user=request.user, servings=servings)
        if estimate is not None:
            chart = charts.tornado_chart(estimate.tornado, estimate.result.usd_per_1m_tokens)
    else:
        errors = body.errors
    values = request.GET.dict() if request.GET else shown  # as typed; a first visit shows its defaults
    # A first visit with nothing measured yet lacks only a throughput: a prompt, not an error.
    starting = not request.GET and set(errors) == {"tokens_per_s"}
    context = {"estimate": estimate, "errors": {} if starting else errors, "starting": starting, "chart": chart,
               "values": values}
    if request.htmx and not request.htmx.history_restore_request:
        response = render(request, "costing/_results.html", context)
    else:
        context.update(hardware=hardware_catalogue(), servings=servings, regions=REGIONS,
                       grid_source=SOURCE, grid_source_url=SOURCE_URL)
        response = render(request, "costing/costs.html", context)
    patch_vary_headers(response, ("HX-Request",))
    return response
