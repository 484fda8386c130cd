"""The audit log: every write is recorded (who, what, when, from where, before -> after), and
the hash chain names an edited, deleted or reordered entry."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, update

from daytwo.cli.main import run
from daytwo.governance import accounts, audit, keys
from daytwo.governance.models import AuditEntry, KeyScope, Role
from daytwo.settings import Settings
from daytwo.store.events import EventStore
from daytwo.store.events.base import AuditCount
from daytwo.store.events.staging import STAGED
from daytwo.store.ledger import Ledger, upgrade
from tests.factory import interaction

PASSWORD = "correct horse battery staple"


def filled_ledger(settings: Settings) -> Ledger:
    upgrade(settings.resolved_ledger_url)
    ledger = Ledger(settings.resolved_ledger_url)
    accounts.create_user(ledger, "vera", PASSWORD, Role.viewer, grants=("care-bot",))
    accounts.set_grants(ledger, "vera", add=("hr-bot",), actor="user:root", ip="10.0.0.7")
    _, key = keys.create_key(ledger, scope=KeyScope.ingest, deployment="care-bot")
    keys.revoke_key(ledger, key.prefix)
    accounts.update_user(ledger, "vera", role=Role.analyst)
    return ledger


def test_changes_are_recorded_with_before_and_after(settings: Settings) -> None:
    ledger = filled_ledger(settings)
    rows = list(reversed(audit.entries(ledger)))
    assert [r.action for r in rows] == [
        "user.create",
        "user.grants",
        "key.create",
        "key.revoke",
        "user.update",
    ]
    grants = rows[1]
    assert (grants.actor, grants.ip, grants.target) == ("user:root", "10.0.0.7", "vera")
    assert grants.before == {"grants": ["care-bot"]}
    assert grants.after == {"grants": ["care-bot", "hr-bot"]}
    assert rows[4].before == {"role": "viewer", "active": True}
    assert rows[4].after == {"role": "analyst", "active": True}
    assert audit.verify(ledger).ok
    ledger.dispose()


def test_every_http_write_is_recorded_with_who_and_where(client: TestClient) -> None:
    r = client.post("/api/v1/ingest", json={"interactions": [interaction(1)]})
    assert r.status_code == 200
    client.post("/api/v1/deployments", json={"name": "x", "kind": "nonsense"})
    ledger: Ledger = client.app.state.ledger  # type: ignore[attr-defined]
    http = [e for e in audit.entries(ledger) if e.action.startswith("http.")]
    assert [(e.target, e.after["status"] if e.after else None) for e in http] == [
        ("/api/v1/deployments", 422),
        ("/api/v1/ingest", 200),
    ]
    assert all(e.actor.startswith("key:") and e.ip == "testclient" for e in http)
    assert http[1].deployment is None


def _breaks(ledger: Ledger) -> list[tuple[int, str]]:
    return [(b.entry_id, b.problem) for b in audit.verify(ledger).breaks]


def test_an_edited_entry_is_named(settings: Settings) -> None:
    ledger = filled_ledger(settings)
    with ledger.session() as s:
        s.execute(update(AuditEntry).where(AuditEntry.id == 2).values(actor="user:someone"))
    assert _breaks(ledger) == [(2, "edited")]
    ledger.dispose()


def test_an_edit_with_a_recomputed_hash_is_caught_by_the_next_entry(settings: Settings) -> None:
    ledger = filled_ledger(settings)
    with ledger.session() as s:
        entry = s.get(AuditEntry, 3)
        assert entry is not None
        entry.target = "forged"
        entry.hash = audit.entry_hash(entry.prev_hash, entry)
    assert _breaks(ledger) == [(4, "edited")]
    ledger.dispose()


def test_a_deleted_entry_is_named(settings: Settings) -> None:
    ledger = filled_ledger(settings)
    with ledger.session() as s:
        s.execute(delete(AuditEntry).where(AuditEntry.id == 3))
    result = audit.verify(ledger)
    assert [(b.entry_id, b.problem) for b in result.breaks] == [(4, "deleted")]
    assert "entries 3 before entry 4 are missing" in result.breaks[0].message
    ledger.dispose()


def test_deleted_newest_entries_are_caught_against_a_recorded_head(
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DAYTWO_DATA_DIR", str(settings.data_dir))
    ledger = filled_ledger(settings)
    assert run(["audit", "verify"]) == 0
    printed = capsys.readouterr().out
    head = next(w for w in printed.split() if ":" in w and len(w.partition(":")[2]) == 64)
    assert run(["audit", "verify", "--head", head]) == 0
    last = int(head.partition(":")[0])
    with ledger.session() as s:  # cut the newest two entries: the rest still chains
        s.execute(delete(AuditEntry).where(AuditEntry.id >= last - 1))
    assert audit.verify(ledger).ok
    assert run(["audit", "verify", "--head", head]) == 1
    assert f"entry {last} deleted" in capsys.readouterr().err
    ledger.dispose()
    assert run(["audit", "verify", "--head", "7:nothex"]) != 0


def test_reordered_entries_are_named(settings: Settings) -> None:
    ledger = filled_ledger(settings)
    # Swap entries 2 and 3 wholesale (contents and hashes), keeping the ids in place.
    with ledger.session() as s:
        two, three = (s.get(AuditEntry, i) for i in (2, 3))
        assert two is not None
        assert three is not None
        fields = ("at", "actor", "action", "target", "deployment", "ip", "before", "after")
        saved = {f: getattr(two, f) for f in (*fields, "prev_hash", "hash")}
        for f in (*fields, "prev_hash"):
            setattr(two, f, getattr(three, f))
        two.hash = "x" * 64  # unique constraint: park the hash while swapping
        s.flush()
        three_hash = three.hash
        for f in (*fields, "prev_hash"):
            setattr(three, f, saved[f])
        three.hash = saved["hash"]
        s.flush()
        two.hash = three_hash
    problems = _breaks(ledger)
    assert (2, "reordered") in problems
    assert {entry for entry, _ in problems} >= {2, 3}
    ledger.dispose()


def test_audit_verify_command_says_which_entry(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DAYTWO_DATA_DIR", str(settings.data_dir))
    ledger = filled_ledger(settings)
    assert run(["audit", "verify"]) == 0
    with ledger.session() as s:
        s.execute(update(AuditEntry).where(AuditEntry.id == 5).values(after={"role": "admin"}))
    ledger.dispose()
    assert run(["audit", "verify"]) == 1
    assert "entry 5 edited" in capsys.readouterr().err


def test_registering_a_deployment_from_the_shell_is_audited(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAYTWO_DATA_DIR", str(settings.data_dir))
    assert run(["deployments", "add", "care-bot", "--kind", "virtual_agent"]) == 0
    ledger = Ledger(settings.resolved_ledger_url)
    (entry,) = audit.entries(ledger)
    assert (entry.action, entry.target, entry.actor[:3]) == ("deployment.create", "care-bot", "cli")
    assert entry.after is not None
    assert entry.after["kind"] == "virtual_agent"
    ledger.dispose()


def test_concurrent_writers_keep_one_chain(ledger_url: str) -> None:
    """Eight threads append at once, on SQLite and PostgreSQL: no fork, no lost entry."""
    import threading

    upgrade(ledger_url)
    ledger = Ledger(ledger_url)
    failures: list[BaseException] = []
    start = threading.Barrier(8)

    def writer(n: int) -> None:
        try:
            start.wait()
            for i in range(10):
                with ledger.session() as session:
                    audit.record(session, actor=f"t{n}", action="test.write", target=str(i))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert failures == []
    result = audit.verify(ledger)
    assert (result.entries, result.breaks) == (80, [])
    ledger.dispose()


def test_the_audit_page_filters_and_reports_a_broken_chain(client: TestClient) -> None:
    ledger: Ledger = client.app.state.ledger  # type: ignore[attr-defined]
    accounts.create_user(ledger, "vera", PASSWORD, Role.viewer, grants=("care-bot",))
    accounts.set_grants(ledger, "vera", add=("hr-bot",), actor="user:root")
    page = client.get("/audit", params={"action": "user.grants"})
    assert page.status_code == 200
    assert "user.grants" in page.text
    assert "user.create" not in page.text
    assert "Chain intact" not in page.text  # verifying is on request
    assert "Chain intact" in client.get("/audit", params={"verify": 1}).text
    with ledger.session() as s:
        s.execute(delete(AuditEntry).where(AuditEntry.id == 1))
    broken = client.get("/audit", params={"verify": 1}).text
    assert "Chain broken" in broken
    assert "entry 2 deleted" in broken


def _count(n: int, actor: str = "key:care", status: int = 200) -> AuditCount:
    return AuditCount(actor, "http.post", "/v1/traces", None, "10.0.0.1", status, "/v1/traces", n)


def test_counts_staged_with_their_rows_fold_into_the_chain_once(
    ledger_url: str, events: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Audit counts committed with staged rows become one entry per caller in the hash chain,
    on SQLite and PostgreSQL; a fold killed after the ledger's commit (its counts still
    staged) is not folded twice by the next one, which only removes them."""
    ledger = Ledger(ledger_url)
    try:
        empty = STAGED.empty_table()
        events.stage(empty, [_count(1)])
        events.stage(empty, [_count(2), _count(1, actor="key:other")])
        assert events.staged_audit()["requests"].to_pylist() == [1, 2, 1]
        # The events store is kept, the ledger's commit is not followed by the removal.
        with monkeypatch.context() as patched:
            patched.setattr(type(events), "unstage_audit", lambda self, upto: 0)
            assert audit.fold_staged_audit(ledger, events) == 4
        assert events.staged_audit().num_rows == 3
        assert audit.fold_staged_audit(ledger, events) == 0  # the next start: removed only
        assert events.staged_audit().num_rows == 0
        events.stage(empty, [_count(5)])
        assert audit.fold_staged_audit(ledger, events) == 5
        entries = sorted(audit.entries(ledger), key=lambda e: e.id)
        assert [(e.actor, e.after["requests"]) for e in entries if e.after] == [
            ("key:care", 3),
            ("key:other", 1),
            ("key:care", 5),
        ]
        assert all(e.after and e.after["status"] == 200 for e in entries)
        ups = [e.after[audit.FOLDED] for e in entries if e.after]
        assert ups[0] == ups[1] < ups[2]
        result = audit.verify(ledger)
        assert (result.entries, result.breaks) == (3, [])
    finally:
        ledger.dispose()


def test_audit_verify_folds_the_counts_a_killed_server_left(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Counts staged by a server that was killed and never started again are in the chain
    once `daytwo audit verify` ran, and a second run finds nothing more to fold."""
    from daytwo.store.events import open_event_store

    monkeypatch.setenv("DAYTWO_DATA_DIR", str(settings.data_dir))
    filled_ledger(settings).dispose()
    with open_event_store(settings.resolved_events_url) as events:
        events.stage(STAGED.empty_table(), [_count(2), _count(1, actor="key:other")])
    assert run(["audit", "verify"]) == 0
    said = capsys.readouterr().out
    assert "folded 3 trace request(s)" in said
    assert "audit log intact: 7 entries" in said
    assert run(["audit", "verify"]) == 0
    said = capsys.readouterr().out
    assert "folded" not in said
    assert "audit log intact: 7 entries" in said
    ledger = Ledger(settings.resolved_ledger_url)
    try:
        folded = [e for e in audit.entries(ledger) if e.target == "/v1/traces"]
        assert sorted((e.actor, e.after["requests"]) for e in folded if e.after) == [
            ("key:care", 2),
            ("key:other", 1),
        ]
    finally:
        ledger.dispose()
