"""A report's value section as a standalone HTML document and as PDF (WeasyPrint, no browser)."""

from __future__ import annotations

from jinja2 import Environment, select_autoescape

from daytwo.report.calc import ValueResult

_ENV = Environment(autoescape=select_autoescape(default=True), trim_blocks=True)
_ENV.filters["money"] = lambda v: f"{v:,.2f}"

VALUE_HTML = _ENV.from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
@page { size: A4; margin: 18mm; }
body { font-family: "Liberation Sans", Arial, sans-serif; font-size: 10pt; color: #1f2933; }
h1 { font-size: 15pt; margin: 0 0 4mm; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 1.5mm 2mm; border-bottom: 0.3mm solid #d9dee3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.aside { color: #616e7c; font-size: 8.5pt; }
</style></head><body>
<h1>{{ title }}</h1>
<table>
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
</body></html>
"""
)


def value_html(title: str, value: ValueResult) -> str:
    """The value section as one HTML document, every figure with its assumptions."""
    return VALUE_HTML.render(title=title, v=value)


def to_pdf(html: str) -> bytes:
    """The PDF of an HTML document, laid out by WeasyPrint (no browser, nothing fetched)."""
    from weasyprint import HTML  # a heavy import, only where a PDF is made

    pdf: bytes = HTML(string=html).write_pdf()
    return pdf
