"""Vega-Lite specs for a change's impact: treated vs control by day, and the estimate."""

from __future__ import annotations

from typing import Any

from daytwo.backlog.schemas import ChangePublic

SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"
CONFIG = {"view": {"stroke": None}, "axis": {"labelFontSize": 10, "gridColor": "#eef0f2"}}


def daily_spec(change: ChangePublic, fmt: str = ".0%") -> dict[str, Any] | None:
    """Treated and control rates by day, with the day the change shipped."""
    impact = change.impact
    if impact is None or not impact.daily:
        return None
    rows = [
        {"day": d["day"], "group": group, "value": d[group]}
        for d in impact.daily
        for group in ("treated", "control")
    ]
    shipped = change.shipped_at.date().isoformat()
    return {
        "$schema": SCHEMA,
        "description": f"{impact.metric} of changed and control journeys by day",
        "width": "container",
        "height": 200,
        "layer": [
            {
                "data": {"values": rows},
                "mark": {"type": "line", "point": {"size": 12, "filled": True}},
                "encoding": {
                    "x": {"field": "day", "type": "temporal", "title": None},
                    "y": {
                        "field": "value",
                        "type": "quantitative",
                        "title": impact.metric,
                        "axis": {"format": fmt},
                        "scale": {"zero": False},
                    },
                    "color": {
                        "field": "group",
                        "type": "nominal",
                        "title": None,
                        "scale": {
                            "domain": ["treated", "control"],
                            "range": ["#2457a6", "#8a949e"],
                        },
                    },
                    "tooltip": [
                        {"field": "day", "type": "temporal"},
                        {"field": "group", "type": "nominal"},
                        {"field": "value", "type": "quantitative", "format": ".3f"},
                    ],
                },
            },
            {
                "data": {"values": [{"day": shipped, "label": "shipped"}]},
                "mark": {"type": "rule", "color": "#a86a00", "strokeDash": [3, 3]},
                "encoding": {"x": {"field": "day", "type": "temporal"}},
            },
        ],
        "config": CONFIG,
    }


def estimate_spec(change: ChangePublic) -> dict[str, Any] | None:
    """The difference-in-differences estimate with its interval, against zero."""
    impact = change.impact
    if impact is None or impact.estimate is None or impact.lo is None or impact.hi is None:
        return None
    colour = {"improved": "#1e7a46", "regressed": "#b3261e"}.get(impact.verdict, "#5c6670")
    point = {"label": "effect", "estimate": impact.estimate, "lo": impact.lo, "hi": impact.hi}
    return {
        "$schema": SCHEMA,
        "description": "Estimated effect with its bootstrap interval",
        "width": "container",
        "height": 60,
        "data": {"values": [point]},
        "layer": [
            {
                "mark": {"type": "rule", "strokeWidth": 3, "color": colour},
                "encoding": {
                    "x": {"field": "lo", "type": "quantitative", "title": "effect (DiD)"},
                    "x2": {"field": "hi"},
                    "y": {"field": "label", "type": "nominal", "title": None},
                },
            },
            {
                "mark": {"type": "point", "filled": True, "size": 80, "color": colour},
                "encoding": {
                    "x": {"field": "estimate", "type": "quantitative"},
                    "y": {"field": "label", "type": "nominal"},
                },
            },
            {
                "data": {"values": [{"zero": 0}]},
                "mark": {"type": "rule", "color": "#1d232a", "strokeDash": [2, 2]},
                "encoding": {"x": {"field": "zero", "type": "quantitative"}},
            },
        ],
        "config": CONFIG,
    }
