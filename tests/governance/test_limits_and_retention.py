"""Hard limits (rate limit with Retry-After, security headers, no stack traces to clients),
retention (raw text and interactions go, the ledger stays) and the key and user commands."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from daytwo.cli.main import run
from daytwo.errors import ConfigError
from daytwo.governance import audit, keys, policies
from daytwo.governance.models import KeyScope
from daytwo.http.access import Scope, requires
from daytwo.server import create_app
from daytwo.server.security import RateLimiter
from daytwo.settings import Settings
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger
from tests.factory import interaction


def test_security_headers_on_pages_api_and_errors(client: TestClient) -> None:
    for path in ("/", "/api/v1/deployments", "/api/v1/nothing-here", "/healthz", "/login"):
        r = client.get(path)
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";", 1)[0]
        assert "frame-ancestors 'none'" in csp
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"


def test_pages_have_no_inline_script(client: TestClient) -> None:
    import re

    for path in ("/", "/login", "/api/docs", "/audit"):
        html = client.get(path).text
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert "src=" in tag or 'type="application/json"' in tag, (path, tag)
        assert " onclick=" not in html
        assert " onload=" not in html


def test_rate_limit_answers_429_with_retry_after(settings: Settings) -> None:
    settings.rate_limit_per_minute = 5
    with TestClient(create_app(settings)) as c:
        key, _ = keys.create_key(c.app.state.ledger, scope=KeyScope.admin, deployment=None)  # type: ignore[attr-defined]
        h = {"authorization": f"Bearer {key}"}
        codes = [c.get("/api/v1/deployments", headers=h).status_code for _ in range(7)]
        assert codes == [200] * 5 + [429] * 2
        r = c.get("/api/v1/deployments", headers=h)
        assert 1 <= int(r.headers["retry-after"]) <= 61
        assert r.json()["error"]["code"] == "rate_limited"
        # Another caller has its own budget; health checks are never limited.
        other, _ = keys.create_key(c.app.state.ledger, scope=KeyScope.admin, deployment=None)  # type: ignore[attr-defined]
        assert c.get("/healthz").status_code == 200
        r = c.get("/api/v1/deployments", headers={"authorization": f"Bearer {other}"})
        assert r.status_code == 200


def test_rate_limiter_windows() -> None:
    limiter = RateLimiter(2)
    assert [limiter.hit("a", now=120.0) for _ in range(3)] == [0, 0, 61]
    assert limiter.hit("b", now=150.0) == 0
    assert limiter.hit("a", now=150.0) == 31
    assert limiter.hit("a", now=180.0) == 0  # a new window


@pytest.fixture
def crashing(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings)
    router = APIRouter()

    @router.get("/api/v1/crash", dependencies=[requires(Scope.public)])
    def crash() -> None:
        raise RuntimeError("secret internals: /srv/daytwo/ledger.sqlite password=hunter2")

    @router.post("/api/v1/crash", dependencies=[requires(Scope.public)])
    def crash_write() -> None:
        raise RuntimeError("a write that fails half-way")

    app.include_router(router)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_no_stack_trace_reaches_a_client(
    crashing: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    r = crashing.get("/api/v1/crash")
    assert r.status_code == 500
    assert r.json() == {"error": {"code": "internal_error", "message": "Internal server error."}}
    assert "hunter2" not in r.text
    assert "Traceback" not in r.text
    assert "hunter2" in caplog.text  # operators still see it
    # The error page carries the same security headers as every other answer.
    assert r.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]


def test_a_write_that_crashes_is_audited_as_a_500(crashing: TestClient) -> None:
    assert crashing.post("/api/v1/crash").status_code == 500
    ledger = crashing.app.state.ledger  # type: ignore[attr-defined]
    entries = audit.entries(ledger, action="http.post", limit=5)
    assert any(
        e.target == "/api/v1/crash" and (e.after or {}).get("status") == 500 for e in entries
    )
    assert audit.verify(ledger).ok


def test_serving_beyond_loopback_needs_secure_cookies() -> None:
    with pytest.raises(ConfigError, match="COOKIE_SECURE"):
        Settings(host="0.0.0.0").check_safe_to_serve()
    Settings(host="0.0.0.0", cookie_secure=True).check_safe_to_serve()
    Settings(host="0.0.0.0", demo=True).check_safe_to_serve()
    with pytest.raises(ValueError, match="32 characters"):
        Settings(session_secret="short")  # type: ignore[arg-type]


def test_retention_clears_text_then_drops_interactions(
    settings: Settings, events: EventStore
) -> None:
    from daytwo.ingest.decode import decode_json
    from daytwo.ingest.service import ingest
    from daytwo.store.ledger import upgrade

    upgrade(settings.resolved_ledger_url)
    ledger = Ledger(settings.resolved_ledger_url)
    old = [interaction(n, deployment="care-bot") for n in range(3)]  # March 2026
    other = [interaction(n, deployment="hr-bot") for n in range(10, 12)]
    body = json.dumps({"interactions": old + other}).encode()
    ingest(events, decode_json(body))
    now = datetime(2026, 4, 1, tzinfo=UTC)
    policies.set_policy(ledger, "care-bot", text_retention_days=7)
    first = policies.apply_retention(ledger, events, now=now)
    assert [(r.deployment, r.texts_cleared, r.interactions_deleted) for r in first] == [
        ("care-bot", 12, 0)
    ]
    texts = events.query("SELECT deployment, count(text) AS n FROM turns GROUP BY 1 ORDER BY 1")
    assert texts.to_pylist() == [
        {"deployment": "care-bot", "n": 0},
        {"deployment": "hr-bot", "n": 8},
    ]
    assert events.count("turns", "care-bot") == 12  # the turns (and their metrics) stay
    policies.set_policy(ledger, "care-bot", interaction_retention_days=20)
    second = policies.apply_retention(ledger, events, now=now)
    assert [(r.texts_cleared, r.interactions_deleted) for r in second] == [(0, 3)]
    assert events.count("interactions", "care-bot") == 0
    assert events.count("turns", "care-bot") == 0
    assert events.count("interactions", "hr-bot") == 2
    # The ledger keeps its history, including what retention did.
    actions = [e.action for e in audit.entries(ledger)]
    assert actions.count("retention.apply") == 2
    assert audit.verify(ledger).ok
    ledger.dispose()


def test_key_and_user_commands(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DAYTWO_DATA_DIR", str(settings.data_dir))
    assert (
        run(["keys", "create", "--deployment", "care-bot", "--scope", "ingest", "--expires", "30d"])
        == 0
    )
    printed = capsys.readouterr()
    key = printed.out.strip()
    assert key.startswith("dt_")
    assert "shown once" in printed.err
    assert run(["keys", "list", "--json"]) == 0
    listed = capsys.readouterr().out
    assert key.split("_")[1] in listed
    assert key.split("_", 2)[2] not in listed
    assert run(["keys", "create", "--scope", "read"]) == 2  # read keys need a deployment
    assert run(["keys", "create", "--scope", "read", "--deployment", "x", "--expires", "soon"]) == 2
    assert run(["keys", "revoke", key.split("_")[1]]) == 0
    assert run(["keys", "revoke", "nope"]) == 4
    assert run(["users", "create", "vera", "--role", "viewer", "--grant", "care-bot"]) == 0
    assert "password (shown once)" in capsys.readouterr().out
    assert run(["users", "grant", "vera", "hr-bot"]) == 0
    assert "care-bot, hr-bot" in capsys.readouterr().out
    assert run(["users", "set", "vera", "--role", "analyst", "--reset-password"]) == 0
    assert "new password" in capsys.readouterr().out
    assert run(["retention", "set", "care-bot", "--text-days", "30"]) == 0
    assert run(["retention", "apply"]) == 0
    assert "care-bot: 0 turn texts cleared" in capsys.readouterr().out
    assert run(["audit", "verify"]) == 0
    ledger = Ledger(settings.resolved_ledger_url)
    assert keys.authenticate(ledger, key) is None
    entries = list(reversed(audit.entries(ledger)))
    assert [e.action for e in entries] == [
        "key.create",
        "key.revoke",
        "user.create",
        "user.grants",
        "user.update",
        "policy.update",
    ]
    assert all(e.actor.startswith("cli") for e in entries)
    ledger.dispose()


def test_retention_leaves_no_searchable_text_and_keeps_the_numbers(client: TestClient) -> None:
    old = [interaction(n) for n in range(6)]  # 2 March 2026
    recent = [
        json.loads(json.dumps(interaction(n)).replace("2026-03-02", "2026-04-20"))
        for n in range(6, 9)
    ]
    for rec in recent:
        rec["id"] = f"r-{rec['id']}"
    r = client.post("/api/v1/ingest", json={"interactions": old + recent})
    assert r.status_code == 200, r.text
    march = {
        "deployment": "care-bot",
        "metric": "containment_rate",
        "start": "2026-03-01",
        "end": "2026-03-03",
    }
    before = client.get("/api/v1/metrics", params=march).json()
    assert before[0]["n"] == 6
    search = {"deployment": "care-bot", "q": "charged twice", "start": "2026-03-01"}
    assert client.get("/api/v1/interactions", params=search).json()["total"] == 9
    ledger: Ledger = client.app.state.ledger  # type: ignore[attr-defined]
    events: EventStore = client.app.state.events  # type: ignore[attr-defined]
    policies.set_policy(ledger, "care-bot", text_retention_days=10)
    now = datetime(2026, 4, 25, tzinfo=UTC)
    (result,) = policies.apply_retention(ledger, events, now=now)
    assert (result.texts_cleared, result.interactions_deleted) == (24, 0)
    assert client.get("/api/v1/interactions", params=search).json()["total"] == 3
    policies.set_policy(ledger, "care-bot", interaction_retention_days=20)
    (result,) = policies.apply_retention(ledger, events, now=now)
    assert result.interactions_deleted == 6
    assert client.get("/api/v1/interactions", params=search).json()["total"] == 3
    # The raw March conversations are gone; their numbers are not.
    assert events.count("interactions", "care-bot") == 3
    assert client.get("/api/v1/metrics", params=march).json() == before
