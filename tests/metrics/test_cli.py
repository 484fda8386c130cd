"""`daytwo metrics list | show`: the catalog and values in a terminal, errors as exit codes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from daytwo.cli.main import run
from daytwo.ingest.decode import decode_json
from daytwo.metrics.catalog import METRICS
from daytwo.store.events import open_event_store
from tests.metrics.test_golden import SAMPLE, wilson_by_hand

RANGE = ["--start", "2026-03-01", "--end", "2026-03-04"]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DAYTWO_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DAYTWO_EVENTS_URL", raising=False)
    monkeypatch.delenv("DAYTWO_LEDGER_URL", raising=False)
    return tmp_path


@pytest.fixture
def seeded(data_dir: Path) -> Path:
    with open_event_store(f"duckdb:///{data_dir / 'events.duckdb'}") as store:
        store.write(decode_json(orjson.dumps(SAMPLE)).batch, source="t", batch_id="1")
    return data_dir


def _json(capsys: pytest.CaptureFixture[str]) -> Any:
    return orjson.loads(capsys.readouterr().out)


def test_list_prints_the_catalog(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["metrics", "list", "--json"]) == 0
    listed = _json(capsys)
    assert [m["id"] for m in listed] == [m.id for m in METRICS]
    assert listed[0].keys() >= {"id", "name", "group", "unit", "good", "definition", "formula"}
    assert run(["metrics", "list"]) == 0
    table = capsys.readouterr().out
    assert "containment_rate" in table
    assert "Containment" in table
    assert "lower" in table  # escalation: lower is better


def test_show_by_journey_as_json(seeded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["metrics", "show", "containment_rate", "--deployment", "g", "--by", "journey"]
    assert run([*argv, *RANGE, "--json"]) == 0
    points = _json(capsys)
    by_journey = {p["group"]["journey"]: p for p in points}
    assert by_journey.keys() == {"A", "B"}
    a = by_journey["A"]  # i1 contained, i2 escalated, i5 transferred
    assert (a["value"], a["n"]) == (pytest.approx(1 / 3), 3)
    assert (a["lo"], a["hi"]) == pytest.approx(wilson_by_hand(1, 3))
    assert (by_journey["B"]["value"], by_journey["B"]["n"]) == (0.0, 2)


def test_show_as_a_table(seeded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["metrics", "show", "containment_rate", "-d", "g", *RANGE]) == 0
    text = capsys.readouterr().out
    assert "Containment" in text
    assert "20.0%" in text  # 1 of 5
    assert run(["metrics", "show", "contact_volume", "-d", "g", "--bucket", "day", *RANGE]) == 0
    text = capsys.readouterr().out
    assert "2026-03-02" in text
    assert "2026-03-03" in text


def test_show_defaults_to_the_28_days_up_to_the_latest_data(
    seeded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["metrics", "show", "contact_volume", "-d", "g", "--json"]) == 0
    assert [p["value"] for p in _json(capsys)] == [5.0]


def test_show_by_segment_and_day(seeded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["metrics", "show", "contact_volume", "-d", "g", "--by", "site", "--bucket", "day"]
    assert run([*argv, *RANGE, "--json"]) == 0
    points = _json(capsys)
    assert [(p["bucket"][:10], p["group"]["site"], p["value"]) for p in points] == [
        ("2026-03-02", "x", 3.0),
        ("2026-03-02", "y", 1.0),
        ("2026-03-03", "y", 1.0),
    ]


@pytest.mark.parametrize(
    ("argv", "code", "says"),
    [
        (["nope", "-d", "g"], 4, "Unknown metric"),
        (["csat", "-d", "missing"], 4, "no interactions"),
        (["csat", "-d", "g", "--bucket", "year"], 2, "--bucket"),
        (["csat", "-d", "g", "--start", "yesterday"], 2, "--start"),
        (["csat", "-d", "g", "--start", "2026-03-04", "--end", "2026-03-01"], 2, "after"),
        (["csat", "-d", "g", "--by", "site; drop", *RANGE], 2, "site; drop"),
    ],
)
def test_show_errors_are_messages_and_exit_codes(
    seeded: Path, capsys: pytest.CaptureFixture[str], argv: list[str], code: int, says: str
) -> None:
    assert run(["metrics", "show", *argv]) == code
    assert says in capsys.readouterr().err


def test_show_without_any_data_says_how_to_start(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["metrics", "show", "csat", "-d", "g"]) == 4
    assert "daytwo demo" in capsys.readouterr().err
