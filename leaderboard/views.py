"""Pages of the leaderboard, model and run browser; HTMX requests get the fragment they target."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_POST
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django_htmx.middleware import HtmxDetails

from evaluations import exports as evaluation_exports
from evaluations import manifests
from evaluations.selectors import run_cache_summary, run_samples, run_spend_summary
from evaluations.models import ModelEntry, RunStatus
from evaluations.services import manifests as manifest_services
from evaluations.services import regressions, runs
from evaluations.selectors import visible_runs
from leaderboard import charts, compare, exports, finetunes, performance, selectors

CORRECT_CHOICES: dict[str, bool | None] = {"": None, "true": True, "false": False}
RUNS_PER_PAGE = 50

class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails

def leaderboard(request: HtmxHttpRequest) -> HttpResponse:
    board = selectors.leaderboard_rows(
        suite_id=request.GET.get("suite"), sort=request.GET.get("sort"),
        descending=request.GET.get("dir", "desc") != "asc", lineage=request.GET.get("lineage"),
        page=request.GET.get("page"), page_size=settings.BENCHSITE_LEADERBOARD_PAGE_SIZE,
    )
    # Sorted over every model, shown a page at a time; the heat-map draws the page, correlations use all.
    others = request.GET.copy()
    others.pop("page", None)
    context = {"board": board, "lineage_filters": selectors.LINEAGE_FILTERS, "rows_page": board.page,
               "page_query": others.urlencode(),
               "heatmap": charts.leaderboard_heatmap(board),
               "correlations": charts.correlation_heatmap(selectors.benchmark_correlations(board))}
    return _page_or_fragment(request, "leaderboard/index.html", "leaderboard/_leaderboard_table.html", context)

def model_list(request: HttpRequest) -> HttpResponse:
    return render(request, "leaderboard/model_list.html", {"models": selectors.model_list(request.user)})

def model_detail(request: HttpRequest, slug: str) -> HttpResponse:
    detail = selectors.model_detail(slug, request.user)
    if detail is None:
        raise Http404("No such model")
    axes = selectors.model_radar_axes(detail)
    radar = charts.radar_chart([label for label, _ in axes], [(detail.model.name, [v for _, v in axes])], "model-radar")
    threshold = settings.BENCHSITE_REGRESSION_DELTA_POINTS
    context = {"detail": detail, "history_chart": charts.history_chart(detail.history), "radar_chart": radar,
               "regression_threshold_points": threshold,
               # Plural rules take whole numbers; a fractional threshold reads as plural in English and German.
               "regression_threshold_count": int(threshold) if float(threshold).is_integer() else 2}
    return render(request, "leaderboard/model_detail.html", context)

@require_POST
@login_required
def model_watch(request: HttpRequest, slug: str) -> HttpResponse:
    model = get_object_or_404(ModelEntry, slug=slug)
    try:
        watch = regressions.regression_watch_set(user=request.user, model=model, email=bool(request.POST.get("email")),
                                                 webhook_url=request.POST.get("webhook_url", ""))
    except ValidationError:
        messages.error(request, _("The webhook URL must be an http or https address."))
    else:
        text = _("Watching %(model)s for regressions.") if watch else _("No longer watching %(model)s.")
        messages.success(request, text % {"model": model.name})
    return redirect(reverse("leaderboard:model_detail", args=[slug]) + "#regressions")

def model_performance(request: HttpRequest, slug: str) -> HttpResponse:
    profile_id = request.GET.get("profile", "")
    page = performance.model_performance(slug, int(profile_id) if profile_id.isdigit() else None)
    if page is None:
        raise Http404("No such model")
    return render(request, "leaderboard/performance.html", {"page": page})

def performance_grid(request: HttpRequest) -> HttpResponse:
    context = {"grid": performance.preset_grid(), "quality": performance.preset_quality_grid()}
    return render(request, "leaderboard/performance_grid.html", context)

@cache_control(public=True, max_age=86400)
def plotly_js(request: HttpRequest) -> FileResponse:
    # Served from the installed plotly package: the pages work offline and need no CDN.
    return FileResponse(performance.plotly_js_path().open("rb"), content_type="text/javascript")

def run_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.run_list(request.user), RUNS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "leaderboard/run_list.html", {"page": page})

def run_detail(request: HtmxHttpRequest, run_id: int) -> HttpResponse:
    detail = selectors.run_detail(run_id, request.user)
    if detail is None:
        raise Http404("No such run")
    # Unknown values fall back to "all" rather than failing: these come from hand-edited URLs.
    benchmark = request.GET.get("benchmark") or None
    if benchmark not in {slug for slug, _ in detail.sample_benchmarks}:
        benchmark = None
    correct = request.GET.get("correct", "")
    if correct not in CORRECT_CHOICES:
        correct = ""
    samples = selectors.sample_page(detail.run, benchmark, CORRECT_CHOICES[correct], request.GET.get("page"))
    context = {"detail": detail, "run": detail.run, "samples": samples, "benchmark": benchmark or "", "correct": correct}
    if not _wants_fragment(request):  # the samples fragment shows no progress
        context["progress"] = selectors.run_progress(detail.run)
        context["can_cancel"] = runs.run_can_cancel(run=detail.run, user=request.user)
        context["cache"] = run_cache_summary(run=detail.run)
        context["spend"] = run_spend_summary(run=detail.run)
    return _page_or_fragment(request, "leaderboard/run_detail.html", "leaderboard/_samples.html", context)

def live_runs(request: HttpRequest) -> HttpResponse:
    return render(request, "leaderboard/live_runs.html", {"rows": selectors.live_run_rows()})

def _page_or_fragment(request: HtmxHttpRequest, page: str, fragment: str, context: dict[str, Any]) -> HttpResponse:
    response = render(request, fragment if _wants_fragment(request) else page, context)
    patch_vary_headers(response, ("HX-Request",))
    return response

def _wants_fragment(request: HtmxHttpRequest) -> bool:
    # A history restore after a cache miss asks for the whole page, though it is an HTMX request.
    return bool(request.htmx) and not request.htmx.history_restore_request

@require_POST
@login_required
def run_cancel(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(visible_runs(request.user), pk=run_id)
    if not runs.run_can_cancel(run=run, user=request.user):
        raise PermissionDenied("only the run's owner or staff can cancel it")
    if runs.run_cancel(run=run):
        messages.success(request, _("Run %(pk)s cancelled.") % {"pk": run.pk})
    else:
        messages.info(request, _("Run %(pk)s was already %(status)s.")
                      % {"pk": run.pk, "status": run.get_status_display().lower()})
    return redirect("leaderboard:run_detail", run_id=run.pk)

def worker_list(request: HttpRequest) -> HttpResponse:
    return render(request, "leaderboard/worker_list.html", {"workers": selectors.worker_rows()})

def compare_models(request: HtmxHttpRequest) -> HttpResponse:
    models = request.GET.getlist("models")
    parsed = compare.compare_request(references=models, suite_id=request.GET.get("suite"), user=request.user)
    canonical = reverse("leaderboard:compare") + parsed.query
    if len(models) > 1 and not request.htmx:  # the form without JavaScript: one field per model
        return redirect(canonical)
    page = compare.compare_page(request=parsed, user=request.user)
    response = _page_or_fragment(request, "leaderboard/compare.html", "leaderboard/_comparison.html", {"page": page})
    if _wants_fragment(request) and parsed.models:
        response["HX-Push-Url"] = canonical  # ?models=a,b rather than the form's repeated fields
    return response

def compare_items(request: HtmxHttpRequest) -> HttpResponse:
    parsed = compare.compare_request(references=request.GET.getlist("models"), suite_id=request.GET.get("suite"),
                                     user=request.user)
    found = compare.disagreements(request=parsed, user=request.user, benchmark=request.GET.get("benchmark", ""),
                                  page=request.GET.get("page"))
    if found is None:
        raise Http404("Nothing to compare on this benchmark")
    benchmark, items = found
    context = {"compared": parsed, "benchmark": benchmark, "items": items}
    return _page_or_fragment(request, "leaderboard/compare_items.html", "leaderboard/_disagreements.html", context)

def run_manifest(request: HttpRequest, run_id: int) -> JsonResponse:
    """The finished run's manifest signed with the site's key (check it with `manage.py verify_run`)."""
    run = get_object_or_404(visible_runs(request.user).select_related("model"), pk=run_id, status=RunStatus.FINISHED)
    document = manifest_services.manifest_store(run=run).document
    response = JsonResponse(document, json_dumps_params={"indent": 1})
    response["Content-Disposition"] = f'attachment; filename="run-{run.pk}-manifest.json"'
    return response

def signing_keys(request: HttpRequest) -> HttpResponse:
    context = {"pem": manifests.public_key_pem(), "key_id": manifests.key_id(), "algorithm": manifests.ALGORITHM}
    return render(request, "leaderboard/keys.html", context)

def signing_key_pem(request: HttpRequest) -> HttpResponse:
    return HttpResponse(manifests.public_key_pem(), content_type="application/x-pem-file")

def leaderboard_download(request: HttpRequest, fmt: str) -> HttpResponse:
    """The board as shown with the same query (suite, sort, dir)."""
    board = selectors.leaderboard_rows(suite_id=request.GET.get("suite"), sort=request.GET.get("sort"),
                                       descending=request.GET.get("dir", "desc") != "asc",
                                       lineage=request.GET.get("lineage"))
    name = f"leaderboard-{board.suite.slug}-v{board.suite.version}" if board.suite else "leaderboard"
    if fmt == exports.CSV:
        return exports.csv_response(f"{name}.csv", exports.leaderboard_header(board),
                                    exports.leaderboard_records(board))
    return exports.json_response(f"{name}.json", exports.leaderboard_document(board))

def run_samples_download(request: HttpRequest, run_id: int, fmt: str) -> HttpResponse:
    """The run's samples, filtered as on its page (?benchmark=, ?correct=)."""
    run = get_object_or_404(visible_runs(request.user).select_related("model"), pk=run_id)
    correct = request.GET.get("correct", "")
    samples = run_samples(run=run, benchmark_slug=request.GET.get("benchmark") or None,
                          correct=CORRECT_CHOICES.get(correct))
    records = evaluation_exports.sample_rows(samples, run)
    if fmt == exports.CSV:
        return exports.csv_response(f"run-{run.pk}-samples.csv", evaluation_exports.SAMPLE_COLUMNS, records)
    return exports.json_lines_document(f"run-{run.pk}-samples.json", {"run_id": run.pk, "model": run.model.slug},
                                       "samples", records)

