"""The overview shows a deployment the metrics that mean something for its kind: a virtual
agent whose hand-overs reach agents shows no agent-assist adoption tiles (they read 0 and
100% there, about the bot's own hand-overs), and an agent-assist tool still shows them."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factory import interaction

ADOPTION = (
    "Suggestions used per conversation",
    "Resolved with the AI",
    "Escalated with the AI",
    "Handle time with the AI",
)


@pytest.fixture
def engine() -> str:
    """Which metrics a kind shows is the catalog's, whatever the engine: DuckDB only."""
    return "duckdb"


def _deployment(client: TestClient, name: str, kind: str, rows: list[dict[str, Any]]) -> str:
    r = client.post("/api/v1/deployments", json={"name": name, "kind": kind})
    assert r.status_code == 201, r.text
    r = client.post("/api/v1/ingest", json={"interactions": rows})
    assert r.status_code == 200, r.text
    page = client.get("/overview", params={"deployment": name, "start": "2026-03-01"})
    assert page.status_code == 200
    return page.text


def test_adoption_tiles_only_for_agent_assist(client: TestClient) -> None:
    # The bot hands every third conversation over to an agent: agent conversations in which
    # its AI was used, none resolved by the agent, no suggestion ever shown.
    bot = [
        interaction(n, deployment="va-bot", **({"agent_ref": "a-1"} if n % 3 == 1 else {}))
        for n in range(12)
    ]
    page = _deployment(client, "va-bot", "virtual_agent", bot)
    assert "Containment" in page
    for name in ADOPTION:
        assert name not in page, name
    used = {"ts": "2026-03-02T09:30:00Z", "feature": "suggested_reply", "action": "accepted"}
    assist = [
        interaction(
            n,
            deployment="assist",
            agent_ref=f"a-{n % 2}",
            outcome="resolved_by_agent",
            assist_events=[{**used, "agent_ref": f"a-{n % 2}"}],
        )
        for n in range(12)
    ]
    page = _deployment(client, "assist", "agent_assist", assist)
    for name in ADOPTION:
        assert name in page, name
