"""`daytwo metrics`, and the generated catalog page kept in sync."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from daytwo.cli.main import run
from daytwo.ingest.decode import decode_json
from daytwo.metrics.docs import render_catalog_markdown
from daytwo.store.events import open_event_store
from tests.metrics.test_golden import RECORDS

DOCS = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


def test_catalog_doc_is_current() -> None:
    assert DOCS.read_text() == render_catalog_markdown(), "run `make docs`"


def test_metrics_list_and_show(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DAYTWO_DATA_DIR", str(tmp_path))
    with open_event_store(f"duckdb:///{tmp_path / 'events.duckdb'}") as store:
        store.write(decode_json(orjson.dumps(RECORDS)).batch, source="t", batch_id="1")
    assert run(["metrics", "list", "--json"]) == 0
    listed = orjson.loads(capsys.readouterr().out)
    assert any(m["id"] == "containment_rate" for m in listed)
    assert (
        run(
            [
                "metrics",
                "show",
                "containment_rate",
                "--deployment",
                "g",
                "--by",
                "journey",
                "--start",
                "2026-03-01",
                "--end",
                "2026-03-04",
                "--json",
            ]
        )
        == 0
    )
    points = {p["group"]["journey"]: p["value"] for p in orjson.loads(capsys.readouterr().out)}
    assert points == {"A": pytest.approx(1 / 3), "B": 0.0}
    assert (
        run(
            [
                "metrics",
                "show",
                "containment_rate",
                "-d",
                "g",
                "--start",
                "2026-03-01",
                "--end",
                "2026-03-04",
            ]
        )
        == 0
    )
    assert "Containment" in capsys.readouterr().out
    assert run(["metrics", "show", "nope", "-d", "g"]) == 4
    assert "Unknown metric" in capsys.readouterr().err
