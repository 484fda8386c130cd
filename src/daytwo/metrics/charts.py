"""Vega-Lite specs for metric trends: the value, its baseline band, the target, phase markers."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from daytwo.metrics.catalog import Metric
from daytwo.metrics.schemas import MetricPoint

PHASES = (("stabilise", 0), ("optimise", 30), ("scale", 60), ("day 90", 90))


def _axis_format(metric: Metric) -> str:
    return ".0%" if metric.unit == "share" else ",.0f" if metric.unit in ("ms", "count") else ".2f"


def trend_spec(
    metric: Metric,
    points: list[MetricPoint],
    *,
    baseline: float | None,
    baseline_window: tuple[date, date] | None,
    target: float | None,
    go_live: date | None,
) -> dict[str, Any]:
    """A daily trend with interval, baseline window band, target line and 30/60/90 markers."""
    data = [
        {"day": p.bucket.date().isoformat(), "value": p.value, "lo": p.lo, "hi": p.hi, "n": p.n}
        for p in points
        if p.bucket is not None and p.value is not None
    ]
    fmt = _axis_format(metric)
    x = {"field": "day", "type": "temporal", "title": None}
    layers: list[dict[str, Any]] = []
    if baseline_window:
        layers.append(
            {
                "data": {
                    "values": [
                        {
                            "from": baseline_window[0].isoformat(),
                            "to": baseline_window[1].isoformat(),
                        }
                    ]
                },
                "mark": {"type": "rect", "color": "#9db4d6", "opacity": 0.18},
                "encoding": {"x": {"field": "from", "type": "temporal"}, "x2": {"field": "to"}},
            }
        )
    if any(d["lo"] is not None for d in data):
        layers.append(
            {
                "mark": {"type": "area", "opacity": 0.15, "color": "#2457a6"},
                "encoding": {
                    "x": x,
                    "y": {"field": "lo", "type": "quantitative"},
                    "y2": {"field": "hi"},
                },
            }
        )
    layers.append(
        {
            "mark": {
                "type": "line",
                "color": "#2457a6",
                "strokeWidth": 1.6,
                "point": {"size": 14, "filled": True},
            },
            "encoding": {
                "x": x,
                "y": {
                    "field": "value",
                    "type": "quantitative",
                    "title": None,
                    "axis": {"format": fmt},
                    "scale": {"zero": False},
                },
                "tooltip": [
                    {"field": "day", "type": "temporal", "title": "day"},
                    {
                        "field": "value",
                        "type": "quantitative",
                        "format": fmt.replace(",", ",") if metric.unit != "share" else ".1%",
                        "title": metric.name,
                    },
                    {"field": "n", "type": "quantitative", "title": "sample"},
                ],
            },
        }
    )
    rules: list[dict[str, Any]] = []
    if baseline is not None:
        rules.append({"y": baseline, "label": "baseline", "dash": [4, 3], "color": "#5c6670"})
    if target is not None:
        rules.append({"y": target, "label": "target", "dash": [1, 0], "color": "#1e7a46"})
    for r in rules:
        layers.append(
            {
                "data": {"values": [{"y": r["y"], "label": r["label"]}]},
                "mark": {"type": "rule", "strokeDash": r["dash"], "color": r["color"]},
                "encoding": {"y": {"field": "y", "type": "quantitative"}},
            }
        )
    if go_live and data:
        first, last = str(data[0]["day"]), str(data[-1]["day"])
        marks = [
            {"day": (go_live + timedelta(days=d)).isoformat(), "label": name}
            for name, d in PHASES
            if first <= (go_live + timedelta(days=d)).isoformat() <= last
        ]
        if marks:
            layers.append(
                {
                    "data": {"values": marks},
                    "mark": {"type": "rule", "color": "#a86a00", "strokeDash": [2, 2]},
                    "encoding": {"x": {"field": "day", "type": "temporal"}},
                }
            )
            layers.append(
                {
                    "data": {"values": marks},
                    "mark": {
                        "type": "text",
                        "align": "left",
                        "dx": 3,
                        "dy": -4,
                        "color": "#a86a00",
                        "fontSize": 10,
                        "baseline": "top",
                    },
                    "encoding": {
                        "x": {"field": "day", "type": "temporal"},
                        "text": {"field": "label"},
                        "y": {"value": 0},
                    },
                }
            )
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v6.json",
        "description": f"{metric.name} by day",
        "width": "container",
        "height": 160,
        "data": {"values": data},
        "layer": layers,
        "config": {
            "view": {"stroke": None},
            "axis": {"labelFontSize": 10, "grid": True, "gridColor": "#eef0f2"},
        },
    }