def run_harness_results(request: HttpRequest, run_id: int) -> HttpResponse:
    """The run in lm-evaluation-harness's results_<date>.json format."""
    run = get_object_or_404(visible_runs(request.user).select_related("model"), pk=run_id, status=RunStatus.FINISHED)
    return exports.json_response(f"run-{run.pk}-results.json", evaluation_exports.harness_results(run))

def compare_download(request: HttpRequest, fmt: str) -> HttpResponse:
    parsed = compare.compare_request(references=request.GET.getlist("models"), suite_id=request.GET.get("suite"),
                                     user=request.user)
    comparison = compare.compare_page(request=parsed, user=request.user, for_page=False).comparison
    if comparison is None:
        raise Http404("Choose a suite version and at least two models")
    name = "comparison-" + "-".join(model.slug for model in comparison.models)
    if fmt == exports.CSV:
        return exports.csv_response(f"{name}.csv", exports.COMPARISON_HEADER, exports.comparison_records(comparison))
    return exports.json_response(f"{name}.json", exports.comparison_document(comparison))

def model_vs_base(request: HttpRequest, slug: str) -> HttpResponse:
    page = finetunes.vs_base_page(slug=slug, user=request.user)
    if page is None:
        raise Http404("No such fine-tuned model")
    return render(request, "leaderboard/model_vs_base.html", {"page": page})
