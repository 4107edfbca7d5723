"""/recommend/: the form re-renders the results on every change (HTMX); choosing a use case resets the weights."""
from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django_htmx.http import retarget

from costing.selectors import hardware_catalogue
from leaderboard.selectors import suite_choices
from recommender import charts, forms
from recommender.queries import recommend_query
from recommender.selectors import AXES, recommend


TABLE_ROWS = 50  # the candidates table's first page; "show all" lists the rest (the chart and the API have them all)


def _shown(recommendation, everything: bool) -> list:
    candidates = recommendation.candidates if recommendation else []
    return candidates if everything else candidates[:TABLE_ROWS]


def recommend_page(request: HttpRequest) -> HttpResponse:
    trigger = request.headers.get("HX-Trigger-Name", "")
    reset_weights = trigger == "use_case"
    body = forms.RecommendPageSerializer(data=forms.nested_input(request.GET, reset_weights=reset_weights))
    suites = suite_choices()
    recommendation, errors, chart, front = None, {}, "", []
    x, y = request.GET.get("x_axis", "usd_per_1m"), request.GET.get("y_axis", "score")
    if body.is_valid():
        query, errors = recommend_query(data=body.validated_data, user=request.user, suites=suites)
        if query is not None:
            recommendation = recommend(query=query, user=request.user)
            x, y = body.validated_data["x_axis"], body.validated_data["y_axis"]
            chart = charts.pareto_chart(recommendation.candidates, x, y)
            front = charts.frontier_2d(recommendation.candidates, x, y)
    else:
        errors = body.errors
    context = {
        "form": forms.form_state(request.GET, reset_weights=reset_weights, errors=errors),
        "recommendation": recommendation, "chart": chart,
        "chart_rows": list(zip(recommendation.candidates, front)) if recommendation else [],
        "shown": _shown(recommendation, request.GET.get("all") == "1"), "table_rows": TABLE_ROWS,
        "suites": suites, "hardware": hardware_catalogue(), "axes": AXES, "x_axis": x, "y_axis": y,
    }
    wants_fragment = bool(request.htmx) and not request.htmx.history_restore_request
    if wants_fragment and trigger == "use_case":  # the weight fields change too: swap the whole form
        response = retarget(render(request, "recommender/_recommender.html", context), "#recommender")
        response["HX-Reswap"] = "outerHTML"
    elif wants_fragment:
        response = render(request, "recommender/_results.html", context)
    else:
        response = render(request, "recommender/recommend.html", context)
    patch_vary_headers(response, ("HX-Request",))
    return response
