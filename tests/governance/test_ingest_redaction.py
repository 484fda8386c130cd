"""Redaction on the one ingest path: the API, file import and the demo store placeholders, and
the original text is nowhere: not in the events, the ledger, the logs or an error message."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from daytwo.cli.main import run
from daytwo.governance import CustomPattern, PiiKind, RedactionPolicy, audit, policies
from daytwo.governance.plan import RedactionPlan
from daytwo.ingest.decode import decode_ndjson
from daytwo.ingest.files import import_file
from daytwo.ingest.service import prepare
from daytwo.settings import Settings
from daytwo.store.events import EventStore, open_event_store
from daytwo.store.ledger import Ledger
from tests.factory import interaction

SECRETS = ("jane.doe@example.com", "4111 1111 1111 1111", "+44 20 7946 0958", "EMP-884422")


def with_pii(n: int, deployment: str = "care-bot") -> dict[str, Any]:
    rec = interaction(n, deployment=deployment)
    rec["turns"][0]["text"] = (
        f"I'm {SECRETS[0]}, card {SECRETS[1]}, call {SECRETS[2]}, staff id {SECRETS[3]}"
    )
    rec["turns"][1]["error"] = f"lookup failed for {SECRETS[0]}"
    rec["turns"][2]["ticket_note"] = f"customer phone {SECRETS[2]}"  # an unknown key
    rec["customer_email"] = SECRETS[0]  # an unknown interaction key
    return rec


def stored_strings(store: EventStore) -> str:
    parts = []
    for table in ("interactions", "turns", "assist_events"):
        rows = store.query(f"SELECT * FROM {table}")
        parts.append(orjson.dumps(rows.to_pylist(), default=str).decode())
    return "\n".join(parts)


def test_api_stores_placeholders_and_counts(client: TestClient) -> None:
    r = client.post("/api/v1/ingest", json={"interactions": [with_pii(1), with_pii(2)]})
    assert r.status_code == 200, r.text
    assert r.json()["redacted"] == {"card": 2, "email": 6, "phone": 4}
    store: EventStore = client.app.state.events  # type: ignore[attr-defined]
    text = store.query("SELECT text FROM turns WHERE seq = 0 ORDER BY interaction_id")
    assert (
        text["text"].to_pylist()
        == ["I'm <EMAIL>, card <CARD>, call <PHONE>, staff id EMP-884422"] * 2
    )
    everything = stored_strings(store)
    for secret in SECRETS[:3]:
        assert secret not in everything


def test_original_text_is_nowhere_after_ingest(
    client: TestClient, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    good = with_pii(1)
    bad = with_pii(2)
    bad["turns"][0]["seq"] = "not a number"
    r = client.post("/api/v1/ingest", json={"interactions": [good, bad]})
    assert r.status_code == 422
    r2 = client.post("/api/v1/ingest", json={"interactions": [good, bad]}, params={"partial": 1})
    assert r2.status_code == 200
    r3 = client.post("/api/v1/ingest", content=b"{" + SECRETS[0].encode(), headers={})
    assert r3.status_code == 400
    bodies = r.text + r2.text + r3.text
    client.app.state.events.close()  # type: ignore[attr-defined]
    client.app.state.ledger.dispose()  # type: ignore[attr-defined]
    files = b"".join(p.read_bytes() for p in Path(settings.data_dir).rglob("*") if p.is_file())
    for secret in SECRETS[:3]:
        assert secret not in bodies
        assert secret not in caplog.text
        assert secret.encode() not in files


def test_file_import_redacts_under_each_deployments_policy(
    tmp_path: Path, events: EventStore
) -> None:
    path = tmp_path / "export.jsonl"
    path.write_bytes(
        b"\n".join(orjson.dumps(r) for r in [with_pii(1, "care-bot"), with_pii(2, "hr-bot")])
    )
    plan = RedactionPlan.from_policies(
        {
            "hr-bot": RedactionPolicy(
                kinds=frozenset({PiiKind.EMAIL}),
                custom_patterns=(CustomPattern(name="staff", pattern=r"EMP-[0-9]{6}"),),
            )
        }
    )
    summary = import_file(events, path, redaction=plan)
    assert summary.accepted == 2
    assert summary.redacted == {"card": 1, "custom:staff": 1, "email": 6, "phone": 2}
    rows = events.query("SELECT deployment, text FROM turns WHERE seq = 0 ORDER BY deployment")
    assert rows.to_pylist() == [
        {
            "deployment": "care-bot",
            "text": "I'm <EMAIL>, card <CARD>, call <PHONE>, staff id EMP-884422",
        },
        {
            "deployment": "hr-bot",
            "text": f"I'm <EMAIL>, card {SECRETS[1]}, call {SECRETS[2]}, staff id <CUSTOM:STAFF>",
        },
    ]


def test_prepare_redacts_even_without_a_plan() -> None:
    decoded = decode_ndjson(orjson.dumps(with_pii(1)))
    prepared = prepare(decoded)
    texts = prepared.batch.turns["text"].to_pylist()
    assert all(SECRETS[0] not in (t or "") for t in texts)
    assert prepared.redacted["email"] == 3
    attributes = pa.concat_arrays(
        [
            prepared.batch.interactions["attributes"].combine_chunks(),
            prepared.batch.turns["attributes"].combine_chunks(),
        ]
    ).to_pylist()
    assert any("<EMAIL>" in (a or "") for a in attributes)
    assert not any(SECRETS[0] in (a or "") for a in attributes)


def test_import_command_applies_each_deployments_policy_from_the_ledger(
    tmp_path: Path,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DAYTWO_DATA_DIR", str(settings.data_dir))
    assert (
        run(["redaction", "set", "hr-bot", "--kinds", "email", "--pattern", r"staff=EMP-\d{6}"])
        == 0
    )
    assert "hr-bot: redacts email, custom:staff" in capsys.readouterr().out
    assert run(["redaction", "set", "x", "--pattern", "bad=(a+)+"]) == 2
    path = tmp_path / "export.jsonl"
    path.write_bytes(
        b"\n".join(orjson.dumps(r) for r in [with_pii(1, "care-bot"), with_pii(2, "hr-bot")])
    )
    assert run(["import", str(path), "--quiet"]) == 0
    assert "PII redacted: 1 card, 1 custom:staff, 6 email, 2 phone" in capsys.readouterr().out
    with open_event_store(settings.resolved_events_url) as store:
        rows = store.query("SELECT deployment, text FROM turns WHERE seq = 0 ORDER BY 1")
    assert rows["text"].to_pylist() == [
        "I'm <EMAIL>, card <CARD>, call <PHONE>, staff id EMP-884422",
        f"I'm <EMAIL>, card {SECRETS[1]}, call {SECRETS[2]}, staff id <CUSTOM:STAFF>",
    ]
    ledger = Ledger(settings.resolved_ledger_url)
    assert [e.action for e in audit.entries(ledger)][:2] == ["import", "policy.update"]
    ledger.dispose()


def test_errors_that_quote_a_value_never_quote_pii(tmp_path: Path, events: EventStore) -> None:
    """A flat file's cell in the wrong column is quoted back, with its PII redacted."""
    path = tmp_path / "export.csv"
    path.write_text(
        "id,deployment,started_at,csat,turn.seq,role,text\n"
        f"a,bot,2026-03-02T09:00:00Z,{SECRETS[0]},0,user,hi\n"
        "b,bot,2026-03-02T09:00:00Z,4,0,user,hello\n",
        encoding="utf-8",
    )
    summary = import_file(events, path, rejects=None)
    assert (summary.accepted, summary.rejected) == (1, 1)
    (error,) = summary.first_errors
    assert error.field == "csat"
    assert "<EMAIL>" in error.message
    assert SECRETS[0] not in str(error)


