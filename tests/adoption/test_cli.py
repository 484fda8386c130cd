"""`daytwo adoption`: every command once on the demo, as a user types it."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from daytwo.cli.main import run
from tests.adoption.conftest import ASSIST


@pytest.fixture
def cli(demo_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DAYTWO_DATA_DIR", str(demo_dir))
    monkeypatch.delenv("DAYTWO_EVENTS_URL", raising=False)
    monkeypatch.delenv("DAYTWO_LEDGER_URL", raising=False)
    return demo_dir


def test_show_agents_and_cohorts(cli: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["adoption", "show", "-d", ASSIST]) == 0
    text = capsys.readouterr().out
    for heading in ("Who stopped", "Where adoption is decaying", "Workaround signals",
                    "Pilot vs rollout", "AI vs the legacy path", "Champions"):  # fmt: skip
        assert heading in text
    assert "Weighted instead, with the rollout reweighted to look like the pilot" in text
    assert run(["adoption", "show", "-d", ASSIST, "--json"]) == 0
    body = orjson.loads(capsys.readouterr().out)
    assert body["deployment"] == ASSIST
    assert body["agents_visible"] is True
    assert run(["adoption", "agents", "-d", ASSIST, "--status", "steady", "--json"]) == 0
    rows = orjson.loads(capsys.readouterr().out)
    assert rows
    assert {r["status"] for r in rows} == {"steady"}
    assert run(["adoption", "cohorts", "list", "-d", ASSIST]) == 0
    assert "pilot (pilot): agents whose conversations carry cohort=pilot" in capsys.readouterr().out
    assert run(["adoption", "cohorts", "compare", "-d", ASSIST, "--json"]) == 0
    comparison = orjson.loads(capsys.readouterr().out)
    assert comparison["kpis"][0]["kpi"] == "suggestion_acceptance_rate"
    assert run(["adoption", "champions", "list", "-d", ASSIST]) == 0
    assert "from 20" in capsys.readouterr().out


def test_bad_input_exits_with_a_clear_message(
    cli: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["adoption", "agents", "-d", ASSIST, "--status", "gone"]) == 2
    assert "--status takes fell, stopped, steady or untested" in capsys.readouterr().err
    code = run(["adoption", "cohorts", "add", "-d", ASSIST, "--name", "late", "--role",
                "rollout", "--segment", "cohort=nobody"])  # fmt: skip
    assert code == 2
    assert "matches no agent" in capsys.readouterr().err
    code = run(["adoption", "cohorts", "add", "-d", ASSIST, "--name", "x", "--role", "pilot",
                "--segment", "cohort=pilot", "--agents", "a-0001"])  # fmt: skip
    assert code == 2
    assert "define the cohort one way" in capsys.readouterr().err
    assert run(["adoption", "show", "-d", ASSIST, "--start", "yesterday"]) == 2
    assert "--start must be a day" in capsys.readouterr().err
    code = run(["adoption", "champions", "add", "-d", ASSIST, "--agent", "nobody"])
    assert code == 2
    assert "is not an agent of" in capsys.readouterr().err
