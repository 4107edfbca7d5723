"""The tornado chart: $/1M tokens when each input alone moves ±20%, widest swing on top."""
from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from benchsite.plots import figure_html
from costing.calculators import SENSITIVITY, TornadoBar

LABELS = {
    "hourly_usd": _("hourly rent"), "purchase_usd": _("purchase price"),
    "amortization_months": _("amortisation months"), "power_w": _("power"), "pue": "PUE",
    "usd_per_kwh": _("electricity price"), "grid_g_co2_per_kwh": _("grid intensity"),
    "tokens_per_s": _("throughput"), "utilization": _("utilisation"),
}


def tornado_chart(bars: list[TornadoBar], base: float) -> str:
    import plotly.graph_objects as go

    moving = [bar for bar in bars if bar.swing > 0]
    if not moving:
        return ""
    ordered = list(reversed(moving))  # plotly draws the first bar at the bottom
    labels = [str(LABELS.get(bar.name, bar.name)) for bar in ordered]
    figure = go.Figure()
    swing = f"{SENSITIVITY:.0%}"
    for key, name, colour in (("output_at_low", _("input −%(swing)s") % {"swing": swing}, "#1f6feb"),
                              ("output_at_high", _("input +%(swing)s") % {"swing": swing}, "#d1242f")):
        values = [getattr(bar, key) for bar in ordered]
        figure.add_trace(go.Bar(y=labels, x=[value - base for value in values], base=base, orientation="h", name=name,
                                marker_color=colour, customdata=values,
                                hovertemplate="%{y}: " + _("%(cost)s per 1M tokens") % {"cost": "$%{customdata:.4g}"}
                                + "<extra></extra>"))
    figure.add_vline(x=base, line_dash="dot", line_color="#57606a")
    figure.update_layout(barmode="overlay", height=80 + 36 * len(ordered), template="plotly_white",
                         xaxis_title=str(_("$ per 1M tokens")), margin={"l": 140, "r": 20, "t": 10, "b": 50},
                         legend={"orientation": "h", "y": -0.35})
    return figure_html(figure, div_id="tornado-chart")
