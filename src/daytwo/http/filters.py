"""Jinja filters: every value, delta and severity through :mod:`daytwo.units`; statuses and
the colour language of changes."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from daytwo.units import fmt_change, fmt_delta, fmt_money, fmt_p, fmt_value, severity_label

STATUS_LABEL = {
    "on_target": "on target",
    "at_risk": "at risk",
    "breached": "breached",
    "no_target": "no target",
    "no_data": "no data",
}


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
    env.filters["change"] = fmt_change
    env.filters["money"] = fmt_money
    env.filters["p_value"] = fmt_p
    env.filters["severity"] = severity_label
    env.filters["trend"] = trend_class
    env.filters["status_label"] = lambda s: STATUS_LABEL.get(s, s)
    env.globals["sparkline"] = sparkline
