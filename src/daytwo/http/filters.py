"""Jinja filters: one way to show each unit, status and delta everywhere."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

STATUS_LABEL = {
    "on_target": "on target",
    "at_risk": "at risk",
    "breached": "breached",
    "no_target": "no target",
    "no_data": "no data",
}


def fmt_value(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "share":
        return f"{100 * value:.1f}%"
    if unit == "ms":
        return f"{value:,.0f} ms"
    if unit == "seconds":
        if value >= 90:
            minutes, seconds = divmod(round(value), 60)
            return f"{minutes}m {seconds:02d}s"
        return f"{value:.0f} s"
    if unit == "count":
        return f"{value:,.0f}"
    if unit == "currency":
        return f"{value:,.2f}" if abs(value) >= 10 else f"{value:,.4f}"
    if unit == "hours":
        return f"{value:,.0f} h"
    if unit == "points":
        return f"{value:+.0f}"
    return f"{value:.2f}"


def fmt_delta(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "share":
        return f"{100 * value:+.1f} pts"
    if unit == "ms":
        return f"{value:+,.0f} ms"
    if unit == "seconds":
        return f"{value:+,.0f} s"
    if unit in ("count", "hours"):
        return f"{value:+,.0f}"
    if unit == "currency":
        return f"{value:+,.4f}"
    return f"{value:+.2f}"


def trend_class(delta: float | None, good: str | None) -> str:
    """ "better", "worse" or "flat": the colour language for a change."""
    if delta is None or good is None or abs(delta) < 1e-12:
        return "flat"
    return "better" if (delta > 0) == (good == "up") else "worse"


def sparkline(values: list[float | None], width: int = 120, height: int = 28) -> str:
    """SVG polyline points for a sparkline (gaps where a value is missing are skipped)."""
    present = [v for v in values if v is not None]
    if len(present) < 2:
        return ""
    lo, hi = min(present), max(present)
    span = (hi - lo) or 1.0
    step = width / max(len(values) - 1, 1)
    points = [
        f"{i * step:.1f},{height - 2 - (v - lo) / span * (height - 4):.1f}"
        for i, v in enumerate(values)
        if v is not None
    ]
    return " ".join(points)


def path_segment(value: object) -> str:
    """``value`` as one URL path segment: every reserved character encoded, ``/`` included
    (Jinja's ``urlencode`` keeps ``/``, which splits an id like ``a/b`` into two segments)."""
    return quote(str(value), safe="")


def install(env: Any) -> None:
    env.filters["segment"] = path_segment
    env.filters["value"] = fmt_value
    env.filters["delta"] = fmt_delta
    env.filters["trend"] = trend_class
    env.filters["status_label"] = lambda s: STATUS_LABEL.get(s, s)
    env.globals["sparkline"] = sparkline
