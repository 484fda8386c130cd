"""The detector catalog is generated from the registry and must not drift from it."""

from __future__ import annotations

from pathlib import Path

from daytwo.detect.registry import detectors
from daytwo.pipeline.docs import render as render_detectors_markdown

DOCS = Path(__file__).resolve().parents[2] / "docs" / "detectors.md"


def test_detector_doc_is_current() -> None:
    assert DOCS.read_text() == render_detectors_markdown(), (
        "docs/detectors.md is stale: run `make docs`"
    )


def test_every_detector_is_documented_with_its_parameters() -> None:
    text = render_detectors_markdown()
    for d in detectors():
        section = text[text.index(f"(`{d.id}`)") :]
        assert d.summary.split(".")[0] in section
        for name in d.param_values():
            assert f"`{name}`" in section.split("\n## ")[0]
