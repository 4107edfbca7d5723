"""Reads for the compare page and API: which suite and models, the comparison, and its radar chart."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.paginator import Page

from evaluations import compare
from evaluations.models import ModelEntry, RunStatus, Score, Suite
from evaluations.selectors import visible_runs
from leaderboard import charts
from leaderboard.selectors import suite_choices

User = AbstractBaseUser | AnonymousUser | None
MIN_RADAR_AXES = charts.MIN_RADAR_AXES  # fewer categories: benchmarks replace them, then bars replace the radar


@dataclass
class CompareRequest:
    """The parsed query: model references in order, the suite version, and what was wrong with them."""

    models: list[ModelEntry]
    suite: Suite | None
    suites: list[Suite]
    problems: list[str] = field(default_factory=list)

    @property
    def query(self) -> str:
        """The canonical query string: ?models=a,b&suite=N."""
        params = {"models": ",".join(model.slug for model in self.models)}
        if self.suite:
            params["suite"] = str(self.suite.pk)
        return "?" + urlencode(params, safe=",")


@dataclass
class ComparePage:
    request: CompareRequest
    choices: list[ModelEntry]  # models the form offers: those with a finished run this viewer may see
    comparison: compare.Comparison | None
    radar_html: str = ""
    radar_axes: str = ""  # "category" or "benchmark"

    @property
    def slots(self) -> list[ModelSlot]:
        """The form's four model fields, filled in order with the models asked for."""
        chosen = [model.slug for model in self.request.models]
        return [ModelSlot(letter, chosen[i] if i < len(chosen) else "") for i, letter in enumerate("ABCD")]


@dataclass(frozen=True)
class ModelSlot:
    letter: str
    slug: str


def compare_request(*, references: Iterable[str], suite_id: str | None, user: User) -> CompareRequest:
    """References may come comma-joined (?models=a,b) or repeated (?models=a&models=b, from the form)."""
    split = [part for reference in references for part in reference.split(",")]
    models, missing = compare.models_find(split)
    suites = suite_choices()
    problems = [f"No model called {name!r}." for name in missing]
    if len(models) > compare.MAX_MODELS:
        problems.append(f"At most {compare.MAX_MODELS} models at a time; the first {compare.MAX_MODELS} are compared.")
        models = models[:compare.MAX_MODELS]
    suite = _suite(suite_id, suites, user)
    if suite_id and (suite is None or str(suite.pk) != str(suite_id)):
        problems.append(f"No suite version {suite_id!r}.")
    return CompareRequest(models, suite, suites, problems)


def _suite(suite_id: str | None, suites: list[Suite], user: User) -> Suite | None:
    """The asked-for version, else the leaderboard's default. A version without public results is found only
    for a viewer with a finished run in it (its owner, staff): to anyone else it does not exist."""
    default = suites[0] if suites else None
    if not suite_id or not str(suite_id).isdigit():
        return default
    asked = next((suite for suite in suites if str(suite.pk) == str(suite_id)), None)
    if asked is not None:
        return asked
    suite = Suite.objects.filter(pk=suite_id).first()
    if suite is None or user is None or not user.is_authenticated:
        return default
    seen = Score.objects.filter(is_primary=True, config_key__in=list(suite.entries.values()),
                                run__in=visible_runs(user).filter(status=RunStatus.FINISHED))
    return suite if seen.exists() else default


def compare_page(*, request: CompareRequest, user: User, for_page: bool = True) -> ComparePage:
    """The comparison; the page also gets the form's model choices and the radar chart (the API needs neither)."""
    comparison = None
    if request.suite is not None and len(request.models) >= 2:
        comparison = compare.model_comparison(models=request.models, suite=request.suite, user=user)
    page = ComparePage(request, model_choices(user) if for_page else [], comparison)
    if comparison is not None and for_page:
        page.radar_html, page.radar_axes = radar_chart(comparison)
    return page


def model_choices(user: User) -> list[ModelEntry]:
    finished = visible_runs(user).filter(status=RunStatus.FINISHED)
    return list(ModelEntry.objects.filter(runs__in=finished).distinct().order_by("name"))


def disagreements(*, request: CompareRequest, user: User, benchmark: str,
                  page: str | None) -> tuple[compare.BenchmarkInfo, Page] | None:
    if request.suite is None or len(request.models) < 2:
        return None
    return compare.disagreement_page(models=request.models, suite=request.suite, user=user, benchmark=benchmark,
                                     page=page)


def radar_axes(comparison: compare.Comparison) -> tuple[str, list[tuple[str, dict[int, float | None]]]]:
    """("category", [(category, {model id: normalised score})]), or per benchmark when categories are too few."""
    if len(comparison.categories) >= MIN_RADAR_AXES:
        return "category", [(category.category, category.scores) for category in comparison.categories]
    axes = []
    for info in comparison.benchmarks:
        scores = {}
        for model in comparison.models:
            result = comparison.result(model, info.slug)
            scores[model.pk] = result.normalized if result else None
        axes.append((info.title, scores))
    return "benchmark", axes


def radar_chart(comparison: compare.Comparison) -> tuple[str, str]:
    """A plotly polar chart of baseline-normalised scores (0 = chance, 100 = perfect), one trace per model.

    With fewer than three axes even per benchmark a radar is a line, so those scores are grouped bars instead.
    """
    kind, axes = radar_axes(comparison)
    traces = [(model.name, [scores.get(model.pk) for _, scores in axes]) for model in comparison.models]
    return charts.radar_chart([label for label, _ in axes], traces, "radar-chart"), kind
