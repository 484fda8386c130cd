"""The value section as HTML and PDF: the PDF's text carries the figures the calculation made."""

from __future__ import annotations

import subprocess
from pathlib import Path

from daytwo.report.calc import CostModel, PeriodCounts, business_value
from daytwo.report.render import to_pdf, value_html


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
