"""`daytwo items | owners | change`: the loop from a terminal or a pipeline."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import orjson
import pytest

from daytwo.backlog.intake import absorb_finding
from daytwo.backlog.policy import BacklogPolicy
from daytwo.cli.main import run
from daytwo.deployments.schemas import DeploymentCreate
from daytwo.deployments.service import create_deployment
from daytwo.ingest.decode import decode_json
from daytwo.store.events import open_event_store
from daytwo.store.ledger import DeploymentKind, Ledger, upgrade
from tests.backlog.conftest import DEPLOYMENT, JOURNEYS, SHIP_DAY, START, synthetic_records
from tests.backlog.test_items import finding


@pytest.fixture
def ledger_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data dir with a ledger and the deployment, no events."""
    monkeypatch.setenv("DAYTWO_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DAYTWO_EVENTS_URL", raising=False)
    monkeypatch.delenv("DAYTWO_LEDGER_URL", raising=False)
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    upgrade(url)
    ledger = Ledger(url)
    create_deployment(
        ledger,
        DeploymentCreate(
            name=DEPLOYMENT,
            kind=DeploymentKind.virtual_agent,
            journeys=JOURNEYS,
            cost_model={"escalation": 6.5},
        ),
    )
    ledger.dispose()
    return tmp_path


@pytest.fixture
def data_dir(ledger_dir: Path) -> Path:
    tmp_path = ledger_dir
    with open_event_store(f"duckdb:///{tmp_path / 'events.duckdb'}") as store:
        decoded = decode_json(orjson.dumps(synthetic_records()))
        store.write(decoded.batch, source="t", batch_id="1")
    return tmp_path


def _json(capsys: pytest.CaptureFixture[str]) -> object:
    return orjson.loads(capsys.readouterr().out)


def test_owners_items_and_changes(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["owners", "add", "cards", "--name", "Cards team", "--kind", "team"]) == 0
    assert run(["owners", "add", "ops", "--name", "Ops"]) == 0
    assert (
        run(["owners", "rule", "-d", DEPLOYMENT, "--owner", "cards", "--journey", "card_lost"]) == 0
    )
    assert run(["owners", "default", "-d", DEPLOYMENT, "ops"]) == 0
    capsys.readouterr()
    assert run(["owners", "rules", "-d", DEPLOYMENT, "--json"]) == 0
    rules = _json(capsys)
    assert rules["default_owner"] == "ops"  # type: ignore[index]
    ledger = Ledger(f"sqlite:///{data_dir / 'ledger.sqlite'}")
    item, _ = absorb_finding(ledger, finding(1, journey="card_lost"), BacklogPolicy())
    ledger.dispose()
    assert run(["items", "list", "--json"]) == 0
    assert [i["owner"] for i in _json(capsys)] == ["cards"]  # type: ignore[union-attr]
    assert run(["items", "move", str(item.id), "triaged", "--as", "alice"]) == 0
    assert run(["items", "assign", str(item.id), "ops", "--as", "bob"]) == 0
    assert run(["items", "move", str(item.id), "verified"]) == 5  # illegal: conflict exit code
    capsys.readouterr()
    shipped = (START + timedelta(days=SHIP_DAY)).isoformat()
    code = run(
        ["change", "record", "-d", DEPLOYMENT, "--kind", "knowledge", "--title", "article",
         "--shipped-at", shipped, "--journeys", "card_lost", "--items", str(item.id),
         "--window-days", "14", "--measure", "--json", "--as", "ci"]
    )  # fmt: skip
    assert code == 0
    change = _json(capsys)
    assert change["verdict"] == "improved"  # type: ignore[index]
    assert run(["items", "show", str(item.id), "--json"]) == 0
    shown = _json(capsys)
    assert shown["status"] == "verified"  # type: ignore[index]
    actors = [e["actor"] for e in shown["history"] if e["action"] == "status"]  # type: ignore[index]
    assert actors[0] == "alice"
    assert actors[-1] == "ci"
    assert run(["change", "impact", "--json"]) == 0  # nothing unsettled left
    assert _json(capsys) == []
    assert run(["change", "list"]) == 0
    assert "article" in capsys.readouterr().out


def test_bad_input_exit_codes(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["items", "show", "42"]) == 4
    assert run(["owners", "rule", "-d", DEPLOYMENT, "--owner", "ghost"]) == 4
    assert run(["owners", "add", "x", "--name", "X", "--kind", "robot"]) != 0
    code = run(
        ["change", "record", "-d", DEPLOYMENT, "--kind", "flow", "--title", "t",
         "--journeys", "mortgages"]
    )  # fmt: skip
    assert code == 2
    assert "mortgages" in capsys.readouterr().err
    assert run(["change", "list", "--json"]) == 0
    assert _json(capsys) == []


def test_items_list_shows_merged_items_only_when_asked(
    ledger_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A team's item opened first; its site's finding, seen later, explains it: merged.
    ledger = Ledger(f"sqlite:///{ledger_dir / 'ledger.sqlite'}")
    team = finding(1, segment=("team", "porto-1"))
    early, _ = absorb_finding(ledger, team, BacklogPolicy())
    site, _ = absorb_finding(ledger, finding(2, segment=("site", "porto")), BacklogPolicy())
    absorb_finding(ledger, replace(team, root="fp-2"), BacklogPolicy())
    ledger.dispose()
    capsys.readouterr()
    assert run(["items", "list", "--json"]) == 0
    assert [i["id"] for i in _json(capsys)] == [site.id]  # type: ignore[union-attr]
    assert run(["items", "list", "--merged", "--json"]) == 0
    rows = {i["id"]: i for i in _json(capsys)}  # type: ignore[union-attr]
    assert set(rows) == {site.id, early.id}
    assert (rows[early.id]["merged_into"], rows[early.id]["status"]) == (site.id, "wont_fix")
    assert run(["items", "list", "--merged"]) == 0
    assert f"merged into #{site.id}" in capsys.readouterr().out
