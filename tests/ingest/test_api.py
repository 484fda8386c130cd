"""`POST /api/v1/ingest`: every bad-input class is named precisely and stores nothing."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from daytwo.store.events import EventStore
from tests.factory import interaction, ndjson

NDJSON = {"content-type": "application/x-ndjson"}


def counts(client: TestClient) -> dict[str, int]:
    store: EventStore = client.app.state.events  # type: ignore[attr-defined]
    return {t: store.count(t) for t in ("interactions", "turns", "assist_events")}


def post(client: TestClient, records: list[dict[str, Any]], **params: Any) -> Any:
    return client.post("/api/v1/ingest", json={"interactions": records}, params=params)


def test_json_batch_is_stored_and_counted(client: TestClient) -> None:
    records = [interaction(i) for i in range(5)]
    r = post(client, records)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["received"] == 5
    assert body["accepted"] == 5
    assert body["inserted"] == 5
    assert body["replaced"] == 0
    assert body["turns"] == 20
    assert counts(client) == {"interactions": 5, "turns": 20, "assist_events": 0}


def test_ndjson_batch_is_stored(client: TestClient) -> None:
    records = [interaction(i, turns=3) for i in range(4)]
    r = client.post("/api/v1/ingest", content=ndjson(records), headers=NDJSON)
    assert r.status_code == 200, r.text
    assert counts(client)["turns"] == 12


def test_resending_a_batch_changes_no_count(client: TestClient) -> None:
    records = [interaction(i) for i in range(10)]
    assert post(client, records).status_code == 200
    before = counts(client)
    again = post(client, records).json()
    assert again["inserted"] == 0
    assert again["replaced"] == 10
    assert counts(client) == before


def test_later_copy_replaces_earlier_one_turns_included(client: TestClient) -> None:
    post(client, [interaction(1, turns=6)])
    post(client, [interaction(1, turns=2, outcome="contained")])
    store: EventStore = client.app.state.events  # type: ignore[attr-defined]
    assert store.count("turns") == 2
    row = store.query("SELECT outcome, n_turns FROM interactions").to_pylist()
    assert row == [{"outcome": "contained", "n_turns": 2}]


def test_unknown_keys_are_kept_in_attributes(client: TestClient) -> None:
    rec = interaction(1, crm_case="CASE-9", priority=2)
    rec["turns"][1]["rag_sources"] = ["kb-12", "kb-40"]
    assert post(client, [rec]).status_code == 200
    store: EventStore = client.app.state.events  # type: ignore[attr-defined]
    attrs = store.query("SELECT attributes FROM interactions")["attributes"][0].as_py()
    assert orjson.loads(attrs) == {"crm_case": "CASE-9", "priority": 2}
    turn_attrs = store.query("SELECT attributes FROM turns WHERE seq = 1")["attributes"]
    assert orjson.loads(turn_attrs[0].as_py()) == {"rag_sources": ["kb-12", "kb-40"]}


def _one_error(r: Any) -> list[dict[str, Any]]:
    assert r.status_code == 422, r.text
    body = r.json()["error"]
    assert body["code"] == "invalid_records"
    errors: list[dict[str, Any]] = body["errors"]
    assert errors
    return errors


BAD_RECORDS: list[tuple[str, dict[str, Any], str, str]] = [
    ("wrong type", {"csat": "high"}, "csat", "number"),
    ("wrong type nested", {"turns": [{"seq": "first", "role": "user"}]}, "turns.0.seq", "integer"),
    ("missing required id", {"id": None}, "id", ""),
    ("missing required started_at", {"started_at": None}, "started_at", ""),
    ("unknown outcome", {"outcome": "solved"}, "outcome", "must be one of"),
    ("naive timestamp", {"started_at": "2026-03-02T09:14:05"}, "started_at", "timezone"),
    (
        "out of range timestamp",
        {"started_at": "1999-12-31T23:00:00Z"},
        "started_at",
        "out of range",
    ),
    ("future timestamp", {"started_at": "2099-01-01T00:00:00Z"}, "started_at", "out of range"),
    ("invalid date", {"started_at": "2026-13-02T09:14:05Z"}, "started_at", "valid"),
    (
        "repeated seq",
        {"turns": [{"seq": 0, "role": "user"}, {"seq": 0, "role": "assistant"}]},
        "turns.1.seq",
        "repeats",
    ),
    ("unknown role", {"turns": [{"seq": 0, "role": "bot"}]}, "turns.0.role", "must be one of"),
    (
        "confidence out of range",
        {"turns": [{"seq": 0, "role": "assistant", "confidence": 1.7}]},
        "turns.0.confidence",
        "between 0 and 1",
    ),
    ("ended before started", {"ended_at": "2026-03-02T09:00:00Z"}, "ended_at", "before"),
    ("bad deployment name", {"deployment": "care bot!"}, "deployment", "letters"),
    (
        "unknown assist action",
        {"assist_events": [{"action": "liked"}]},
        "assist_events.0.action",
        "must be one of",
    ),
]


@pytest.mark.parametrize(
    ("case", "change", "field", "fragment"), BAD_RECORDS, ids=[c[0] for c in BAD_RECORDS]
)
def test_bad_record_names_record_and_field_and_stores_nothing(
    client: TestClient, case: str, change: dict[str, Any], field: str, fragment: str
) -> None:
    good = [interaction(i) for i in range(3)]
    bad = interaction(3)
    for key, value in change.items():
        if value is None:
            bad.pop(key)
        else:
            bad[key] = value
    errors = _one_error(post(client, [*good, bad]))
    assert {e["index"] for e in errors} == {3}, case
    assert any(e["field"] == field for e in errors), errors
    assert any(fragment.lower() in e["message"].lower() for e in errors if e["field"] == field)
    assert counts(client) == {"interactions": 0, "turns": 0, "assist_events": 0}


def test_duplicate_ids_in_one_batch_are_rejected(client: TestClient) -> None:
    errors = _one_error(post(client, [interaction(1), interaction(2), interaction(1)]))
    assert {(e["index"], e["field"]) for e in errors} >= {(0, "id"), (2, "id")}
    assert counts(client)["interactions"] == 0


def test_malformed_json_body_is_a_clear_400(client: TestClient) -> None:
    r = client.post(
        "/api/v1/ingest",
        content=b'{"interactions": [',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400
    assert "not valid JSON" in r.json()["error"]["message"]


def test_malformed_ndjson_line_is_named(client: TestClient) -> None:
    body = ndjson([interaction(0)]) + b'{"id": "x", oops\n' + ndjson([interaction(2)])
    errors = _one_error(client.post("/api/v1/ingest", content=body, headers=NDJSON))
    assert [(e["index"], e["field"]) for e in errors] == [(1, "(record)")]
    assert "not valid JSON" in errors[0]["message"]
    assert counts(client)["interactions"] == 0


def test_non_utf8_bytes_are_named(client: TestClient) -> None:
    body = ndjson([interaction(0)]) + b'{"id": "\xff\xfe", "deployment": "d"}\n'
    errors = _one_error(client.post("/api/v1/ingest", content=body, headers=NDJSON))
    assert errors[0]["index"] == 1
    assert "UTF-8" in errors[0]["message"]


def test_non_utf8_json_body_is_rejected(client: TestClient) -> None:
    r = client.post(
        "/api/v1/ingest",
        content=b'{"interactions": ["\xff"]}',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400
    assert counts(client)["interactions"] == 0


def test_oversized_body_is_413(client: TestClient) -> None:
    limit = client.app.state.settings.ingest_max_bytes  # type: ignore[attr-defined]
    big = interaction(0, notes="x" * (limit + 10))
    r = post(client, [big])
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"
    assert counts(client)["interactions"] == 0


def test_too_many_interactions_is_413(client: TestClient) -> None:
    client.app.state.settings.ingest_max_interactions = 10  # type: ignore[attr-defined]
    r = post(client, [interaction(i, turns=1) for i in range(11)])
    assert r.status_code == 413
    assert "limit is 10" in r.json()["error"]["message"]


def test_empty_body_is_400(client: TestClient) -> None:
    r = client.post("/api/v1/ingest", content=b"  ", headers=NDJSON)
    assert r.status_code == 400


def test_partial_stores_valid_records_and_reports_the_rest(client: TestClient) -> None:
    records = [interaction(0), interaction(1, outcome="solved"), interaction(2)]
    r = post(client, records, partial="true")
    assert r.status_code == 200
    body = r.json()
    assert (body["accepted"], body["rejected"]) == (2, 1)
    assert body["errors"] == [
        {"index": 1, "id": "c-000001", "field": "outcome", "message": body["errors"][0]["message"]}
    ]
    assert counts(client)["interactions"] == 2
    assert counts(client)["turns"] == 8


def test_error_shape_is_the_same_for_unknown_routes(client: TestClient) -> None:
    r = client.get("/api/v1/nothing-here")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
