"""A report's value section as a standalone HTML document and as PDF (WeasyPrint, no browser)."""

from __future__ import annotations

from jinja2 import Environment, select_autoescape
from markupsafe import Markup

from daytwo.report.calc import ValueResult
from daytwo.report.weekly import WeeklyUpdate

_ENV = Environment(autoescape=select_autoescape(default=True), trim_blocks=True)
_ENV.filters["money"] = lambda v: f"{v:,.2f}"

VALUE_BODY = _ENV.from_string(
    """<table>
<tr><th>Figure</th><th>Quantity</th><th>{{ v.currency }}</th><th>95% interval</th></tr>
{% for f in v.figures %}
<tr><td>{{ f.name }}
{% if not f.in_total %}<span class="aside">(not in the total)</span>{% endif %}</td>
<td class="num">{% if f.quantity is not none %}{{ f.quantity | money }} {{ f.unit }}{% endif %}</td>
<td class="num">{{ f.amount | money }}</td>
<td class="num">
{% if f.lo is not none %}{{ f.lo | money }} to {{ f.hi | money }}{% endif %}</td></tr>
{% endfor %}
<tr><th>Net value</th><td></td><td class="num"><b>{{ v.net | money }}</b></td><td></td></tr>
<tr><th>ROI</th><td></td><td class="num">
{% if v.roi is not none %}{{ "%.1f" % (v.roi * 100) }}%{% else %}n/a{% endif %}
</td><td></td></tr>
</table>
{% if v.missing %}<h2>Not priced</h2>
<ul>{% for m in v.missing %}<li>{{ m }}</li>{% endfor %}</ul>{% endif %}
<h2>Assumptions</h2>
<ul>{% for f in v.figures %}{% for a in f.assumptions %}
<li>{{ f.name }}: {{ a }}</li>{% endfor %}{% endfor %}</ul>
"""
)


def kpi_text(value: float | None, unit: str) -> str:
    """A KPI as the report prints it: rates in per cent, counts whole, others to two places."""
    if value is None:
        return "n/a"
    if unit in ("ratio", "rate", "share", "%"):
        return f"{value * 100:.1f}%"
    if unit in ("count", "conversations", "interactions"):
        return f"{value:,.0f}"
    return f"{value:,.2f}"


_ENV.filters["kpi"] = kpi_text


