"""The plan and rollout over HTTP: JSON and YAML plans, errors in the one JSON shape, scopes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from daytwo.governance.keys import create_key
from daytwo.governance.models import KeyScope
from daytwo.server import create_app
from daytwo.settings import Settings
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger
from tests.plan.conftest import DEPLOYMENT
from tests.plan.test_plan import plan


@pytest.fixture
def api(tmp_path: Path, sqlite_ledger: Ledger, events: EventStore) -> Iterator[TestClient]:
    app = create_app(Settings(data_dir=tmp_path / "data"), events=events, ledger=sqlite_ledger)
    with TestClient(app) as client:
        key, _ = create_key(sqlite_ledger, scope=KeyScope.admin, deployment=None)
        client.headers["authorization"] = f"Bearer {key}"
        yield client


def reader(client: TestClient, ledger: Ledger) -> dict[str, str]:
    key, _ = create_key(ledger, scope=KeyScope.read, deployment=DEPLOYMENT)
    return {"authorization": f"Bearer {key}"}


def test_apply_json_and_yaml(api: TestClient) -> None:
    r = api.put(f"/api/v1/plans/{DEPLOYMENT}", json=plan())
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 1
    body = yaml.safe_dump({k: v for k, v in plan().items() if k != "deployment"})
    r = api.put(
        f"/api/v1/plans/{DEPLOYMENT}", content=body, headers={"content-type": "application/yaml"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2
    got = api.get(f"/api/v1/plans/{DEPLOYMENT}").json()
    assert [p["key"] for p in got["phases"]] == ["stabilise", "optimise"]
    assert got["status"]["current_phase"] == "stabilise"


def test_json_body_takes_the_deployment_from_the_path(api: TestClient) -> None:
    body = {k: v for k, v in plan().items() if k != "deployment"}
    r = api.put(f"/api/v1/plans/{DEPLOYMENT}", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["deployment"] == DEPLOYMENT
    r = api.put(f"/api/v1/plans/{DEPLOYMENT}", json={**body, "deployment": None})
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2
    # what the API reference promises matches: the body's deployment is optional
    doc = api.get("/api/openapi.json").json()
    put = doc["paths"]["/api/v1/plans/{deployment}"]["put"]
    schema = put["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["phases"]
    refs = {item["$ref"] for item in (schema["properties"]["phases"]["items"],)}
    assert all(ref.split("/")[-1] in doc["components"]["schemas"] for ref in refs)


def test_bad_plans_answer_every_field(api: TestClient) -> None:
    bad = plan(gate=[{"metric": "errors_rate", "comparator": "at_most", "threshold": 2}])
    r = api.put(f"/api/v1/plans/{DEPLOYMENT}", json=bad)
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == "invalid_input"
    assert error["details"]["errors"] == [
        {
            "field": "phases[0].gate[0].metric",
            "message": "unknown metric 'errors_rate'; see `daytwo metrics list` or /metrics",
        }
    ]
    r = api.put(
        f"/api/v1/plans/{DEPLOYMENT}", content=b"phases: [", headers={"content-type": "text/yaml"}
    )
    assert r.status_code == 400
    assert "not valid YAML" in r.json()["error"]["message"]
    r = api.put(f"/api/v1/plans/{DEPLOYMENT}", json={**plan(), "deployment": "other"})
    assert r.status_code == 400
    sloppy = plan()
    sloppy["phases"][0]["end_day"] = True  # not day 1: a mistake, refused (Schemathesis ST201)
    r = api.put(f"/api/v1/plans/{DEPLOYMENT}", json=sloppy)
    assert r.status_code == 400
    assert r.json()["error"]["details"]["errors"] == [
        {"field": "phases[0].end_day", "message": "expected a number, not true/false"}
    ]
    assert api.get(f"/api/v1/plans/{DEPLOYMENT}").status_code == 404


def test_evaluate_signoff_and_override(api: TestClient, sqlite_ledger: Ledger) -> None:
    assert api.post(f"/api/v1/plans/{DEPLOYMENT}/template").status_code == 201
    r = api.post(f"/api/v1/plans/{DEPLOYMENT}/evaluate", json={"through": "2026-03-15"})
    assert r.status_code == 200, r.text
    gates = r.json()
    assert [g["phase"] for g in gates] == ["stabilise", "optimise", "scale"]
    crit = gates[0]["criteria"][0]
    assert set(crit) >= {
        "value",
        "lo",
        "hi",
        "n",
        "window_start",
        "window_end",
        "verdict",
        "evidence",
        "blocking",
    }
    history = api.get(f"/api/v1/plans/{DEPLOYMENT}/phases/stabilise/history").json()
    assert history == [
        {
            "through": "2026-03-15",
            "ready": False,
            "met": gates[0]["met"],
            "total": gates[0]["total"],
        }
    ]
    path = f"/api/v1/plans/{DEPLOYMENT}/phases/stabilise/signoff"
    # A viewer may not sign off at all.
    r = api.post(path, json={}, headers=reader(api, sqlite_ledger))
    assert r.status_code == 403
    # The gate is not ready: a sign-off is refused, an override needs a reason.
    r = api.post(path, json={})
    assert r.status_code == 409
    assert "is not ready" in r.json()["error"]["message"]
    r = api.post(path, json={"override": True})
    assert r.status_code == 400
    assert r.json()["error"]["details"] == {"field": "reason"}
    r = api.post(path, json={"override": True, "reason": "accepted by the steering group"})
    assert r.status_code == 201, r.text
    done: dict[str, Any] = r.json()
    assert done["kind"] == "override"
    assert done["actor"].startswith("key:")
    shown = api.get(f"/api/v1/plans/{DEPLOYMENT}").json()
    assert shown["phases"][0]["status"] == "overridden"
    assert shown["phases"][0]["signoff"]["reason"] == "accepted by the steering group"


def test_records_and_templates(api: TestClient) -> None:
    api.put(f"/api/v1/plans/{DEPLOYMENT}", json=plan())
    r = api.post(
        f"/api/v1/plans/{DEPLOYMENT}/records",
        json={"journey": "billing", "kind": "runbook", "title": "Billing runbook"},
    )
    assert r.status_code == 201, r.text
    r = api.post(
        f"/api/v1/plans/{DEPLOYMENT}/records",
        json={"journey": "mortgages", "kind": "runbook", "title": "x"},
    )
    assert r.status_code == 400
    assert r.json()["error"]["details"] == {"field": "journey"}
    assert api.get(f"/api/v1/plans/{DEPLOYMENT}").json()["records"][0]["journey"] == "billing"
    template = api.get("/api/v1/plans/templates/agent_assist").json()
    assert [p["key"] for p in template["phases"]] == ["stabilise", "optimise", "scale"]
    assert api.get("/api/v1/plans/templates/robot").status_code == 400


def test_rollout(api: TestClient, sqlite_ledger: Ledger) -> None:
    r = api.post(f"/api/v1/rollout/{DEPLOYMENT}", json={"journey": "billing", "state": "live"})
    assert r.status_code == 400
    assert r.json()["error"]["details"] == {"field": "state"}
    r = api.post(f"/api/v1/rollout/{DEPLOYMENT}", json={"journey": "billing", "state": "pilot"})
    assert r.status_code == 200, r.text
    r = api.post(f"/api/v1/rollout/{DEPLOYMENT}", json={"journey": "billing", "state": "live"})
    assert r.status_code == 200
    assert r.json()["warnings"]  # no journey has an owner: not ready
    units = api.get(f"/api/v1/rollout/{DEPLOYMENT}").json()
    assert {u["journey"]: u["state"] for u in units}["billing"] == "live"
    recs = api.get(f"/api/v1/rollout/{DEPLOYMENT}/recommendations?count=2").json()
    assert set(recs) == {"deployment", "recommended", "advised_against", "basis"}
    history = api.get(f"/api/v1/rollout/{DEPLOYMENT}/history").json()
    assert [h["to_state"] for h in history] == ["live", "pilot"]
    assert history[0]["warning"]
    r = api.post(
        f"/api/v1/rollout/{DEPLOYMENT}",
        json={"journey": "payments", "state": "pilot"},
        headers=reader(api, sqlite_ledger),
    )
    assert r.status_code == 403
