"""One way to show a number, everywhere: pages, API answers, the command line and reports.

Every metric in the catalog declares one :data:`Unit`; everything that shows a value of it
formats through this module, so "58.3%" on the overview is "58.3%" in the API's ``display``
fields, in ``daytwo metrics show`` and in a report.

========== ======================================== ================= ==================
unit       what the value is                        a value           a difference
========== ======================================== ================= ==================
rate       a share of something, 0 to 1             ``58.3%``         ``+3.2 pts``
ms         milliseconds                             ``1,463 ms``      ``+772 ms``
s          seconds of time (a duration)             ``3 min 05 s``    ``+45 s``
currency   money, in an ISO 4217 currency           ``€6.42``         ``+€0.80``
count      things counted                           ``12,408``        ``+1,204``
score      a value on the metric's own scale        ``4.21``, ``32``  ``+0.12``, ``+5``
========== ======================================== ================= ==================

Differences of rates are in percentage points (``pts``), never in percent of a percent.
Money takes the currency of the deployment's cost model; the code is checked against
ISO 4217 (through Babel's CLDR data) when a deployment is registered.

Findings and items speak one severity vocabulary (:data:`SEVERITIES`, least to most urgent);
:func:`severity_label` turns a stored level into its word.

Nothing here touches a database or a web framework; the module is imported by every layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

from typing_extensions import TypeIs

Unit = Literal["rate", "ms", "s", "currency", "count", "score"]
UNITS: tuple[Unit, ...] = get_args(Unit)

DEFAULT_CURRENCY = "USD"
MISSING = "—"

# Least to most urgent; a finding's stored level is its index here.
SEVERITIES: tuple[str, ...] = ("info", "low", "medium", "high", "critical")


def is_currency(code: str) -> bool:
    """Whether ``code`` is an ISO 4217 currency code (``EUR``, ``USD``, ``JPY``...)."""
    if len(code) != 3 or not code.isalpha() or not code.isupper():
        return False
    from babel.numbers import is_currency as _known

    return bool(_known(code))


def _finite(value: float | None) -> TypeIs[float]:
    return value is not None and math.isfinite(value)


def fmt_money(amount: float | None, currency: str | None = None, *, signed: bool = False) -> str:
    """``€1,234``, ``€6.42``, ``$0.0042``: whole units from 100 up, cents below, and two
    significant digits under a tenth (a per-interaction AI fee is a fraction of a cent)."""
    if not _finite(amount):
        return MISSING
    from babel.numbers import format_currency

    code = currency or DEFAULT_CURRENCY
    size = abs(amount)
    if size >= 100:
        pattern = "¤#,##0"
    elif size >= 0.1 or size == 0:
        pattern = "¤#,##0.00"
    else:
        digits = max(2, 1 - math.floor(math.log10(size)))
        pattern = "¤#,##0." + "0" * digits
    text = str(format_currency(size, code, format=pattern, locale="en", currency_digits=False))
    sign = "-" if amount < 0 else ("+" if signed and amount > 0 else "")
    return f"{sign}{text}"


def fmt_duration(seconds: float | None, *, signed: bool = False) -> str:
    """``45 s``, ``3 min 05 s``, ``2.5 h``, ``1,240 h``: the coarsest unit that stays exact
    enough to compare."""
    if not _finite(seconds):
        return MISSING
    sign = "-" if seconds < 0 else ("+" if signed and seconds > 0 else "")
    size = abs(seconds)
    if size < 90:
        return f"{sign}{size:.0f} s" if size >= 10 else f"{sign}{size:.1f} s".replace(".0 s", " s")
    if size < 90 * 60:
        minutes, secs = divmod(round(size), 60)
        return f"{sign}{minutes} min {secs:02d} s"
    hours = size / 3600
    return f"{sign}{hours:,.1f} h" if hours < 100 else f"{sign}{hours:,.0f} h"


def _score(value: float, *, signed: bool) -> str:
    spec = "+," if signed else ","
    if abs(value) >= 10:
        return format(value, f"{spec}.0f")
    if signed and abs(value) >= 1:
        return format(value, f"{spec}.1f")
    return format(value, f"{spec}.2f")


def fmt_value(value: float | None, unit: Unit | str, currency: str | None = None) -> str:
    """One value in its unit (see the module docstring); ``—`` when there is none."""
    if not _finite(value):
        return MISSING
    if unit == "rate":
        return f"{100 * value:.1f}%"
    if unit == "ms":
        return f"{value:,.0f} ms"
    if unit == "s":
        return fmt_duration(value)
    if unit == "currency":
        return fmt_money(value, currency)
    if unit == "count":
        return f"{value:,.0f}" if abs(value) >= 100 or value == int(value) else f"{value:,.1f}"
    if unit == "score":
        return _score(value, signed=False)
    raise ValueError(f"unknown unit {unit!r}; one of {', '.join(UNITS)}")


def fmt_delta(delta: float | None, unit: Unit | str, currency: str | None = None) -> str:
    """A difference of two values in ``unit``, always signed; rates in percentage points."""
    if not _finite(delta):
        return MISSING
    if unit == "rate":
        return f"{100 * delta:+.1f} pts"
    if unit == "ms":
        return f"{delta:+,.0f} ms"
    if unit == "s":
        return fmt_duration(delta, signed=True)
    if unit == "currency":
        return fmt_money(delta, currency, signed=True)
    if unit == "count":
        return f"{delta:+,.0f}"
    if unit == "score":
        return _score(delta, signed=True)
    raise ValueError(f"unknown unit {unit!r}; one of {', '.join(UNITS)}")


def fmt_change(
    before: float | None, after: float | None, unit: Unit | str, currency: str | None = None
) -> str:
    """``12.0% → 18.5% (+6.5 pts)``: where a value went, and by how much."""
    text = f"{fmt_value(before, unit, currency)} → {fmt_value(after, unit, currency)}"
    if _finite(before) and _finite(after):
        text += f" ({fmt_delta(after - before, unit, currency)})"
    return text


def fmt_relative(ratio: float | None) -> str:
    """A relative change, for counts and volumes only (``+12%``); rates use points."""
    if not _finite(ratio):
        return MISSING
    return f"{100 * ratio:+.0f}%"


def fmt_p(p: float | None) -> str:
    """A p-value as a person reads it: ``p < 0.001``, ``p = 0.023``, ``p = 0.41``."""
    if not _finite(p):
        return MISSING
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.3f}" if p < 0.1 else f"p = {p:.2f}"


def severity_label(level: int | str | None) -> str:
    """The word for a severity, from its stored level (0-4) or its name."""
    if level is None:
        return MISSING
    if isinstance(level, str):
        if level in SEVERITIES:
            return level
        if not level.isdigit():
            raise ValueError(f"unknown severity {level!r}; one of {', '.join(SEVERITIES)}")
        level = int(level)
    if not 0 <= level < len(SEVERITIES):
        raise ValueError(f"severity level {level} is outside 0-{len(SEVERITIES) - 1}")
    return SEVERITIES[level]


@dataclass(frozen=True, slots=True)
class ChartScale:
    """How a chart in ``unit`` plots its values: multiply by ``factor``, label the axis with
    the d3 ``format`` and, where the scale changed the unit, the ``suffix``."""

    factor: float
    format: str
    suffix: str = ""


def chart_scale(unit: Unit | str, values: list[float | None] | None = None) -> ChartScale:
    """The axis of a chart in ``unit`` (Vega-Lite on the pages): durations in the coarsest
    unit their largest value reads well in, rates as percentages."""
    if unit == "rate":
        return ChartScale(1.0, ".0%")
    if unit == "s":
        top = max((abs(v) for v in values or () if _finite(v)), default=0.0)
        if top >= 90 * 60:
            return ChartScale(1 / 3600, ",.0f", "h")
        if top >= 90:
            return ChartScale(1 / 60, ",.0f", "min")
        return ChartScale(1.0, ",.0f", "s")
    if unit in ("ms", "count"):
        return ChartScale(1.0, ",.0f")
    return ChartScale(1.0, ",.2f")


__all__ = [
    "DEFAULT_CURRENCY",
    "MISSING",
    "SEVERITIES",
    "UNITS",
    "ChartScale",
    "Unit",
    "chart_scale",
    "fmt_change",
    "fmt_delta",
    "fmt_duration",
    "fmt_money",
    "fmt_p",
    "fmt_relative",
    "fmt_value",
    "is_currency",
    "severity_label",
]
