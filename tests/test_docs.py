"""Docs that must not drift from the code: the CLI reference and the settings table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from daytwo.settings import Settings

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_cli_reference_is_current(tmp_path: Path) -> None:
    out = tmp_path / "cli.md"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "typer",
            "daytwo.cli.main",
            "utils",
            "docs",
            "--name",
            "daytwo",
            "--output",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    assert out.read_text() == (DOCS / "cli.md").read_text(), "run `make docs`"


def test_every_setting_is_documented() -> None:
    text = (DOCS / "configuration.md").read_text()
    for name in Settings.model_fields:
        assert f"`DAYTWO_{name.upper()}`" in text, f"DAYTWO_{name.upper()} is not documented"


def test_the_plan_guide_holds_every_default_template_in_full() -> None:
    from daytwo.plan.validate import TEMPLATE_KINDS, template_text

    text = (DOCS / "plan.md").read_text()
    for kind in TEMPLATE_KINDS:
        assert f"```yaml\n{template_text(kind).rstrip()}\n```" in text, f"{kind} template"
