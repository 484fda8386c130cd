"""Vega-Lite specs of the adoption pages: weekly acceptance by cohort (or team), with the
target."""

from __future__ import annotations

from typing import Any

from daytwo.adoption.schemas import TrendPoint

SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"
CONFIG = {"view": {"stroke": None}, "axis": {"labelFontSize": 10, "gridColor": "#eef0f2"}}
PALETTE = ["#1d232a", "#2457a6", "#8a949e", "#a86a00", "#1e7a46", "#b3261e"]


def trend_spec(
    points: list[TrendPoint], target: float | None, series: tuple[str, ...] | None = None
) -> dict[str, Any] | None:
    """Weekly acceptance, one line per series (``all`` first), and the target as a rule."""
    rows = [
        {"week": p.week.isoformat(), "series": p.series, "acceptance": p.acceptance, "n": p.shown}
        for p in points
        if p.acceptance is not None and (series is None or p.series in series)
    ]
    if not rows:
        return None
    names = sorted({r["series"] for r in rows}, key=lambda s: (s != "all", s))
    layers: list[dict[str, Any]] = [
        {
            "data": {"values": rows},
            "mark": {"type": "line", "point": {"size": 18, "filled": True}},
            "encoding": {
                "x": {"field": "week", "type": "temporal", "title": None},
                "y": {
                    "field": "acceptance",
                    "type": "quantitative",
                    "title": "suggestion acceptance",
                    "axis": {"format": ".0%"},
                    "scale": {"zero": False},
                },
                "color": {
                    "field": "series",
                    "type": "nominal",
                    "title": None,
                    "scale": {"domain": names, "range": PALETTE[: len(names)]},
                },
                "tooltip": [
                    {"field": "week", "type": "temporal", "title": "week of"},
                    {"field": "series", "type": "nominal"},
                    {"field": "acceptance", "type": "quantitative", "format": ".1%"},
                    {"field": "n", "type": "quantitative", "title": "suggestions shown"},
                ],
            },
        }
    ]
    if target is not None:
        layers.append(
            {
                "data": {"values": [{"target": target}]},
                "mark": {"type": "rule", "color": "#1e7a46", "strokeDash": [4, 3]},
                "encoding": {"y": {"field": "target", "type": "quantitative"}},
            }
        )
    return {
        "$schema": SCHEMA,
        "description": "Weekly suggestion acceptance",
        "width": "container",
        "height": 200,
        "layer": layers,
        "config": CONFIG,
    }
