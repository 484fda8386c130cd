"""The metric catalog page is generated from the registry and must not drift from it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from daytwo.metrics.catalog import GROUPS, METRICS
from daytwo.metrics.docs import render_catalog_markdown

DOCS = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


def test_catalog_doc_is_current() -> None:
    assert DOCS.read_text() == render_catalog_markdown(), (
        "docs/metrics.md is stale: run `make docs`"
    )


def test_catalog_doc_describes_every_metric_under_its_group() -> None:
    text = render_catalog_markdown()
    headings = [f"## {g.capitalize()}" for g in GROUPS]
    positions = [text.index(h) for h in headings]
    assert positions == sorted(positions)
    for m in METRICS:
        at = text.index(f"(`{m.id}`)")
        group_at = max(p for p in positions if p < at)
        assert group_at == text.index(f"## {m.group.capitalize()}"), m.id
        section = text[at : text.find("\n### ", at)]
        for part in (m.definition, m.formula, m.unit, m.kind, *m.needs):
            assert part in section, (m.id, part)


def test_module_prints_the_page() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "daytwo.metrics.docs"], check=True, capture_output=True, text=True
    )
    assert done.stdout == render_catalog_markdown()
