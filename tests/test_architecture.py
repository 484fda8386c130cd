"""The one-way flow of the code, checked: the import contracts in pyproject.toml hold, and they
would break on a backwards import (shown on a copy of the package with bad imports added)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from importlinter import configuration
from importlinter.application.use_cases import lint_imports

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
PACKAGE = ROOT / "src" / "daytwo"


def test_the_import_contracts_hold() -> None:
    configuration.configure()  # what the lint-imports command does first
    assert lint_imports(config_filename=str(PYPROJECT), cache_dir=None, no_logo=True)


def _lint_copy(tmp_path: Path, edits: dict[str, str]) -> str:
    """Lint a copy of the package with ``edits`` (path -> lines appended, or a new module),
    with the project's own contracts; returns the report."""
    copy = tmp_path / "daytwo"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "static"))
    for rel, text in edits.items():
        path = copy / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as f:
            f.write("\n" + text + "\n")
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache", "--config", PYPROJECT],
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    return proc.stdout


def test_a_backwards_import_breaks_the_contracts(tmp_path: Path) -> None:
    report = _lint_copy(
        tmp_path,
        {
            # The detectors calling the backlog again, as they once did.
            "detect/data.py": "from daytwo.backlog import intake  # noqa: F401",
            # The backlog may not read notifications; notifications may not reach the edges.
            "backlog/calc.py": "import daytwo.notify  # noqa: F401",
            "notify/service.py": "from daytwo.web import views  # noqa: F401",
            "notify/calc.py": "import sqlalchemy  # noqa: F401",
            # A domain importing an edge's module.
            "metrics/catalog.py": "from daytwo.server import create_app  # noqa: F401",
            # A new top-level package nobody placed in the layers.
            "unplaced/__init__.py": "",
            # The SDK reaching into the product; a pure calculation reaching for the database.
            "sdk/_wire.py": "import daytwo.errors  # noqa: F401",
            "backlog/impact_calc.py": "import duckdb  # noqa: F401",
            "metrics/calc.py": "import sqlalchemy  # noqa: F401",
        },
    )
    assert "Contracts: 0 kept, 3 broken." in report
    for broken in (
        "daytwo.detect is not allowed to import daytwo.backlog",
        "daytwo.backlog is not allowed to import daytwo.notify",
        "daytwo.notify is not allowed to import daytwo.web",
        "daytwo.notify.calc is not allowed to import sqlalchemy",
        "daytwo.metrics is not allowed to import daytwo.server",
        "- daytwo.unplaced",
        "daytwo.sdk is not allowed to import daytwo.errors",
        "daytwo.metrics.calc is not allowed to import sqlalchemy",
    ):
        assert broken in report, report
