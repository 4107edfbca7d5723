"""Plotly charts of the pages, rendered on the server as a div and its data (benchsite.plots; the page loads plotly.min.js once)."""
from __future__ import annotations

import math
from functools import lru_cache

from django.utils.translation import gettext

from benchsite.plots import figure_html
from evaluations.history import HistorySeries
from leaderboard.selectors import BenchmarkCorrelations, Leaderboard

# Plotly's default qualitative palette, so a series' band has its line's colour.
PALETTE = ("#636efa", "#ef553b", "#00cc96", "#ab63fa", "#ffa15a", "#19d3f3", "#ff6692", "#b6e880", "#ff97ff",
           "#fecb52")
CONFIG = {"displaylogo": False, "responsive": True}
STATIC = {**CONFIG, "displayModeBar": False}  # heat-maps: nothing to zoom, and the bar would cover the labels


def history_chart(series: list[HistorySeries]) -> str:
    """Score over time per benchmark configuration: the line, its 95% band (± 1.96 SE), regressions as ✕."""
    import plotly.graph_objects as go

    if not series:
        return ""
    figure = go.Figure()
    for index, one in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        scale = 100 if one.scale_max <= 1 else 1  # 0-1 metrics in percent, as the tables show them
        times = [point.finished_at for point in one.points]
        values = [point.value * scale for point in one.points]
        banded = [point for point in one.points if point.stderr is not None]
        if banded:
            upper = [point.ci_high * scale for point in banded]
            lower = [point.ci_low * scale for point in banded]
            band_times = [point.finished_at for point in banded]
            figure.add_trace(go.Scatter(
                x=band_times + band_times[::-1], y=upper + lower[::-1], fill="toself", fillcolor=colour,
                opacity=0.15, line={"width": 0}, hoverinfo="skip", showlegend=False, legendgroup=one.name))
        figure.add_trace(go.Scatter(
            x=times, y=values, mode="lines+markers", name=one.name, legendgroup=one.name,
            line={"color": colour}, customdata=[[point.run_id, point.n] for point in one.points],
            hovertemplate=f"{one.title} ({one.metric})<br>%{{y:.1f}}<br>{gettext('run')} %{{customdata[0]}}, "
                          "n = %{customdata[1]}<extra></extra>"))
        regressed = [point for point in one.points if point.regressed]
        if regressed:
            figure.add_trace(go.Scatter(
                x=[point.finished_at for point in regressed], y=[point.value * scale for point in regressed],
                mode="markers", marker={"symbol": "x", "size": 13, "color": "#c0392b"}, name=gettext("regression"),
                legendgroup="regression", showlegend=index == _first_with_regression(series),
                hovertemplate=f"{gettext('regression')}: {gettext('run')} %{{customdata}}<extra></extra>",
                customdata=[point.run_id for point in regressed]))
    figure.update_layout(
        height=380, margin={"l": 50, "r": 20, "t": 20, "b": 40}, template="plotly_white",
        yaxis={"title": gettext("score (95%% interval shaded)").replace("%%", "%")},
        legend={"orientation": "h", "y": -0.2},
    )
    return figure_html(figure, div_id="history-chart", config=CONFIG)


def _first_with_regression(series: list[HistorySeries]) -> int:
    return next((i for i, one in enumerate(series) if any(point.regressed for point in one.points)), -1)


MIN_RADAR_AXES = 3  # a radar of fewer axes is a line: bars instead


