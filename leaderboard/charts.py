"""Plotly charts of the pages, rendered on the server as a div and its data (the page loads plotly.min.js once)."""
from __future__ import annotations

from evaluations.history import HistorySeries

# Plotly's default qualitative palette, so a series' band has its line's colour.
PALETTE = ("#636efa", "#ef553b", "#00cc96", "#ab63fa", "#ffa15a", "#19d3f3", "#ff6692", "#b6e880", "#ff97ff",
           "#fecb52")
CONFIG = {"displaylogo": False, "responsive": True}


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
            hovertemplate=f"{one.title} ({one.metric})<br>%{{y:.1f}}<br>run %{{customdata[0]}}, "
                          "n = %{customdata[1]}<extra></extra>"))
        regressed = [point for point in one.points if point.regressed]
        if regressed:
            figure.add_trace(go.Scatter(
                x=[point.finished_at for point in regressed], y=[point.value * scale for point in regressed],
                mode="markers", marker={"symbol": "x", "size": 13, "color": "#c0392b"}, name="regression",
                legendgroup="regression", showlegend=index == _first_with_regression(series),
                hovertemplate="regression: run %{customdata}<extra></extra>",
                customdata=[point.run_id for point in regressed]))
    figure.update_layout(
        height=380, margin={"l": 50, "r": 20, "t": 20, "b": 40}, template="plotly_white",
        yaxis={"title": "score (95% interval shaded)"}, legend={"orientation": "h", "y": -0.2},
    )
    return figure.to_html(full_html=False, include_plotlyjs=False, div_id="history-chart", config=CONFIG)


def _first_with_regression(series: list[HistorySeries]) -> int:
    return next((i for i, one in enumerate(series) if any(point.regressed for point in one.points)), -1)
