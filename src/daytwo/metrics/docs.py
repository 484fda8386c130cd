"""Render the metric catalog as Markdown: `python -m daytwo.metrics.docs > docs/metrics.md`."""

from __future__ import annotations

import sys

from daytwo.metrics.catalog import GROUPS, METRICS

_BETTER = {"up": "higher", "down": "lower", None: "—"}


def render_catalog_markdown() -> str:
    lines = [
        "# Metric catalog",
        "",
        "Generated from the registry in `src/daytwo/metrics/catalog.py` (`make docs`); the API",
        "(`GET /api/v1/metrics/catalog`), the UI and reports read the same definitions.",
        "Rates come with their sample size and a 95% Wilson interval; means with a normal one.",
        "Time ranges and buckets follow each conversation's start: a turn counts with its",
        "conversation. A slice without the data a metric needs has no value (counts are 0).",
        "",
    ]
    for group in GROUPS:
        lines += [f"## {group.capitalize()}", ""]
        for m in (m for m in METRICS if m.group == group):
            lines += [
                f"### {m.name} (`{m.id}`)",
                "",
                m.definition,
                "",
                f"- formula: {m.formula}",
                f"- unit: {m.unit}; better: {_BETTER[m.good]}; kind: {m.kind}; "
                f"computed over {m.source}",
                f"- needs: {', '.join(m.needs) if m.needs else 'nothing beyond the interaction'}",
                f"- conversations behind it: `{m.drill}`"
                if m.drill
                else "- conversations behind it: all in the slice",
                "",
            ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(render_catalog_markdown())
