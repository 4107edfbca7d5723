"""Plotly figures as HTML that a strict Content-Security-Policy allows: a div and a JSON data block, no inline script.

plotly's own `to_html` writes an inline `<script>` per chart, which `script-src 'self'` blocks (and which HTMX would
have to re-run with a nonce after every swap). Here the figure travels as `<script type="application/json">` — data,
never executed, so CSP does not apply — and static/js/charts.js draws every such block on load and after each swap.
"""
from __future__ import annotations

from typing import Any

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

# json.dumps leaves these alone; inside a <script> element "</script>" or "<!--" in a label would end the block.
_JSON_SCRIPT_ESCAPES = {ord("<"): "\\u003C", ord(">"): "\\u003E", ord("&"): "\\u0026"}
DEFAULT_CONFIG = {"displaylogo": False, "responsive": True}


def figure_html(figure: Any, *, div_id: str, config: dict | None = None, validate: bool = True) -> SafeString:
    """The chart's div and its figure ({data, layout, config, width, height}) as a JSON block keyed by the div's id.

    `figure` is a plotly Figure or a figure dict (`validate=False` skips plotly's validation of a dict, as
    `to_html` does). The div's size follows plotly's `to_html`: the layout's width/height in px, else 100%.
    """
    from plotly.io._utils import validate_coerce_fig_to_dict
    from plotly.io.json import to_json_plotly

    fig = validate_coerce_fig_to_dict(figure, validate)
    layout = fig.get("layout", {})
    template_layout = layout.get("template", {}).get("layout", {})
    payload = {
        "data": fig.get("data", []),
        "layout": layout,
        "config": {**DEFAULT_CONFIG, **(config or {})},
        "width": _css_size(layout.get("width", template_layout.get("width"))),
        "height": _css_size(layout.get("height", template_layout.get("height"))),
    }
    data = to_json_plotly(payload).translate(_JSON_SCRIPT_ESCAPES)
    return format_html('<div id="{}" class="plotly-graph-div"></div>'
                       '<script type="application/json" data-plotly-for="{}">{}</script>',
                       div_id, div_id, mark_safe(data))


def _css_size(value: Any) -> str:
    if value is None:
        return "100%"
    try:
        return f"{float(value):g}px"
    except (TypeError, ValueError):
        return str(value)
