"""Render the detector registry as Markdown (``make docs`` runs :mod:`daytwo.pipeline.docs`, which
loads the detectors plugins contribute first)."""

from __future__ import annotations

import sys

from daytwo.detect.registry import detectors


def render_detectors_markdown() -> str:
    lines = [
        "# Detectors",
        "",
        "Generated from the detector registry (`make docs`); `daytwo analyze`, the API",
        "(`GET /api/v1/detectors`, `GET /api/v1/findings`) and the findings page read the same",
        "definitions. Each detector is a pure calculation over one deployment's interactions",
        "(and, where it says so, their turns and deliveries) that returns findings; a finding's",
        "fingerprint (kind, scope and key) makes the same problem seen again update one finding,",
        "and a resolved finding that returns is marked *regressed*.",
        "",
    ]
    for d in detectors():
        needs = []
        if d.needs.turn_columns:
            needs.append("turns (" + ", ".join(d.needs.turn_columns) + ")")
        if d.needs.deliveries:
            needs.append("the deliveries log")
        lines += [
            f"## {d.name} (`{d.id}`)",
            "",
            d.doc,
            "",
            "- reads: interactions" + ("".join(f", {n}" for n in needs)),
            "- parameters: " + ", ".join(f"`{k}` = {v!r}" for k, v in d.param_values().items()),
            "",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(render_detectors_markdown())
