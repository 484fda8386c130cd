"""Agents' friction reports from the SDK: ``Client.report_friction``."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from daytwo.sdk import Client
from tests.factory import interaction


def _through(client: TestClient) -> httpx.MockTransport:
    """A transport that hands each request to the in-process app (with the test's key)."""

    def handle(request: httpx.Request) -> httpx.Response:
        r = client.request(
            request.method,
            request.url.path,
            content=request.content,
            headers={"content-type": request.headers.get("content-type", "")},
        )
        return httpx.Response(r.status_code, content=r.content, headers=r.headers)

    return httpx.MockTransport(handle)


def test_report_friction(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DAYTWO_API_KEY", raising=False)
    r = client.post("/api/v1/deployments", json={"name": "care-assist", "kind": "agent_assist"})
    assert r.status_code == 201
    record = interaction(1, deployment="care-assist")
    assert client.post("/api/v1/ingest", json={"interactions": [record]}).status_code == 200
    with Client("http://daytwo.test", transport=_through(client)) as sdk:
        fid = sdk.report_friction(
            "care-assist",
            "The summary panel hides the customer's address",
            author="a-0042",
            interaction_id=record["id"],
        )
        stored = client.get(f"/api/v1/feedback/{fid}").json()
        assert (stored["source"], stored["kind"], stored["author"]) == (
            "agent",
            "friction",
            "a-0042",
        )
        assert stored["interaction_id"] == record["id"]
        with pytest.raises(ValueError, match="c-424242"):
            sdk.report_friction("care-assist", "slow", interaction_id="c-424242")
    assert len(client.get("/api/v1/feedback").json()) == 1