def test_a_kept_plan_follows_every_policy_change(ledger_url: str) -> None:
    """The plan is built once while the policies stay as they are, and again after any
    change, one made through another connection to the ledger (another process) too."""
    ledger, other = Ledger(ledger_url), Ledger(ledger_url)
    try:
        plans = policies.RedactionPlans(ledger)
        first = plans.current()
        assert plans.current() is first
        assert plans.builds == 1
        assert first.redactor_for("care-bot").policy == RedactionPolicy()
        no_email = RedactionPolicy(kinds=frozenset({PiiKind.PHONE}))
        policies.set_policy(other, "care-bot", redaction=no_email)
        second = plans.current()
        assert plans.builds == 2
        assert second.redactor_for("care-bot").policy == no_email
        assert "a@b.io" in second.redactor_for("care-bot").redact("write to a@b.io").text
        policies.set_policy(other, "care-bot", text_retention_days=3)  # no redaction change
        assert plans.current().redactor_for("care-bot").policy == no_email
        policies.set_policy(other, "sales-bot", redaction=RedactionPolicy())  # a new policy
        assert "sales-bot" in plans.current().by_deployment
        assert plans.current() is plans.current()
    finally:
        ledger.dispose()
        other.dispose()


def _plans_app(settings: Settings, ledger_url: str, token: str) -> TestClient:
    """An app on ``ledger_url`` that admits an admin key and this machine's command line."""
    from daytwo.http import link
    from daytwo.server.app import create_app

    served = settings.model_copy(update={"ledger_url": ledger_url})
    return TestClient(create_app(served, local_token_hash=link.token_hash(token)))


