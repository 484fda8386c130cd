"""Administration over HTTP: users, roles, grants and keys, each change audited; a non-admin
changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

from daytwo.governance import keys
from daytwo.governance.models import KeyScope

DEPLOYMENT = "admin-bot"


def _ok(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()


def _deployment(client: TestClient) -> None:
    _ok(
        client.post("/api/v1/deployments", json={"name": DEPLOYMENT, "kind": "virtual_agent"}),
        201,
    )


def test_users_are_created_changed_disabled_and_reset(client: TestClient) -> None:
    _deployment(client)
    made = _ok(
        client.post(
            "/api/v1/users", json={"username": "dana", "role": "owner", "grants": [DEPLOYMENT]}
        ),
        201,
    )
    assert made["user"] == {
        "username": "dana",
        "role": "owner",
        "active": True,
        "grants": [DEPLOYMENT],
        "locked_until": None,
    }
    assert len(made["password"]) >= 16
    assert _ok(client.patch("/api/v1/users/dana", json={"role": "analyst"}))["role"] == "analyst"
    assert _ok(client.patch("/api/v1/users/dana", json={"active": False}))["active"] is False
    for loose in (0, "false", "no"):  # only a JSON boolean says whether a user is active
        assert client.patch("/api/v1/users/dana", json={"active": loose}).status_code == 422
    reset = _ok(client.post("/api/v1/users/dana/password"))
    assert reset["password"] != made["password"]
    assert _ok(client.put("/api/v1/users/dana/grants", json={"deployments": []}))["grants"] == []
    actions = [e["action"] for e in _ok(client.get("/api/v1/audit", params={"action": "user."}))]
    assert actions == ["user.grants", "user.update", "user.update", "user.update", "user.create"]
    entry = _ok(client.get("/api/v1/audit", params={"action": "user.grants"}))[0]
    assert (entry["before"], entry["after"]) == ({"grants": [DEPLOYMENT]}, {"grants": []})
    logged = str(_ok(client.get("/api/v1/audit")))
    assert made["password"] not in logged
    assert reset["password"] not in logged


def test_keys_are_created_revoked_and_expired(client: TestClient) -> None:
    _deployment(client)
    made = _ok(
        client.post(
            "/api/v1/keys", json={"scope": "ingest", "deployment": DEPLOYMENT, "name": "crm"}
        ),
        201,
    )
    assert made["key"].startswith("dt_")
    prefix = made["info"]["prefix"]
    assert made["info"]["status"] == "active"
    ledger = client.app.state.ledger  # type: ignore[attr-defined]
    assert keys.authenticate(ledger, made["key"]) is not None
    now = datetime.now(UTC).isoformat()
    expired = _ok(client.patch(f"/api/v1/keys/{prefix}", json={"expires_at": now}))
    assert expired["status"] == "expired"
    assert keys.authenticate(ledger, made["key"]) is None
    back = _ok(client.patch(f"/api/v1/keys/{prefix}", json={"expires_at": None}))
    assert back["status"] == "active"
    assert _ok(client.post(f"/api/v1/keys/{prefix}/revoke"))["status"] == "revoked"
    assert keys.authenticate(ledger, made["key"]) is None
    r = client.patch(f"/api/v1/keys/{prefix}", json={"expires_at": None})
    assert r.status_code == 409
    listed = {k["prefix"]: k for k in _ok(client.get("/api/v1/keys"))}
    assert listed[prefix]["status"] == "revoked"
    assert "key" not in listed[prefix]
    actions = [e["action"] for e in _ok(client.get("/api/v1/audit", params={"action": "key."}))]
    assert actions[:4] == ["key.revoke", "key.expire", "key.expire", "key.create"]


def test_bad_admin_input_changes_nothing(client: TestClient) -> None:
    _deployment(client)
    r = client.post("/api/v1/users", json={"username": "x", "grants": ["nope"]})
    assert r.status_code == 400
    assert "nope" in r.json()["error"]["message"]
    r = client.post("/api/v1/keys", json={"scope": "read", "deployment": "nope"})
    assert r.status_code == 400
    r = client.post("/api/v1/keys", json={"scope": "read"})
    assert r.status_code == 400  # a read key belongs to one deployment
    assert _ok(client.get("/api/v1/users")) == []
    assert [k["scope"] for k in _ok(client.get("/api/v1/keys"))] == ["admin"]  # the client's


def test_the_last_admin_cannot_be_disabled_or_demoted(client: TestClient) -> None:
    _ok(client.post("/api/v1/users", json={"username": "root", "role": "admin"}), 201)
    for change in ({"active": False}, {"role": "viewer"}):
        r = client.patch("/api/v1/users/root", json=change)
        assert r.status_code == 409, r.text
        assert "last active admin" in r.json()["error"]["message"]
    _ok(client.post("/api/v1/users", json={"username": "deputy", "role": "admin"}), 201)
    assert _ok(client.patch("/api/v1/users/root", json={"active": False}))["active"] is False


def test_a_non_admin_is_refused_and_nothing_changes(client: TestClient) -> None:
    _deployment(client)
    ledger = client.app.state.ledger  # type: ignore[attr-defined]
    read_key, _ = keys.create_key(ledger, scope=KeyScope.read, deployment=DEPLOYMENT)
    before = _ok(client.get("/api/v1/keys"))
    headers = {"authorization": f"Bearer {read_key}"}
    attempts = [
        ("post", "/api/v1/users", {"username": "eve", "role": "admin"}),
        ("post", "/api/v1/keys", {"scope": "admin"}),
        ("post", f"/api/v1/keys/{before[0]['prefix']}/revoke", None),
        ("get", "/api/v1/audit", None),
    ]
    for method, path, body in attempts:
        r = client.request(method, path, json=body, headers=headers)
        assert r.status_code == 403, (path, r.text)
    assert _ok(client.get("/api/v1/users")) == []
    after = _ok(client.get("/api/v1/keys"))
    assert [(k["prefix"], k["status"]) for k in after] == [
        (k["prefix"], k["status"]) for k in before
    ]
