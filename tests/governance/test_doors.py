"""Every door that takes free text redacts it, and every write is audited with where and what.

The same PII goes in through each free-text door of the API (item titles and descriptions,
comments, reasons and notes, feedback and friction reports, resolutions, change titles and
rationales); none of it may be found afterwards in any table of the ledger.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from google.rpc import status_pb2
from sqlalchemy import inspect, text

from tests.backlog.test_api import DEPLOYMENT, _finding, _setup

EMAIL = "jane.doe@example.com"
PHONE = "+44 7700 900123"
CARD = "4111 1111 1111 1111"
PII = (EMAIL, PHONE, CARD)
SAID = f"call me on {PHONE} or write to {EMAIL}, card {CARD}"


def _ledger_text(client: TestClient) -> str:
    """Every value of every table of the ledger, as one string."""
    engine = client.app.state.ledger.engine  # type: ignore[attr-defined]
    out: list[str] = []
    with engine.connect() as con:
        for table in inspect(con).get_table_names():
            for row in con.execute(text(f'SELECT * FROM "{table}"')):
                out.extend(str(v) for v in row)
    return "\n".join(out)


def _ok(r: Any, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    return body


def test_every_free_text_door_redacts(client: TestClient) -> None:
    _setup(client)
    item = _ok(client.post("/api/v1/items/from-finding", json=_finding()))["item"]
    manual = _ok(
        client.post(
            "/api/v1/items",
            json={
                "deployment": DEPLOYMENT,
                "title": f"Customer {EMAIL} cannot log in",
                "description": SAID,
                "signal": {"volume_per_week": 5, "cost_key": "escalation"},
            },
        ),
        201,
    )
    _ok(client.patch(f"/api/v1/items/{manual['id']}", json={"description": f"again: {SAID}"}))
    _ok(client.post(f"/api/v1/items/{item['id']}/comments", json={"text": SAID}), 201)
    _ok(client.post(f"/api/v1/items/{item['id']}/assign", json={"owner": "ops", "note": SAID}))
    _ok(client.post(f"/api/v1/items/{manual['id']}/move", json={"status": "wont_fix",
                                                                "reason": SAID}))  # fmt: skip
    fb = _ok(
        client.post(
            "/api/v1/feedback",
            json={"deployment": DEPLOYMENT, "kind": "friction", "text": SAID},
        ),
        201,
    )
    _ok(client.post(f"/api/v1/feedback/{fb['id']}/acknowledge", json={"note": SAID}))
    _ok(client.post(f"/api/v1/feedback/{fb['id']}/close", json={"resolution": SAID}))
    _ok(
        client.post(
            "/api/v1/changes",
            json={
                "deployment": DEPLOYMENT,
                "kind": "prompt",
                "title": f"Reply to {EMAIL} faster",
                "rationale": SAID,
                "author": "dana",
                "shipped_at": "2026-03-02T10:00:00Z",
            },
        ),
        201,
    )
    stored = _ledger_text(client)
    for pii in PII:
        assert pii not in stored
    assert "<EMAIL>" in stored
    # What the API answers is what was stored.
    detail = _ok(client.get(f"/api/v1/items/{item['id']}"))
    assert any("<EMAIL>" in e["note"] for e in detail["history"])


def test_an_api_write_is_audited_with_its_deployment_and_before_and_after(
    client: TestClient,
) -> None:
    _setup(client)
    item = _ok(client.post("/api/v1/items/from-finding", json=_finding()))["item"]
    _ok(client.post(f"/api/v1/items/{item['id']}/move", json={"status": "triaged"}))
    entries = _ok(client.get("/api/v1/audit", params={"action": "item.status"}))
    assert entries, "the move is in the audit log"
    entry = entries[0]
    assert entry["deployment"] == DEPLOYMENT
    assert entry["target"] == f"item {item['id']}"
    assert entry["before"] == {"status": "new"}
    assert entry["after"]["status"] == "triaged"
    assert entry["actor"].startswith("key:")
    # One entry for the move, not a second generic one for the request.
    generic = _ok(client.get("/api/v1/audit", params={"action": "http.post"}))
    assert not [e for e in generic if e["after"].get("path", "").endswith("/move")]


def test_a_refused_write_is_audited_with_its_status(client: TestClient) -> None:
    _setup(client)
    r = client.post("/api/v1/items/999/move", json={"status": "triaged"})
    assert r.status_code == 404
    generic = _ok(client.get("/api/v1/audit", params={"action": "http.post"}))
    refused = [e for e in generic if e["after"].get("path") == "/api/v1/items/999/move"]
    assert refused
    assert refused[0]["after"]["status"] == 404


def _trace_entries(ledger: Any) -> list[tuple[int, int | None]]:
    """The trace door's audit entries as committed (status, requests), read on a connection
    of its own, as another process would after this one was killed."""
    from daytwo.store.ledger import Ledger

    reader = Ledger(str(ledger.engine.url))
    try:
        with reader.engine.connect() as con:
            rows = con.execute(
                text("SELECT after FROM audit_log WHERE target = '/v1/traces' ORDER BY id")
            ).all()
    finally:
        reader.dispose()
    afters = [orjson.loads(a) if isinstance(a, str | bytes) else a for (a,) in rows]
    return [(a["status"], a.get("requests")) for a in afters]


def test_the_trace_door_commits_each_accepted_requests_audit_count_with_its_rows(
    client: TestClient,
) -> None:
    """Each accepted request's count is committed with its rows before the answer (no ledger
    write waits in the request); the assembler folds the counts into the chain."""
    from daytwo.governance.audit import FOLDED, verify

    app: Any = client.app
    proto = {"content-type": "application/x-protobuf"}
    for n in range(1, 4):
        assert client.post("/v1/traces", content=b"", headers=proto).status_code == 200
        # Durable when the answer arrived: staged, or folded already by the assembler.
        staged = sum(app.state.events.staged_audit()["requests"].to_pylist())
        folded = sum(r or 0 for _, r in _trace_entries(app.state.ledger))
        assert staged + folded == n
    app.state.trace_assembler.fold_audit()
    assert app.state.events.staged_audit().num_rows == 0
    entries = _trace_entries(app.state.ledger)
    assert {s for s, _ in entries} == {200}
    assert sum(r or 0 for _, r in entries) == 3
    assert client.post("/v1/traces", content=b"\xff\xff", headers=proto).status_code == 400
    assert _trace_entries(app.state.ledger)[-1] == (400, None)  # a refusal: written at once
    assert verify(app.state.ledger).breaks == []
    with app.state.ledger.session() as session:
        assert audit_after(session)[FOLDED] > 0


def audit_after(session: Any) -> dict[str, Any]:
    """The ``after`` of the newest entry that folded staged counts."""
    rows = session.execute(
        text("SELECT after FROM audit_log WHERE target = '/v1/traces' ORDER BY id DESC")
    ).all()
    afters = [orjson.loads(a) if isinstance(a, str | bytes) else a for (a,) in rows]
    found: dict[str, Any] = next(a for a in afters if "requests" in a)
    return found


def test_requests_answered_together_share_one_audit_entry(client: TestClient) -> None:
    from daytwo.governance.audit import verify
    from daytwo.server.security import AuditBatch

    app: Any = client.app
    batch = AuditBatch(app)
    key = ("key:x", "http.post", "/v1/traces", None, "127.0.0.1", 200, "/v1/traces")

    async def five() -> None:
        await asyncio.gather(*(batch.record(key) for _ in range(5)))

    asyncio.run(five())
    assert batch.writes == 1
    assert _trace_entries(app.state.ledger) == [(200, 5)]
    assert verify(app.state.ledger).breaks == []


def test_an_accepted_trace_request_whose_audit_fails_is_answered_retry_later(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from daytwo.server import security

    append_entries = security.append_entries

    def fail(app: Any, entries: Any) -> None:
        raise OSError("disk I/O error")

    proto = {"content-type": "application/x-protobuf"}
    # An events store that cannot commit the count with the rows (ClickHouse): the ledger.
    monkeypatch.setattr(client.app.state.events, "stages_audit", False)  # type: ignore[attr-defined]
    monkeypatch.setattr(security, "append_entries", fail)
    r = client.post("/v1/traces", content=b"", headers=proto)
    assert r.status_code == 503
    assert r.headers["retry-after"] == "5"
    assert "audit log" in status_pb2.Status.FromString(r.content).message
    monkeypatch.setattr(security, "append_entries", append_entries)
    # The exporter's retry is answered and audited.
    assert client.post("/v1/traces", content=b"", headers=proto).status_code == 200
    assert _trace_entries(client.app.state.ledger) == [(200, 1)]  # type: ignore[attr-defined]