def test_json_door_and_imports_keep_one_plan_until_a_policy_changes(
    settings: Settings, ledger_url: str, tmp_path: Path
) -> None:
    """The JSON ingest door and the imports the server runs apply the app's kept plan: built
    once for many requests, built again after a policy change made through another
    connection to the ledger (another process), whose redaction the next request applies."""
    token = "dtl_" + "k" * 40
    other = Ledger(ledger_url)
    path = tmp_path / "export.jsonl"
    path.write_bytes(orjson.dumps(with_pii(9)) + b"\n")
    try:
        with _plans_app(settings, ledger_url, token) as c:
            c.headers["authorization"] = f"Bearer {token}"
            plans: policies.KeptPlans = c.app.state.redaction_plans  # type: ignore[attr-defined]
            for n in (1, 2, 3):
                r = c.post("/api/v1/ingest", json={"interactions": [with_pii(n)]})
                assert r.status_code == 200, r.text
                assert r.json()["redacted"] == {"card": 1, "email": 3, "phone": 2}
            imported = c.post("/api/v1/imports", json={"path": str(path)})
            assert imported.status_code == 200, imported.text
            assert b'"summary"' in imported.content
            assert plans.builds == 1
            policies.set_policy(other, "care-bot", redaction=RedactionPolicy(kinds=frozenset()))
            r = c.post("/api/v1/ingest", json={"interactions": [with_pii(4)]})
            assert r.status_code == 200, r.text
            assert r.json()["redacted"] == {}
            assert plans.builds == 2
            path.write_bytes(orjson.dumps(with_pii(10)) + b"\n")
            again = c.post("/api/v1/imports", json={"path": str(path)})
            assert b'"summary"' in again.content
            assert plans.builds == 2
            store: EventStore = c.app.state.events  # type: ignore[attr-defined]
            text = store.query(
                "SELECT interaction_id, text FROM turns WHERE seq = 0 ORDER BY interaction_id"
            )
            stored = dict(zip(*(text[c].to_pylist() for c in text.column_names), strict=True))
        redacted = "I'm <EMAIL>, card <CARD>, call <PHONE>, staff id EMP-884422"
        assert [stored[interaction(n)["id"]] == redacted for n in (1, 2, 3, 9)] == [True] * 4
        assert SECRETS[0] in stored[interaction(4)["id"]]
        assert SECRETS[0] in stored[interaction(10)["id"]]
    finally:
        other.dispose()
