"""The value section as HTML and PDF: the PDF's text carries the figures the calculation made."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from daytwo.report.calc import CostModel, PeriodCounts, business_value
from daytwo.report.charts import to_svg, value_spec
from daytwo.report.render import effect_text, kpi_text, to_pdf, value_html

_IDS = re.compile(r'id="([^"]+)"')


def test_the_pdf_reads_back_the_value_figures(tmp_path: Path) -> None:
    model = CostModel("GBP", {"escalation": 6.5, "ai_per_interaction": 0.04}, 0.0, 1_000.0)
    value = business_value(model, PeriodCounts(days=7, conversations=1_234, contained=700))
    html = value_html("care-bot: value, 2026-W48", value)
    assert "4,550.00" in html
    pdf = tmp_path / "value.pdf"
    pdf.write_bytes(to_pdf(html))
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    assert "care-bot: value, 2026-W48" in text
    assert "4,550.00" in text  # 700 contained × 6.50
    assert "-49.36" in text  # 1,234 × 0.04
    assert f"{value.net:,.2f}" in text
    assert "would otherwise have cost one escalation" in text


def test_a_chart_is_the_same_svg_whatever_was_drawn_before() -> None:
    """vl-convert numbers clip paths by the charts its process drew before; the ids are renamed
    after the chart so a served report and its issued copy match, and two charts of one
    document never share an id."""
    costs = value_spec([("2026-01", 1.0, 2.0), ("2026-02", 3.0, 1.0)], "EUR")
    other = value_spec([("2026-01", 5.0, 2.0), ("2026-02", 3.0, 4.0)], "EUR")
    first = to_svg(costs)
    second_ids = set(_IDS.findall(to_svg(other)))
    assert to_svg(costs) == first
    ids = set(_IDS.findall(first))
    assert ids
    assert all(i.startswith("clip-") for i in ids)
    assert not ids & second_ids
    # every reference points at an id the same drawing defines
    assert set(re.findall(r"url\(#([^)]+)\)", first)) <= ids


def test_report_figures_print_in_their_catalog_unit() -> None:
    """A report's KPI and measured effects go through the one formatter of every page: money
    in the deployment's currency, latencies in ms, durations in their unit, rates in points."""
    assert kpi_text(7.4, "currency", "EUR") == "€7.40"
    assert kpi_text(7.4, "currency", "USD") == "$7.40"
    assert kpi_text(0.5, "rate") == "50.0%"
    assert kpi_text(0.5, "share") == "50.0%"
    assert kpi_text(428.0, "s") == "7 min 08 s"
    assert kpi_text(11259.0, "count") == "11,259"
    assert kpi_text(None, "rate") == "n/a"
    assert effect_text(0.018, "containment_rate") == "+1.8 pts"
    assert effect_text(802.0, "latency_p95") == "+802 ms"
    assert effect_text(-0.5, "ai_cost", "EUR") == "-€0.50"
    assert effect_text(None, "latency_p95") == "n/a"
