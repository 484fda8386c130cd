"""Reports as HTML and PDF: one set of templates (``report/templates``) for the page in the UI,
the PDF (WeasyPrint, no browser) and the e-mail. Charts are Vega-Lite specs: the page draws them
with the vendored Vega, the PDF and the mail carry them as SVG rendered on the server."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Callable
from typing import Any, Literal

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from daytwo.metrics.catalog import REGISTRY
from daytwo.report.calc import ValueResult
from daytwo.report.charts import to_svg, trend_spec, value_spec
from daytwo.report.monthly import MonthlyReview
from daytwo.report.weekly import WeeklyUpdate
from daytwo.units import UNITS, fmt_delta, fmt_money, fmt_value

Target = Literal["page", "print"]

_ENV = Environment(
    loader=PackageLoader("daytwo.report", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
)


def kpi_text(value: float | None, unit: str, currency: str | None = None) -> str:
    """A KPI as the report prints it: in its catalog unit through :mod:`daytwo.units` (rates in
    per cent, durations in their unit, money in ``currency``), ``n/a`` where there is none."""
    if value is None:
        return "n/a"
    unit = _LEGACY_UNITS.get(unit, unit)
    if unit in UNITS:
        return fmt_value(value, unit, currency)
    return f"{value:,.2f}"


# Units some report sections name in their own words, as the catalog's.
_LEGACY_UNITS = {"ratio": "rate", "share": "rate", "%": "rate", "conversations": "count",
                 "interactions": "count"}  # fmt: skip


def effect_text(value: float | None, metric: str, currency: str | None = None) -> str:
    """A measured effect in its metric's unit, signed: points for a rate, ``ms`` for a
    latency, money in ``currency``."""
    if value is None:
        return "n/a"
    if metric in REGISTRY:
        return fmt_delta(value, REGISTRY[metric].unit, currency)
    return f"{value:+,.2f}"


def pct_text(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:,.0f}%"


_ENV.filters["kpi"] = kpi_text
_ENV.filters["money"] = lambda v: f"{v if abs(v) >= 0.005 else 0.0:,.2f}"  # never "-0.00"
# A headline amount with its currency, as every page and the KPIs write money ("$137,532").
_ENV.filters["price"] = lambda v, currency: fmt_money(v, currency)
_ENV.filters["count"] = lambda v: f"{v:,.0f}"
_ENV.filters["pct"] = pct_text
_ENV.filters["effect"] = effect_text
_ENV.filters["metric_name"] = lambda m: REGISTRY[m].name if m in REGISTRY else m


def _page_chart(chart_id: str, spec: dict[str, Any]) -> Markup:
    """A chart the page's vendored Vega draws (static/charts.js)."""
    spec = {**spec, "width": "container"}
    data = json.dumps(spec).replace("</", "<\\/")
    # The id is ours and the JSON cannot close its script element: safe to mark up.
    return Markup(  # noqa: S704
        f'<div class="chart" data-chart="{html.escape(chart_id)}"></div>'
        f'<script type="application/json" id="{html.escape(chart_id)}">{data}</script>'
    )


def _print_chart(chart_id: str, spec: dict[str, Any]) -> Markup:
    """A chart as an SVG image drawn on the server, for the PDF and the mail."""
    svg = base64.b64encode(to_svg(spec).encode()).decode()
    alt = html.escape(str(spec.get("description", chart_id)))
    return Markup(f'<img alt="{alt}" src="data:image/svg+xml;base64,{svg}">')  # noqa: S704


def _chart(target: Target) -> Callable[[str, dict[str, Any]], Markup]:
    return _page_chart if target == "page" else _print_chart


def _body(template: str, target: Target, base: str, **context: Any) -> Markup:
    # The templates escape every value they print (autoescape on), so the output is markup.
    page = _ENV.get_template(template)
    return Markup(page.render(base=base.rstrip("/"), chart=_chart(target), **context))  # noqa: S704


def document(title: str, body: Markup, *, footer: str = "", compact: bool = False) -> str:
    """A report's sections as one standalone HTML document (the PDF's and the mail's);
    ``compact``: set tighter, for a document that must fit one page."""
    return _ENV.get_template("print.html").render(
        title=title, body=body, footer=footer, compact=compact
    )


def weekly_body(update: WeeklyUpdate, *, base: str = "", target: Target = "page") -> Markup:
    """The weekly update's sections, shared by the PDF and the page in the UI; links start
    with ``base`` (the address people reach daytwo at) so they work from a PDF or a mail."""
    # In print wide and low: the update must fit one page.
    size = {"width": 760, "height": 48} if target == "print" else {"height": 110}
    trend = trend_spec(update.trend, update.kpis, **size)
    return _body("weekly.html", target, base, u=update, trend=trend)


def weekly_html(title: str, update: WeeklyUpdate, *, base: str = "") -> str:
    """The weekly update as one HTML document for print."""
    footer = f"{update.deployment} · weekly update {update.week} · as of {update.as_of:%Y-%m-%d}"
    body = weekly_body(update, base=base, target="print")
    return document(title, body, footer=footer, compact=True)


def monthly_body(review: MonthlyReview, *, base: str = "", target: Target = "page") -> Markup:
    """The monthly review's sections, shared by the PDF and the page in the UI."""
    trend = trend_spec(review.trend, review.kpis)
    months = review.cumulative.months if review.cumulative else []
    value = value_spec(
        [(m.month, m.net, m.costs) for m in months],
        review.value.currency if review.value else "",
    )
    return _body("monthly.html", target, base, r=review, trend=trend, value_chart=value)


def monthly_html(title: str, review: MonthlyReview, *, base: str = "") -> str:
    """The monthly review as one HTML document for print."""
    footer = f"{review.deployment} · monthly review {review.month} · as of {review.as_of:%Y-%m-%d}"
    return document(title, monthly_body(review, base=base, target="print"), footer=footer)


def value_html(title: str, value: ValueResult) -> str:
    """The value section as one HTML document, every figure with its assumptions."""
    return document(title, _body("value.html", "print", "", v=value))


def to_pdf(html_doc: str) -> bytes:
    """The PDF of an HTML document, laid out by WeasyPrint (no browser, nothing fetched)."""
    from weasyprint import HTML  # a heavy import, only where a PDF is made

    pdf: bytes = HTML(string=html_doc).write_pdf()
    return pdf
