"""A model's history: every finished run it has of a benchmark configuration is a point over time, with its
interval, and the runs that regressed against their baseline marked. Reads only."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import QuerySet

from evaluations.models import ModelEntry, Regression, RunStatus, Score, Suite
from evaluations.selectors import visible_runs

Z_95 = 1.959963984540054


@dataclass(frozen=True)
class HistoryPoint:
    run_id: int
    finished_at: datetime
    value: float
    stderr: float | None
    n: int
    regressed: bool  # this run was significantly worse than its baseline on the benchmark

    @property
    def ci_low(self) -> float | None:
        return None if self.stderr is None else self.value - Z_95 * self.stderr

    @property
    def ci_high(self) -> float | None:
        return None if self.stderr is None else self.value + Z_95 * self.stderr


@dataclass
class HistorySeries:
    """One benchmark under one configuration (a suite version's, or another) over time, oldest first."""

    benchmark: str
    title: str
    metric: str
    config_key: str
    label: str  # the suite versions the configuration belongs to, or "other configuration"
    scale_max: float
    higher_is_better: bool
    points: list[HistoryPoint] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.title} · {self.label}"


def model_history(*, model: ModelEntry, user, regressions: list[Regression] | None = None) -> list[HistorySeries]:
    """The model's finished runs this user may see, as one series per (top-level benchmark, configuration).

    `regressions`: the model's visible regressions when the caller has them already (saves a query).
    """
    runs = visible_runs(user).filter(model=model, status=RunStatus.FINISHED)
    rows = list(
        Score.objects.filter(run__in=runs, is_primary=True)
        .order_by("run__finished_at", "run_id")
        .values("run_id", "run__finished_at", "benchmark__slug", "benchmark__title", "benchmark__is_group",
                "benchmark__task_spec", "metric", "value", "stderr", "n", "config_key", "scale_max",
                "higher_is_better")
    )
    members = {member for row in rows if row["benchmark__is_group"]
               for member in (row["benchmark__task_spec"] or {}).get("members", ())}
    regressed = ({(r.run_id, r.benchmark.slug) for r in regressions} if regressions is not None else
                 set(visible_regressions(user).filter(model=model).values_list("run_id", "benchmark__slug")))
    labels = _suite_labels({row["config_key"] for row in rows})
    series: dict[tuple[str, str], HistorySeries] = {}
    for row in rows:
        slug = row["benchmark__slug"]
        if slug in members:
            continue  # a group's members are inside its score
        key = (slug, row["config_key"])
        if key not in series:
            series[key] = HistorySeries(slug, row["benchmark__title"] or slug, row["metric"], row["config_key"],
                                        labels.get(row["config_key"], "other configuration"), row["scale_max"],
                                        row["higher_is_better"])
        series[key].points.append(HistoryPoint(row["run_id"], row["run__finished_at"], row["value"], row["stderr"],
                                               row["n"], (row["run_id"], slug) in regressed))
    return sorted(series.values(), key=lambda s: (s.benchmark, s.label != "other configuration", s.label))


def visible_regressions(user) -> QuerySet[Regression]:
    """Regressions whose run and baseline this user may both see, newest first."""
    runs = visible_runs(user)
    return Regression.objects.filter(run__in=runs, baseline_run__in=runs)


def model_regressions(*, model: ModelEntry, user) -> list[Regression]:
    return list(visible_regressions(user).filter(model=model).select_related("benchmark", "baseline_run__model")
                .order_by("-created_at", "-pk"))


def _suite_labels(keys: set[str]) -> dict[str, str]:
    """Configuration key → the suite versions that use it ("Standard suite v2, Demo suite v1")."""
    labels: dict[str, list[str]] = {}
    for suite in Suite.objects.order_by("slug", "pk"):
        for key in set(suite.entries.values()) & keys:
            labels.setdefault(key, []).append(f"{suite.title} v{suite.version}")
    return {key: ", ".join(names) for key, names in labels.items()}