WEEKLY_BODY = _ENV.from_string(
    """<p class="aside">{{ u.start.date() }} to {{ (u.end).date() }} (end exclusive), as of
{{ u.as_of.strftime("%Y-%m-%d %H:%M UTC") }}</p>
{% for m in u.missing %}<p class="missing">Missing: {{ m }}</p>{% endfor %}
<h2>KPIs</h2>
<table class="grid"><tr><th>KPI</th><th class="num">This week</th><th class="num">Target</th>
<th class="num">Baseline</th><th class="num">Last week</th><th>Status</th></tr>
{% for k in u.kpis %}<tr><td>{{ k.name }}</td><td class="num">{{ k.value | kpi(k.unit) }}</td>
<td class="num">{{ k.target | kpi(k.unit) }}</td><td class="num">{{ k.baseline | kpi(k.unit) }}</td>
<td class="num">{{ k.previous | kpi(k.unit) }}</td>
<td>{{ (k.status or "").replace("_", " ") }}</td></tr>
{% endfor %}</table>
{% set fresh = u.worse | selectattr("new") | list %}
<h2>What got worse: {{ u.worse | length }}
open problem{{ "" if u.worse | length == 1 else "s" }}, {{ fresh | length }} new this week</h2>
{% if u.worse %}<table class="grid"><tr><th>Item</th><th>Problem</th><th>Owner</th>
<th>Priority</th><th>Severity</th><th class="num">Findings</th></tr>
{% for p in u.worse[:12] %}<tr><td><a href="{{ base }}{{ p.href }}">{{ p.label }}</a></td>
<td>{{ p.title }}{% if p.new %} <span class="tag">new</span>{% endif %}</td>
<td>{{ p.owner or "unowned" }}</td><td>{{ p.priority or "not triaged" }}</td>
<td>{{ p.severity }}</td><td class="num">{{ p.findings }}</td></tr>{% endfor %}</table>
{% if u.worse | length > 12 %}<p class="aside">and {{ u.worse | length - 12 }} more in the
<a href="{{ base }}/backlog?deployment={{ u.deployment | urlencode }}">backlog</a></p>{% endif %}
{% endif %}
<h2>Backlog movement</h2>
<table class="grid"><tr><th class="num">Opened this week</th><th class="num">Closed this week</th>
<th class="num">Open now</th></tr>
<tr><td class="num">{{ u.opened }}</td><td class="num">{{ u.closed }}</td>
<td class="num">{{ u.open_now }}</td></tr></table>
<h2>Fixes measured: {{ u.fixes | length }}</h2>
{% if u.fixes %}<table class="grid"><tr><th>Change</th><th>Metric</th><th>Verdict</th></tr>
{% for c in u.fixes %}<tr><td>{{ c.title }}</td><td>{{ c.metric }}</td><td>{{ c.verdict }}</td>
</tr>{% endfor %}</table>{% endif %}
{% if u.value %}<h2>Value ({{ u.value.currency }})</h2>
<table class="grid"><tr><th>Figure</th><th class="num">{{ u.value.currency }}</th></tr>
{% for f in u.value.figures %}<tr><td>{{ f.name }}
{% if not f.in_total %}<span class="aside">(shown, not in the total)</span>{% endif %}</td>
<td class="num">{{ f.amount | money }}</td>
</tr>{% endfor %}<tr><th>Net value</th><td class="num"><b>{{ u.value.net | money }}</b></td>
</tr></table>{% endif %}
"""
)

PRINT_HTML = _ENV.from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
@page { size: A4; margin: 16mm; }
body { font-family: "Liberation Sans", Arial, sans-serif; font-size: 9.5pt; color: #1f2933; }
h1 { font-size: 15pt; margin: 0 0 2mm; }
h2 { font-size: 11pt; margin: 5mm 0 1.5mm; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 1.2mm 2mm; border-bottom: 0.3mm solid #d9dee3; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.aside { color: #616e7c; font-size: 8.5pt; }
.missing { color: #9a3412; }
a { color: inherit; }
.tag { font-size: 7.5pt; border: 0.3mm solid #9a3412; color: #9a3412; border-radius: 1mm;
  padding: 0 1mm; }
</style></head><body>
<h1>{{ title }}</h1>
{{ body }}
</body></html>
"""
)


def weekly_html(title: str, update: WeeklyUpdate, *, base: str = "") -> str:
    """The weekly update as one HTML document, the same for the page and the PDF; links start
    with ``base`` (the address people reach daytwo at) so they work from a PDF or a mail."""
    return PRINT_HTML.render(title=title, body=weekly_body(update, base=base))


def weekly_body(update: WeeklyUpdate, *, base: str = "") -> Markup:
    """The weekly update's sections, shared by the PDF and the page in the UI."""
    # The template escapes every value it prints (autoescape on), so its output is markup.
    return Markup(WEEKLY_BODY.render(u=update, base=base.rstrip("/")))  # noqa: S704


def value_html(title: str, value: ValueResult) -> str:
    """The value section as one HTML document, every figure with its assumptions."""
    body = Markup(VALUE_BODY.render(v=value))  # noqa: S704 (autoescaped template output)
    return PRINT_HTML.render(title=title, body=body)


def to_pdf(html: str) -> bytes:
    """The PDF of an HTML document, laid out by WeasyPrint (no browser, nothing fetched)."""
    from weasyprint import HTML  # a heavy import, only where a PDF is made

    pdf: bytes = HTML(string=html).write_pdf()
    return pdf
