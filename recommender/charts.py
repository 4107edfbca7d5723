"""The Pareto chart: every candidate on the two axes the user picked, the frontier of those two axes drawn as a line."""
from __future__ import annotations

import functools
import math

import numpy as np
from django.utils.translation import gettext

from benchsite.plots import figure_html

from recommender.ranking import pareto_front
from recommender.selectors import AXES, Candidate

LABELLED_POINTS = 30


def frontier_2d(candidates: list[Candidate], x: str, y: str) -> list[bool]:
    """Candidates not dominated on the two axes (unknown values count as worst)."""
    if not candidates:
        return []
    sign = {name: 1.0 if AXES[name][2] else -1.0 for name in (x, y)}
    objectives = np.asarray([[_nan(c.axis(x)) * sign[x], _nan(c.axis(y)) * sign[y]] for c in candidates])
    return [bool(flag) for flag in pareto_front(objectives)]


def pareto_chart(candidates: list[Candidate], x: str, y: str) -> str:
    """Plotly's figure as plain dicts, unvalidated: building 200 validated points took longer than the ranking."""
    front = frontier_2d(candidates, x, y)
    shown = [(c, on) for c, on in zip(candidates, front) if c.axis(x) is not None and c.axis(y) is not None]
    if not shown:
        return ""
    traces = []
    for on_front, name, colour in ((False, gettext("dominated"), "#9aa5b1"),
                                   (True, gettext("on the frontier"), "#1f6feb")):
        group = [c for c, on in shown if on == on_front]
        if not group:
            continue
        # Names beside every point only while they stay legible; hovering always shows them.
        labelled = on_front or len(shown) <= LABELLED_POINTS
        trace = {"type": "scatter", "x": [c.axis(x) for c in group], "y": [c.axis(y) for c in group],
                 "mode": "markers+text" if labelled else "markers", "name": name,
                 "text": [c.model.name for c in group], "textposition": "top center",
                 "marker": {"size": 11, "color": colour},
                 "hovertemplate": "%{text}<br>%{x:.3g}, %{y:.3g}<extra></extra>"}
        if "score" in (x, y):
            trace["error_y" if y == "score" else "error_x"] = _score_errors(group)
        traces.append(trace)
    line = sorted((c for c, on in shown if on), key=lambda c: c.axis(x))
    if len(line) > 1:
        traces.append({"type": "scatter", "x": [c.axis(x) for c in line], "y": [c.axis(y) for c in line],
                       "mode": "lines", "line": {"color": "#1f6feb", "dash": "dot"}, "name": "frontier",
                       "hoverinfo": "skip"})
    layout = {
        "xaxis": {"title": {"text": _title(x)}, "type": _scale([c.axis(x) for c, _ in shown])},
        "yaxis": {"title": {"text": _title(y)}, "type": _scale([c.axis(y) for c, _ in shown])},
        "height": 420, "template": _template(), "margin": {"l": 60, "r": 20, "t": 20, "b": 50},
        "legend": {"orientation": "h", "y": -0.18},
    }
    return figure_html({"data": traces, "layout": layout}, div_id="pareto-chart", validate=False)


@functools.cache
def _template() -> dict:
    import plotly.io as pio

    return pio.templates["plotly_white"].to_plotly_json()


def _scale(values: list[float]) -> str:
    """Log when positive figures span more than two orders of magnitude (a 70B model beside a 135M one)."""
    positive = [value for value in values if value > 0]
    if len(positive) == len(values) and positive and max(positive) / min(positive) > 100:
        return "log"
    return "linear"


def _score_errors(group: list[Candidate]) -> dict:
    return {"type": "data", "symmetric": False, "array": [c.ci_high - c.score for c in group],
            "arrayminus": [c.score - c.ci_low for c in group], "thickness": 1}


def _title(axis: str) -> str:
    title, unit, higher = AXES[axis]
    better = gettext("higher is better") if higher else gettext("lower is better")
    return f"{title} ({unit}, {better})"


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)
