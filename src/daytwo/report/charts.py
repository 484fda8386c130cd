"""Vega-Lite specs of the reports: the same spec is drawn by the page (the vendored Vega) and,
for the PDF and the e-mail, rendered to SVG on the server by vl-convert (no browser, nothing
fetched). Calm: a few muted lines, the target dashed, one accent colour for value."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

from daytwo.metrics.catalog import REGISTRY
from daytwo.metrics.schemas import MetricPoint, MetricSummary

SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"
FONT = "Liberation Sans, Arial, sans-serif"
CONFIG = {
    "view": {"stroke": None},
    "font": FONT,
    "axis": {"labelFontSize": 9, "titleFontSize": 9, "gridColor": "#eef0f2", "domain": False},
    "legend": {"labelFontSize": 9, "orient": "top", "title": None},
}
# The UI's colour language: accent, then muted greys; value is the accent, costs grey.
SERIES = ["#2457a6", "#5c6670", "#a86a00"]


def trend_spec(
    points: Sequence[MetricPoint],
    kpis: Sequence[MetricSummary],
    *,
    width: int | str = 460,
    height: int = 150,
) -> dict[str, Any] | None:
    """The rates of a report week by week, each with its target as a dashed rule."""
    rows = [
        {"week": p.bucket.date().isoformat(), "metric": REGISTRY[p.metric].name, "value": p.value}
        for p in points
        if p.bucket is not None and p.value is not None
    ]
    if not rows:
        return None
    names = list(dict.fromkeys(r["metric"] for r in rows))
    targets = [
        {"metric": k.name, "target": k.target}
        for k in kpis
        if k.target is not None and k.name in names
    ]
    colour = {
        "field": "metric",
        "type": "nominal",
        "scale": {"domain": names, "range": SERIES[: len(names)]},
    }
    layers: list[dict[str, Any]] = [
        {
            "data": {"values": rows},
            "mark": {"type": "line", "point": {"size": 14, "filled": True}, "strokeWidth": 1.5},
            "encoding": {
                "x": {
                    "field": "week",
                    "type": "temporal",
                    "title": None,
                    "axis": {"format": "%d %b", "tickCount": 8},
                },
                "y": {
                    "field": "value",
                    "type": "quantitative",
                    "title": None,
                    "axis": {"format": ".0%"},
                    "scale": {"zero": False},
                },
                "color": colour,
                "tooltip": [
                    {"field": "week", "type": "temporal", "title": "week of"},
                    {"field": "metric", "type": "nominal"},
                    {"field": "value", "type": "quantitative", "format": ".1%"},
                ],
            },
        },
    ]
    if targets:
        layers.append(
            {
                "data": {"values": targets},
                "mark": {"type": "rule", "strokeDash": [4, 3], "strokeWidth": 1, "opacity": 0.7},
                "encoding": {
                    "y": {"field": "target", "type": "quantitative"},
                    "color": colour,
                },
            }
        )
    return {
        "$schema": SCHEMA,
        "description": "Week by week since go-live; dashed: the target",
        "width": width,
        "height": height,
        "config": CONFIG,
        "layer": layers,
    }


def value_spec(
    months: Sequence[tuple[str, float, float]], currency: str, *, width: int | str = 460
) -> dict[str, Any] | None:
    """Net value and cost by month: (month, net, costs)."""
    rows = [
        {"month": m, "what": what, "amount": amount}
        for m, net, costs in months
        for what, amount in (("net value", net), ("cost", costs))
    ]
    if not rows:
        return None
    return {
        "$schema": SCHEMA,
        "description": f"Net value and cost by month, {currency}",
        "width": width,
        "height": 130,
        "config": CONFIG,
        "data": {"values": rows},
        "mark": {"type": "bar", "cornerRadiusEnd": 1},
        "encoding": {
            "x": {"field": "month", "type": "ordinal", "title": None, "axis": {"labelAngle": 0}},
            "xOffset": {"field": "what"},
            "y": {
                "field": "amount",
                "type": "quantitative",
                "title": currency,
                "axis": {"format": "~s"},
            },
            "color": {
                "field": "what",
                "type": "nominal",
                "scale": {"domain": ["net value", "cost"], "range": ["#2457a6", "#9aa5b1"]},
            },
            "tooltip": [
                {"field": "month", "type": "ordinal"},
                {"field": "what", "type": "nominal"},
                {"field": "amount", "type": "quantitative", "format": ",.2f"},
            ],
        },
    }


# vl-convert numbers its clip paths by the charts its process drew before (clip1, clip2, ...).
_CLIP_ID = re.compile(r"\bclip(\d+)\b")


def to_svg(spec: dict[str, Any]) -> str:
    """The spec drawn as SVG on the server (vl-convert bundles Vega; nothing is fetched).

    Its clip ids are renamed after the spec and their order in the drawing, so one chart is the
    same SVG whichever charts the process drew before (a served report and its issued copy
    match), and two different charts in one document never share an id."""
    import vl_convert  # a heavy import, only where a PDF or a mail is made

    svg: str = vl_convert.vegalite_to_svg(spec)
    tag = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:10]
    local: dict[str, int] = {}

    def rename(match: re.Match[str]) -> str:
        return f"clip-{tag}-{local.setdefault(match[1], len(local) + 1)}"

    return _CLIP_ID.sub(rename, svg)