def radar_chart(labels: list[str], traces: list[tuple[str, list[float | None]]], div_id: str) -> str:
    """Baseline-normalised scores (0-1) per axis, one trace per model, in percent; bars below three axes.

    Near-chance models would be a dot on a 0-100 axis, so the axis ends at the next ten above the best score.
    """
    import plotly.graph_objects as go

    if not labels or not traces:
        return ""
    present = [value for _, values in traces for value in values if value is not None]
    top = min(100, max(10, math.ceil(max(present, default=0) * 100 / 10 + 0.5) * 10))
    figure = go.Figure()
    for name, values in traces:
        percents = [None if value is None else round(value * 100, 1) for value in values]
        if len(labels) < MIN_RADAR_AXES:
            figure.add_trace(go.Bar(x=labels, y=percents, name=name))
        else:
            figure.add_trace(go.Scatterpolar(r=percents + percents[:1], theta=labels + labels[:1], name=name,
                                             fill="toself", opacity=0.55))
    figure.update_layout(
        polar={"radialaxis": {"range": [0, top], "angle": 90, "tickfont": {"size": 10}}},
        yaxis={"range": [0, top], "title": gettext("normalised score")}, barmode="group",
        height=420, margin={"l": 60, "r": 60, "t": 30, "b": 30}, template="plotly_white",
        legend={"orientation": "h", "y": -0.12}, showlegend=len(traces) > 1,
    )
    return figure_html(figure, div_id=div_id, config=CONFIG)


def leaderboard_heatmap(board: Leaderboard) -> str:
    """Models × benchmarks of the board as shown, coloured by baseline-normalised score, labelled with the value."""
    if not board.rows or not board.columns:
        return ""
    models = [row.model.name for row in board.rows]
    columns = [column.title for column in board.columns] + [gettext("Normalised average")]
    normalized = [[None if cell is None or cell.normalized is None else round(cell.normalized * 100, 1)
                   for cell in row.cells] + [None if row.average is None else round(row.average * 100, 1)]
                  for row in board.rows]
    text = [[_cell_text(cell) for cell in row.cells] + [_percent(row.average)] for row in board.rows]
    heatmap = {"type": "heatmap", "z": normalized, "x": columns, "y": models, "text": text, "texttemplate": "%{text}",
               "colorscale": "Blues", "zmin": 0, "zmax": 100, "colorbar": {"title": {"text": gettext("normalised")}},
               "hovertemplate": f"%{{y}} · %{{x}}<br>{gettext('score')} %{{text}}<br>{gettext('normalised')} %{{z}}"
                                "<extra></extra>"}
    layout = {"height": 140 + 34 * len(models), "margin": {"l": 10, "r": 10, "t": 10, "b": 40},
              "template": _white_template(), "yaxis": {"autorange": "reversed", "automargin": True},
              "xaxis": {"side": "top"}}
    return figure_html({"data": [heatmap], "layout": layout}, div_id="leaderboard-heatmap", config=STATIC,
                       validate=False)


def correlation_heatmap(matrix: BenchmarkCorrelations) -> str:
    """Pearson correlation of benchmark scores across models (n models with both, in the hover)."""
    if len(matrix.titles) < 2:
        return ""
    text = [[("" if value is None else f"{value:.2f}") for value in row] for row in matrix.pearson]
    heatmap = {"type": "heatmap", "z": matrix.pearson, "x": matrix.titles, "y": matrix.titles, "text": text,
               "texttemplate": "%{text}", "zmin": -1, "zmax": 1, "colorscale": "RdBu", "customdata": matrix.n,
               "hovertemplate": "%{y} × %{x}<br>Pearson r = %{text}<br>"
                                + gettext("over %(models)s models") % {"models": "%{customdata}"} + "<extra></extra>"}
    layout = {"height": 160 + 40 * len(matrix.titles), "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
              "template": _white_template(), "yaxis": {"autorange": "reversed", "automargin": True},
              "xaxis": {"side": "top"}}
    return figure_html({"data": [heatmap], "layout": layout}, div_id="correlation-heatmap", config=STATIC,
                       validate=False)


@lru_cache(maxsize=1)
def _white_template() -> dict:
    """plotly's "plotly_white" template as plotly.js wants it (a name is resolved only by plotly.py's Figure);
    the heat-maps are built as dicts because validating a Figure of thousands of cells takes a second."""
    import plotly.io as pio

    return pio.templates["plotly_white"].to_plotly_json()


def _cell_text(cell) -> str:
    if cell is None:
        return "—"
    return _percent(cell.value) if cell.is_fraction else f"{cell.value:.2f}"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}"
