"""Reads for fine-tuned models: the lineage tree of the model page, and the vs-base page with its charts."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.utils.translation import gettext, ngettext

from benchsite.formats import localize_digits
from benchsite.plots import figure_html
from evaluations import compare
from evaluations.models import ModelEntry

User = AbstractBaseUser | AnonymousUser | None
LINEAGE_MAX_DEPTH = 8  # levels shown above and below the model
Z95 = 1.959964
TARGET_COLOUR, GENERAL_COLOUR = "#636efa", "#ffa15a"


# -- lineage ------------------------------------------------------------------------------------------
@dataclass
class LineageNode:
    model: ModelEntry
    children: list[LineageNode] = field(default_factory=list)
    current: bool = False


def model_lineage(model: ModelEntry) -> LineageNode | None:
    """The tree from the model's root base down to every descendant; None for a model with neither.

    One query per level: a family is a few models, and the depth is capped.
    """
    root = model
    for _ in range(LINEAGE_MAX_DEPTH):
        if root.base_model_id is None:
            break
        root = ModelEntry.objects.only("pk", "name", "slug", "base_model_id", "base_relation").get(
            pk=root.base_model_id)
    top = LineageNode(root, current=root.pk == model.pk)
    level, seen = [top], {root.pk}
    for _ in range(2 * LINEAGE_MAX_DEPTH):
        by_pk = {node.model.pk: node for node in level}
        children = (ModelEntry.objects.filter(base_model_id__in=list(by_pk)).exclude(pk__in=seen)
                    .only("pk", "name", "slug", "base_model_id", "base_relation").order_by("name"))
        level = []
        for child in children:
            node = LineageNode(child, current=child.pk == model.pk)
            by_pk[child.base_model_id].children.append(node)
            level.append(node)
            seen.add(child.pk)
        if not level:
            break
    return top if top.children else None


# -- base vs fine-tune ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class MeanChange:
    """Mean Δ (points) over a set of benchmarks, its SE (benchmarks independent) and how many it covers."""

    points: float
    se: float
    count: int

    @property
    def ci_half_width(self) -> float:
        return Z95 * self.se

    def __str__(self) -> str:
        return f"{self.points:+.1f} ± {self.ci_half_width:.1f}"


@dataclass(frozen=True)
class Transfer:
    """Gain on the target domain, change elsewhere, and the net (gain minus the loss elsewhere)."""

    target: MeanChange | None
    general: MeanChange | None

    @property
    def net(self) -> MeanChange | None:
        if self.target is None or self.general is None:
            return None
        return MeanChange(self.target.points + self.general.points,
                          math.hypot(self.target.se, self.general.se), self.target.count + self.general.count)


@dataclass(frozen=True)
class FewshotVerdict:
    benchmark: str
    tuned_points: float
    best_base_points: float
    best_shots: int
    margin_points: float  # fine-tune minus the best few-shot base
    resolved: bool  # outside the 95% interval of the difference (the two runs treated as independent)

    @property
    def margin(self) -> str:
        return localize_digits(f"{self.margin_points:+.1f}")

    @property
    def winner(self) -> str:
        if not self.resolved:
            return gettext("no clear winner")
        if self.margin_points > 0:
            return gettext("fine-tune")
        shots = ngettext("base at %(shots)d shot", "base at %(shots)d shots", self.best_shots)
        return shots % {"shots": self.best_shots}


@dataclass
class VsBasePage:
    model: ModelEntry
    base: ModelEntry
    rows: list[compare.PairRow]
    target: set[str]
    transfer: Transfer
    chart: str
    fewshot_chart: str
    fewshot_verdicts: list[FewshotVerdict]


def vs_base_page(*, slug: str, user: User) -> VsBasePage | None:
    """The fine-tune minus its base per benchmark (paired, Holm-adjusted), transfer, and few-shot vs fine-tune."""
    model = ModelEntry.objects.select_related("base_model").filter(slug=slug).first()
    if model is None or model.base_model is None:
        return None
    pair = compare.pair_comparison(model_a=model, model_b=model.base_model, user=user)
    rows = [row for row in pair.rows if row.delta is not None]
    target = set(model.target_benchmarks)
    transfer = Transfer(_mean_change([row for row in rows if row.benchmark.slug in target]),
                        _mean_change([row for row in rows if row.benchmark.slug not in target]))
    points = compare.fewshot_points(tuned=model, base=model.base_model, benchmarks=sorted(target), user=user)
    return VsBasePage(model, model.base_model, rows, target, transfer, delta_chart(rows, target),
                      fewshot_chart(points, model), _fewshot_verdicts(points, model))


def points_of(row: compare.PairRow, value: float | None) -> float | None:
    """A score difference in points of 100 (accuracy 0.02 → 2.0)."""
    scale = row.result_a.scale_max if row.result_a and row.result_a.scale_max else 1.0
    return None if value is None else 100 * value / scale


def _mean_change(rows: list[compare.PairRow]) -> MeanChange | None:
    deltas = [points_of(row, row.delta) for row in rows]
    ses = [points_of(row, row.se) or 0.0 for row in rows]
    if not deltas:
        return None
    return MeanChange(sum(deltas) / len(deltas), math.sqrt(sum(se * se for se in ses)) / len(deltas), len(deltas))


def _fewshot_verdicts(points: list[compare.FewshotPoint], tuned: ModelEntry) -> list[FewshotVerdict]:
    verdicts = []
    for slug in sorted({point.benchmark for point in points}):
        mine = [p for p in points if p.benchmark == slug and p.model == tuned]
        base = [p for p in points if p.benchmark == slug and p.model != tuned]
        if not mine or not base:
            continue
        best = max(base, key=lambda p: p.result.value)
        margin = 100 * (mine[0].result.value - best.result.value)
        se = 100 * math.hypot(mine[0].result.stderr or 0.0, best.result.stderr or 0.0)
        verdicts.append(FewshotVerdict(slug, 100 * mine[0].result.value, 100 * best.result.value, best.shots, margin,
                                       abs(margin) > Z95 * se if se else False))
    return verdicts


# -- charts ---------------------------------------------------------------------------------------------
def delta_chart(rows: list[compare.PairRow], target: set[str]) -> str:
    """Diverging bars: Δ (points) per benchmark with its paired 95% CI, target domain and the rest coloured apart."""
    import plotly.graph_objects as go

    if not rows:
        return ""
    ordered = sorted(rows, key=lambda row: (row.benchmark.slug not in target, -(row.delta or 0)))
    figure = go.Figure()
    groups = ((True, "target domain", TARGET_COLOUR), (False, "other benchmarks", GENERAL_COLOUR))
    for is_target, name, colour in groups:
        chosen = [row for row in ordered if (row.benchmark.slug in target) == is_target]
        if not chosen:
            continue
        deltas = [round(points_of(row, row.delta), 2) for row in chosen]
        figure.add_trace(go.Bar(
            y=[row.benchmark.title for row in chosen], x=deltas, orientation="h", name=name, marker_color=colour,
            error_x={"type": "data", "symmetric": False,
                     "array": [round(points_of(row, row.ci_high) - d, 2) if row.ci_high is not None else 0
                               for row, d in zip(chosen, deltas)],
                     "arrayminus": [round(d - points_of(row, row.ci_low), 2) if row.ci_low is not None else 0
                                    for row, d in zip(chosen, deltas)]},
            hovertemplate="%{y}: %{x:+.1f} points<extra></extra>",
        ))
    figure.add_vline(x=0, line_color="#444", line_width=1)
    figure.update_layout(
        xaxis={"title": "fine-tune − base (points, 95% paired bootstrap CI)", "zeroline": False},
        yaxis={"autorange": "reversed"}, barmode="overlay", template="plotly_white",
        height=max(220, 60 + 38 * len(rows)), margin={"l": 160, "r": 30, "t": 20, "b": 50},
        legend={"orientation": "h", "y": -0.25},
    )
    return figure_html(figure, div_id="vs-base-chart")


def fewshot_chart(points: list[compare.FewshotPoint], tuned: ModelEntry) -> str:
    """The base's score against shots (95% CI bars) per target benchmark, the fine-tune at zero shots as a line."""
    import plotly.graph_objects as go

    base_points = [p for p in points if p.model != tuned]
    if not base_points:
        return ""
    figure = go.Figure()
    palette = ("#636efa", "#ef553b", "#00cc96", "#ab63fa")
    for index, slug in enumerate(sorted({p.benchmark for p in points})):
        colour = palette[index % len(palette)]
        series = sorted((p for p in base_points if p.benchmark == slug), key=lambda p: p.shots)
        figure.add_trace(go.Scatter(
            x=[p.shots for p in series], y=[round(100 * p.result.value, 2) for p in series], mode="lines+markers",
            name=f"{slug}: base, k shots", line={"color": colour},
            error_y={"type": "data", "array": [round(100 * Z95 * (p.result.stderr or 0), 2) for p in series]},
        ))
        mine = next((p for p in points if p.benchmark == slug and p.model == tuned), None)
        if mine is not None:
            value, half = 100 * mine.result.value, 100 * Z95 * (mine.result.stderr or 0)
            figure.add_hrect(y0=value - half, y1=value + half, fillcolor=colour, opacity=0.12, line_width=0)
            figure.add_trace(go.Scatter(x=[0, max(compare.FEWSHOT_COUNTS)], y=[round(value, 2)] * 2, mode="lines",
                                        name=f"{slug}: fine-tune, 0 shots", line={"color": colour, "dash": "dash"}))
    figure.update_layout(
        xaxis={"title": "shots given to the base", "tickvals": list(compare.FEWSHOT_COUNTS)},
        yaxis={"title": "score (%, 95% CI)"}, template="plotly_white", height=380,
        margin={"l": 60, "r": 30, "t": 20, "b": 50}, legend={"orientation": "h", "y": -0.2},
    )
    return figure_html(figure, div_id="fewshot-chart")
