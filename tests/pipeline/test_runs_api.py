"""Analyses through the API: ``POST /api/v1/analysis/runs`` answers 202 at once, ``GET`` follows
the job until it is done; bad requests are refused and start nothing."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient

from daytwo.governance.keys import create_key
from daytwo.governance.models import KeyScope
from tests.factory import interaction

DEPLOYMENT = "runs-bot"


def _ingest(client: TestClient) -> None:
    r = client.post(
        "/api/v1/ingest",
        json={"interactions": [interaction(n * 300, deployment=DEPLOYMENT) for n in range(40)]},
    )
    assert r.status_code == 200, r.text


def _follow(client: TestClient, location: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.get(location).json()
        if job["status"] in ("done", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def test_a_run_is_accepted_at_once_and_followed_to_its_end(client: TestClient) -> None:
    _ingest(client)
    r = client.post("/api/v1/analysis/runs", json={"deployment": DEPLOYMENT})
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] in ("queued", "running", "done")
    assert r.headers["location"] == f"/api/v1/analysis/runs/{job['id']}"
    done = _follow(client, r.headers["location"])
    assert done["status"] == "done", done
    assert done["deployments"] == [DEPLOYMENT]
    [outcome] = done["outcomes"]
    assert outcome["skipped"] is None, outcome
    assert outcome["deployment"] == DEPLOYMENT
    assert outcome["run_id"] is not None
    assert done["finished_at"] >= done["started_at"]
    # The run is in the ledger for good, and in the list of recent analyses.
    runs = client.get("/api/v1/findings/runs", params={"deployment": DEPLOYMENT}).json()
    assert outcome["run_id"] in [run["id"] for run in runs]
    assert job["id"] in [j["id"] for j in client.get("/api/v1/analysis/runs").json()]
    # Nothing arrived since: the next incremental run skips, a forced one runs again.
    again = _follow(client, client.post("/api/v1/analysis/runs", json={}).headers["location"])
    assert again["status"] == "done"
    assert [o["skipped"] for o in again["outcomes"]] != [None]


def test_bad_requests_are_refused_and_start_nothing(client: TestClient) -> None:
    _ingest(client)
    before = client.get("/api/v1/analysis/runs").json()
    for body in (
        {"deployment": DEPLOYMENT, "encoder": "bert"},
        {"deployment": DEPLOYMENT, "since": "yesterday"},
        # Unix seconds, which Pydantic would read as a day: the schema says ISO text.
        {"deployment": DEPLOYMENT, "since": 1699920000},
        {"deployment": DEPLOYMENT, "since": "1699920000"},
        {"deployment": DEPLOYMENT, "surprise": True},
    ):
        r = client.post("/api/v1/analysis/runs", json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["code"] == "invalid_request"
    r = client.post("/api/v1/analysis/runs", json={"deployment": "no-such-bot"})
    assert r.status_code in (403, 404), r.text
    assert client.get("/api/v1/analysis/runs").json() == before
    r = client.get("/api/v1/analysis/runs/not-a-job")
    assert r.status_code == 404
    assert "No analysis job" in r.json()["error"]["message"]


def test_starting_an_analysis_needs_the_manage_scope(client: TestClient) -> None:
    _ingest(client)
    key, _ = create_key(
        client.app.state.ledger,  # type: ignore[attr-defined]
        scope=KeyScope.read,
        deployment=DEPLOYMENT,
    )
    r = client.post(
        "/api/v1/analysis/runs",
        json={"deployment": DEPLOYMENT},
        headers={"authorization": f"Bearer {key}"},
    )
    assert r.status_code == 403, r.text
    assert client.get("/api/v1/analysis/runs").json() == []
