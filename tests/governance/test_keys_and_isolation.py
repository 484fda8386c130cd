"""API keys (shown once, hashed, scoped, expiring, revocable) and deployment isolation through
the API, the UI and exports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from daytwo.governance import accounts, keys
from daytwo.governance.models import ApiKey, KeyScope, Role
from daytwo.http.access import SESSION_COOKIE, sign
from daytwo.store.ledger import Ledger
from tests.factory import interaction

A, B = "care-bot", "hr-bot"
PASSWORD = "correct horse battery staple"


def ledger_of(client: TestClient) -> Ledger:
    ledger: Ledger = client.app.state.ledger  # type: ignore[attr-defined]
    return ledger


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def seed(client: TestClient) -> None:
    """Both deployments registered and filled (by the admin client)."""
    for name in (A, B):
        r = client.post("/api/v1/deployments", json={"name": name, "kind": "virtual_agent"})
        assert r.status_code == 201, r.text
        records = [interaction(n, deployment=name) for n in range(3)]
        for rec in records:
            rec["id"] = f"{name}-{rec['id']}"
        assert client.post("/api/v1/ingest", json={"interactions": records}).status_code == 200


def test_only_a_hash_is_stored_and_the_key_works_until_revoked(client: TestClient) -> None:
    ledger = ledger_of(client)
    key, public = keys.create_key(ledger, scope=KeyScope.read, deployment=A)
    with ledger.session() as s:
        row = s.scalar(select(ApiKey).where(ApiKey.prefix == public.prefix))
        assert row is not None
        assert key.split("_", 2)[2] not in (row.secret_hash, row.name, row.prefix)
    r = client.get("/api/v1/deployments", headers=bearer(key))
    assert r.status_code == 200
    keys.revoke_key(ledger, public.prefix)
    r = client.get("/api/v1/deployments", headers=bearer(key))
    assert r.status_code == 401
    assert r.json()["error"]["message"] == "The API key is unknown, revoked or expired."
    assert keys.list_keys(ledger, A)[0].status() == "revoked"


def test_keys_expire(client: TestClient) -> None:
    ledger = ledger_of(client)
    key, public = keys.create_key(
        ledger, scope=KeyScope.read, deployment=A, expires_in=timedelta(hours=1)
    )
    assert keys.authenticate(ledger, key) is not None
    later = datetime.now(UTC) + timedelta(hours=2)
    assert keys.authenticate(ledger, key, now=later) is None
    assert public.status(later) == "expired"
    assert client.get("/api/v1/deployments", headers=bearer(key)).status_code == 200


def test_wrong_or_malformed_keys_are_refused(client: TestClient) -> None:
    key, _ = keys.create_key(ledger_of(client), scope=KeyScope.admin, deployment=None)
    forged = key[:-4] + "AAAA"
    for header in (f"Bearer {forged}", "Bearer dt_nope", "Basic dXNlcjpwYXNz", "Bearer "):
        r = client.get("/api/v1/deployments", headers={"authorization": header})
        assert r.status_code == 401, header


def test_an_ingest_key_writes_only_its_deployment_and_reads_nothing(client: TestClient) -> None:
    seed(client)
    key, _ = keys.create_key(ledger_of(client), scope=KeyScope.ingest, deployment=A)
    ok = client.post(
        "/api/v1/ingest", json={"interactions": [interaction(9, deployment=A)]}, headers=bearer(key)
    )
    assert ok.status_code == 200, ok.text
    # One record of B in the batch refuses the whole batch, and stores nothing.
    mixed = [interaction(10, deployment=A), interaction(11, deployment=B)]
    r = client.post("/api/v1/ingest", json={"interactions": mixed}, headers=bearer(key))
    assert r.status_code == 403
    assert B in r.json()["error"]["message"]
    for path in ("/api/v1/deployments", f"/api/v1/interactions?deployment={A}", "/overview"):
        assert client.get(path, headers=bearer(key)).status_code == 403, path
    listed = client.get(f"/api/v1/interactions?deployment={A}").json()
    assert listed["total"] == 4


def test_a_read_key_of_a_sees_nothing_of_b(client: TestClient) -> None:
    seed(client)
    key, _ = keys.create_key(ledger_of(client), scope=KeyScope.read, deployment=A)
    h = bearer(key)
    listed = client.get("/api/v1/deployments", headers=h).json()
    assert [d["name"] for d in listed] == [A]
    for path in (
        f"/api/v1/interactions?deployment={B}",
        f"/api/v1/interactions/{B}-c-000001?deployment={B}",
        f"/api/v1/deployments/{B}",
        f"/api/v1/metrics?deployment={B}&metric=containment_rate",
        f"/api/v1/metrics?deployment={B}&metric=containment_rate&format=csv",
    ):
        r = client.get(path, headers=h)
        assert r.status_code == 403, path
        assert "c-00000" not in r.text
    assert client.get(f"/api/v1/interactions?deployment={A}", headers=h).json()["total"] == 3
    csv = client.get(
        f"/api/v1/metrics?deployment={A}&metric=containment_rate&format=csv", headers=h
    )
    assert csv.status_code == 200
    # Writes need more than read.
    r = client.post("/api/v1/ingest", json={"interactions": [interaction(1)]}, headers=h)
    assert r.status_code == 403


def test_a_user_granted_a_sees_nothing_of_b_in_the_ui(client: TestClient) -> None:
    seed(client)
    ledger = ledger_of(client)
    accounts.create_user(ledger, "vera", PASSWORD, Role.viewer, grants=(A,))
    signed = accounts.sign_in(ledger, "vera", PASSWORD)
    cookie = sign(signed.token, client.app.state.session_key)  # type: ignore[attr-defined]
    h = {"cookie": f"{SESSION_COOKIE}={cookie}", "authorization": ""}
    home = client.get("/", headers=h)
    assert home.status_code == 200
    assert A in home.text
    assert B not in home.text
    for path in ("/overview", "/journeys", "/conversations"):
        page = client.get(path, headers=h)
        assert page.status_code == 200, path
        assert B not in page.text, path
        assert client.get(f"{path}?deployment={B}", headers=h).status_code == 403, path
    r = client.get(f"/conversations/{B}/{B}-c-000001", headers=h)
    assert r.status_code == 403
    assert client.get(f"/conversations/{A}/{A}-c-000001", headers=h).status_code == 200
