"""The detector catalog is generated from the registry and must not drift from it."""

from __future__ import annotations

import subprocess
import sys
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


def test_the_catalog_order_does_not_depend_on_what_a_process_imported_first() -> None:
    # A contributed detector (adoption's) or a later built-in imported before the built-ins were
    # loaded registered first, and the catalog's order (its docs, each run's order) followed
    # what the process happened to import: a fresh clone's suite once failed on it.
    code = (
        "import sys\n"
        "import daytwo.adoption.plugin, daytwo.detect.gaps.detector, daytwo.detect.feed\n"
        "from daytwo.pipeline.docs import render\n"
        "sys.stdout.write(render())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout == DOCS.read_text()
