"""`daytwo plan` and `daytwo rollout` on a data dir, as a user types them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from daytwo.cli.main import run
from daytwo.governance.accounts import create_user
from daytwo.governance.models import Role
from daytwo.ingest.decode import decode_json
from daytwo.settings import Settings
from daytwo.store.events import open_event_store
from daytwo.store.ledger import Ledger, upgrade
from tests.plan.conftest import DEPLOYMENT, register
from tests.plan.test_plan import plan


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, records: list[dict[str, Any]]) -> Path:
    path = tmp_path_factory.mktemp("cli")
    settings = Settings(data_dir=path)
    upgrade(settings.resolved_ledger_url)
    ledger = Ledger(settings.resolved_ledger_url)
    register(ledger)
    create_user(ledger, "ana", "a long password for ana", Role.owner)
    create_user(ledger, "vic", "a long password for vic", Role.viewer)
    ledger.dispose()
    with open_event_store(settings.resolved_events_url) as store:
        decoded = decode_json(orjson.dumps(records))
        store.write(decoded.batch, source="t", batch_id="1")
    return path


@pytest.fixture
def cli(data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    monkeypatch.setenv("DAYTWO_DATA_DIR", str(data_dir))
    monkeypatch.delenv("DAYTWO_EVENTS_URL", raising=False)
    monkeypatch.delenv("DAYTWO_LEDGER_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "200")

    def invoke(*args: str) -> tuple[int, str, str]:
        code = run(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return invoke


def test_plan_commands(cli: Any, tmp_path: Path) -> None:
    code, out, _ = cli("plan", "template", "virtual_agent")
    assert code == 0
    assert yaml.safe_load(out)["template"] == "virtual_agent"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(plan(start_day=40, end_day=35)))
    code, _, err = cli("plan", "apply", str(bad))
    assert code == 2
    assert (
        "phases[0].end_day: phase 'stabilise' ends (day 35) before it starts (day 40)"
        in " ".join(err.split())
    )
    good = tmp_path / "plan.yaml"
    good.write_text(yaml.safe_dump({k: v for k, v in plan().items() if k != "deployment"}))
    code, out, _ = cli("plan", "apply", str(good), "-d", DEPLOYMENT)
    assert code == 0, out
    assert "plan v1 of care-bot applied: Stabilise (days 1–30, 2 criteria)" in out
    code, out, _ = cli("plan", "evaluate", "-d", DEPLOYMENT, "--through", "2026-03-15")
    assert code == 0
    assert "Day 15 of 60, in stabilise: 1 of 2 criteria not met: Error rate" in " ".join(
        out.split()
    )
    code, out, _ = cli("plan", "evaluate", "-d", DEPLOYMENT, "--through", "2026-03-15", "--json")
    assert [g["phase"] for g in orjson.loads(out)] == ["stabilise", "optimise"]
    code, _, err = cli("plan", "signoff", "stabilise", "-d", DEPLOYMENT, "--as", "vic")
    assert code == 77
    assert "vic is a viewer" in err
    code, _, err = cli("plan", "signoff", "stabilise", "-d", DEPLOYMENT, "--as", "ana")
    assert code == 0, err  # ready on the latest day
    code, out, _ = cli("plan", "show", "-d", DEPLOYMENT)
    assert code == 0
    assert "signed off on" in out
    assert "by user:ana" in out


def test_rollout_commands(cli: Any) -> None:
    code, _, err = cli("rollout", "set", "live", "-d", DEPLOYMENT, "-j", "billing")
    assert code == 2
    assert "not_started → live skips" in err
    code, out, err = cli("rollout", "set", "pilot", "-d", DEPLOYMENT, "-j", "billing")
    assert (code, out.strip()) == (0, "billing is now pilot")
    code, out, err = cli("rollout", "set", "live", "-d", DEPLOYMENT, "-j", "billing")
    assert code == 0
    assert "warning: billing is not ready to go live" in " ".join(err.split())
    code, _, err = cli("rollout", "set", "pilot", "-d", DEPLOYMENT, "--group", "porto")
    assert code == 2
    assert "--group looks like site=porto" in err
    code, out, _ = cli("rollout", "show", "-d", DEPLOYMENT)
    assert code == 0
    assert "billing" in out
    code, out, _ = cli("rollout", "recommend", "-d", DEPLOYMENT, "--json")
    assert code == 0
    assert orjson.loads(out)["deployment"] == DEPLOYMENT
    code, out, _ = cli("rollout", "recommend", "-d", DEPLOYMENT)
    assert "advised against for now" in out
