"""Vega-Lite specs for metric trends: the value, its baseline band, the target, phase markers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from daytwo.http.marks import ChangeMark
from daytwo.http.timeline import Mark
from daytwo.metrics.catalog import Metric
from daytwo.metrics.schemas import MetricPoint
from daytwo.units import chart_scale, fmt_value

PHASES = (("stabilise", 0), ("optimise", 30), ("scale", 60), ("day 90", 90))
CHANGE_COLOUR = "#6b3fa0"
# The colour of a mark by its kind: a phase boundary, a gate passed, a gate overridden.
MARK_COLOURS = {"phase": "#a86a00", "passed": "#1e7a46", "overridden": "#b3261e"}


def calendar_marks(go_live: date | None) -> list[Mark]:
    """Days 0, 30, 60 and 90 from go-live: what a deployment without a plan is shown."""
    if go_live is None:
        return []
    return [Mark(go_live + timedelta(days=d), name) for name, d in PHASES]


def mark_layers(marks: Sequence[Mark], first: date, last: date) -> list[dict[str, Any]]:
    """Vega-Lite layers drawing ``marks`` that fall between ``first`` and ``last``: a rule
    and a label each, dashed for a phase, solid for a gate."""
    shown = [
        # Gate labels sit a line below phase labels, so a gate passed near a phase's start
        # stays readable (``row`` is in pixels from the top).
        {
            "day": m.day.isoformat(),
            "label": m.label,
            "kind": m.kind,
            "row": 0 if m.kind == "phase" else 12,
        }
        for m in marks
        if first <= m.day <= last
    ]
    if not shown:
        return []
    colour = {
        "field": "kind",
        "type": "nominal",
        "legend": None,
        "scale": {"domain": list(MARK_COLOURS), "range": list(MARK_COLOURS.values())},
    }
    x = {"field": "day", "type": "temporal"}
    return [
        {
            "data": {"values": shown},
            "mark": {"type": "rule", "strokeDash": [2, 2]},
            "encoding": {"x": x, "color": colour, "tooltip": [{"field": "label"}]},
        },
        {
            "data": {"values": shown},
            "mark": {
                "type": "text",
                "align": "left",
                "dx": 3,
                "dy": -4,
                "fontSize": 10,
                "baseline": "top",
            },
            "encoding": {
                "x": x,
                "color": colour,
                "text": {"field": "label"},
                "y": {"field": "row", "type": "quantitative", "scale": None, "axis": None},
            },
        },
    ]


def change_layers(marks: Sequence[ChangeMark], first: str, last: str) -> list[dict[str, Any]]:
    """Vertical rules at the changes shipped between ``first`` and ``last`` (ISO days), each
    with its label on hover and a click through to the change."""
    shown = [
        {"day": m.day.isoformat(), "label": m.label, "href": m.href}
        for m in marks
        if first <= m.day.isoformat() <= last
    ]
    if not shown:
        return []
    x = {"field": "day", "type": "temporal"}
    return [
        {
            "data": {"values": shown},
            "mark": {"type": "rule", "color": CHANGE_COLOUR, "strokeWidth": 1.5},
            "encoding": {"x": x},
        },
        {
            "data": {"values": shown},
            "mark": {
                "type": "point",
                "shape": "triangle-down",
                "filled": True,
                "size": 70,
                "color": CHANGE_COLOUR,
                "cursor": "pointer",
            },
            "encoding": {
                "x": x,
                "y": {"value": 4},
                "href": {"field": "href"},
                "tooltip": [
                    {"field": "day", "type": "temporal", "title": "shipped"},
                    {"field": "label", "type": "nominal", "title": "change"},
                ],
            },
        },
    ]


def with_marks(spec: dict[str, Any], marks: Sequence[Mark], x_field: str) -> dict[str, Any]:
    """``spec`` (one view or layers, dated by ``x_field``) with ``marks`` drawn over the span
    of its data; unchanged when no mark falls in it."""
    layers = spec.get("layer") or [
        {k: spec[k] for k in ("mark", "encoding", "transform") if k in spec}
    ]
    days = [
        str(row[x_field])[:10]
        for layer in [spec, *layers]
        for row in (layer.get("data") or {}).get("values", [])
        if isinstance(row, dict) and row.get(x_field)
    ]
    if not days:
        return spec
    extra = mark_layers(marks, date.fromisoformat(min(days)), date.fromisoformat(max(days)))
    if not extra:
        return spec
    out = {k: v for k, v in spec.items() if k not in ("mark", "encoding", "transform", "layer")}
    out["layer"] = [*layers, *extra]
    # The marks colour by their kind on a scale of their own: shared (Vega-Lite's default for
    # layers), its fixed domain left a chart coloured by another field (the gaps' lines, one
    # per gap) without a colour for any of its own values, and so without lines or legend.
    resolve = dict(spec.get("resolve") or {})
    resolve["scale"] = {**resolve.get("scale", {}), "color": "independent"}
    resolve["legend"] = {**resolve.get("legend", {}), "color": "independent"}
    out["resolve"] = resolve
    return out


def trend_spec(
    metric: Metric,
    points: list[MetricPoint],
    *,
    baseline: float | None,
    baseline_window: tuple[date, date] | None,
    target: float | None,
    go_live: date | None,
    currency: str | None = None,
    changes: Sequence[ChangeMark] = (),
    marks: Sequence[Mark] | None = None,
) -> dict[str, Any]:
    """A daily trend with interval, baseline window band, target line, the plan's phases and
    gates (``marks``; without a plan, the calendar's days 0/30/60/90 from go-live) and a mark
    at every recorded change (``changes``).

    Values are plotted on the unit's chart scale (durations in minutes or hours where they
    run long); tooltips show each value as :mod:`daytwo.units` formats it everywhere else.
    """
    scale = chart_scale(metric.unit, [p.value for p in points])

    def scaled(v: float | None) -> float | None:
        return None if v is None else v * scale.factor

    data = [
        {
            "day": p.bucket.date().isoformat(),
            "value": scaled(p.value),
            "lo": scaled(p.lo),
            "hi": scaled(p.hi),
            "n": p.n,
            "shown": fmt_value(p.value, metric.unit, currency),
        }
        for p in points
        if p.bucket is not None and p.value is not None
    ]
    baseline, target = scaled(baseline), scaled(target)
    fmt = scale.format
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
                    "title": scale.suffix or None,
                    "axis": {"format": fmt},
                    "scale": {"zero": False},
                },
                "tooltip": [
                    {"field": "day", "type": "temporal", "title": "day"},
                    {"field": "shown", "type": "nominal", "title": metric.name},
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
    if data:
        first, last = str(data[0]["day"]), str(data[-1]["day"])
        chosen = marks if marks is not None else calendar_marks(go_live)
        layers.extend(mark_layers(chosen, date.fromisoformat(first), date.fromisoformat(last)))
        layers.extend(change_layers(changes, first, last))
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
