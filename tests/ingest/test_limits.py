"""The limits of one interaction on every door: HTTP JSON, HTTP NDJSON, `daytwo import`, SDK.

A record nested deeper than the limit is refused by name before any parser sees it (a line of
14 KB nested 7,000 levels deep used to kill the process inside Arrow's JSON reader), and an
interaction of 10 MB or 50,000 turns is stored whole (it used to fail with "straddling object
straddles two block boundaries").
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from daytwo.governance.keys import create_key
from daytwo.governance.models import KeyScope
from daytwo.ingest.decode import decode_json, decode_ndjson
from daytwo.ingest.files import import_file
from daytwo.ingest.limits import MAX_DEPTH, MAX_RECORD_BYTES, deep_lines, find_too_deep
from daytwo.sdk import Client, UndeliveredRecord
from daytwo.settings import Settings
from daytwo.store.events import open_event_store
from tests.factory import interaction, ndjson

NDJSON = {"content-type": "application/x-ndjson"}
LARGE_TURNS = 50_000


def deep(n: int, levels: int) -> dict[str, Any]:
    """A valid interaction whose one extra attribute nests ``levels`` lists deep."""
    value: Any = []
    for _ in range(levels - 2):  # the record and its key are the first levels
        value = [value]
    return interaction(n, turns=2, payload=value)


def deep_line(n: int, levels: int) -> bytes:
    """The same as NDJSON text, built as bytes: orjson will not serialise 7,000 levels."""
    head = orjson.dumps(interaction(n, turns=2))[:-1]
    return head + b',"payload":' + b"[" * (levels - 1) + b"]" * (levels - 1) + b"}"


def large(n: int) -> dict[str, Any]:
    """An interaction of 50,000 turns and over 10 MB."""
    rec = interaction(n, turns=LARGE_TURNS)
    for turn in rec["turns"]:
        turn["text"] = (turn["text"] + " ") * 6
    return rec


def test_the_depth_scan_sees_through_strings_and_escapes() -> None:
    fine = orjson.dumps(interaction(0))
    brackets_in_text = orjson.dumps(interaction(1, note="[" * 500 + '\\"' + "{" * 100))
    escaped = b'{"id": "x\\\\", "a": ' + b"[" * 70 + b"]" * 70 + b"}"
    assert deep_lines(b"\n".join([fine, brackets_in_text, deep_line(2, 65), escaped])) == {2, 3}
    assert deep_lines(deep_line(0, MAX_DEPTH)) == set()
    # An unbalanced line does not lower the next line's depth.
    assert deep_lines(b"]" * 500 + b"\n" + deep_line(1, 100)) == {1}


def test_a_json_body_names_its_deep_record() -> None:
    records = [orjson.loads(orjson.dumps(interaction(i))) for i in range(3)]
    body = b'{"interactions": [' + b",".join(orjson.dumps(r) for r in records)
    body += b"," + deep_line(3, 7000) + b"]}"
    found = find_too_deep(body)
    assert found is not None
    assert (found.index, found.records) == (3, 4)
    assert find_too_deep(orjson.dumps({"interactions": records})) is None
    assert find_too_deep(orjson.dumps(deep(0, MAX_DEPTH))) is None


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 1000, 7000])
def test_ndjson_too_deep_is_a_named_error_and_the_rest_decodes(levels: int) -> None:
    data = ndjson([interaction(0)]) + deep_line(1, levels) + b"\n" + ndjson([interaction(2)])
    decoded = decode_ndjson(data)
    assert decoded.batch.interactions["_record"].to_pylist() == [0, 2]
    [error] = decoded.errors
    assert (error.index, error.id, error.field) == (1, "c-000001", "(record)")
    assert f"deeper than {MAX_DEPTH} levels" in error.message


def test_http_json_too_deep_is_422_and_the_server_keeps_serving(client: TestClient) -> None:
    body = b'{"interactions": [' + orjson.dumps(interaction(0)) + b"," + deep_line(1, 7000)
    r = client.post(
        "/api/v1/ingest", content=body + b"]}", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422, r.text
    [error] = r.json()["error"]["errors"]
    assert error["index"] == 1
    assert f"deeper than {MAX_DEPTH} levels" in error["message"]
    # A record deep enough for the JSON parser but over the limit is named the same way.
    r = client.post("/api/v1/ingest", json={"interactions": [interaction(0), deep(1, 100)]})
    assert r.status_code == 422, r.text
    assert [e["index"] for e in r.json()["error"]["errors"]] == [1]
    assert client.get("/healthz").status_code == 200
    assert client.app.state.events.count("interactions") == 0  # type: ignore[attr-defined]


def test_http_ndjson_too_deep_partial_stores_the_rest(client: TestClient) -> None:
    body = ndjson([interaction(0)]) + deep_line(1, 7000) + b"\n" + ndjson([interaction(2)])
    r = client.post("/api/v1/ingest", content=body, headers=NDJSON)
    assert r.status_code == 422, r.text
    r = client.post("/api/v1/ingest", content=body, headers=NDJSON, params={"partial": "true"})
    assert r.status_code == 200, r.text
    result = r.json()
    assert (result["accepted"], result["rejected"]) == (2, 1)
    assert result["errors"][0]["index"] == 1
    assert client.app.state.events.count("interactions") == 2  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def large_record() -> dict[str, Any]:
    return large(7)


def _stored_whole(store: Any, rec: dict[str, Any]) -> None:
    row = store.query(
        "SELECT n_turns, (SELECT count(*) FROM turns WHERE interaction_id = ?) AS turns "
        "FROM interactions WHERE interaction_id = ?",
        [rec["id"], rec["id"]],
    ).to_pylist()
    assert row == [{"n_turns": LARGE_TURNS, "turns": LARGE_TURNS}]


@pytest.mark.parametrize("door", ["json", "ndjson"])
def test_http_takes_a_10_mb_interaction_of_50000_turns(
    client: TestClient, large_record: dict[str, Any], door: str
) -> None:
    line = orjson.dumps(large_record)
    assert len(line) > 10 * 1024 * 1024
    if door == "json":
        r = client.post("/api/v1/ingest", content=b'{"interactions": [' + line + b"]}")
    else:
        r = client.post("/api/v1/ingest", content=line + b"\n", headers=NDJSON)
    assert r.status_code == 200, r.text[:500]
    assert r.json()["turns"] == LARGE_TURNS
    _stored_whole(client.app.state.events, large_record)  # type: ignore[attr-defined]


def test_a_record_over_the_size_limit_is_named() -> None:
    huge = interaction(1, turns=1)
    huge["turns"][0]["text"] = "x" * (MAX_RECORD_BYTES + 10)
    decoded = decode_ndjson(ndjson([interaction(0), huge, interaction(2)]))
    [error] = decoded.errors
    assert (error.index, error.id) == (1, "c-000001")
    assert f"at most {MAX_RECORD_BYTES:,} bytes" in error.message
    assert decoded.batch.n_records == 2
    [error] = decode_json(orjson.dumps([huge])).errors
    assert "at most" in error.message


def test_import_refuses_deep_and_huge_lines_and_goes_on(
    tmp_path: Path, large_record: dict[str, Any]
) -> None:
    path = tmp_path / "hostile.jsonl"
    with path.open("wb") as f:
        f.write(ndjson([interaction(0)]))
        f.write(deep_line(1, 7000) + b"\n")
        f.write(orjson.dumps(large_record) + b"\n")
        f.write(b'{"id": "endless", "text": "' + b"y" * (MAX_RECORD_BYTES + 5 * 1024 * 1024))
        f.write(b'"}\n' + ndjson([interaction(4)]))
    rejects = tmp_path / "rejects.jsonl"
    with open_event_store(f"duckdb:///{tmp_path / 'events.duckdb'}") as store:
        summary = import_file(store, path, rejects=rejects, chunk_bytes=4 * 1024 * 1024)
        _stored_whole(store, large_record)
        assert store.count("interactions") == 3
    assert (summary.records, summary.accepted, summary.rejected) == (5, 3, 2)
    refused = [orjson.loads(line) for line in rejects.read_bytes().splitlines()]
    assert [r["index"] for r in refused] == [1, 3]
    assert "deeper than" in refused[0]["errors"][0]["message"]
    assert "at most" in refused[1]["errors"][0]["message"]
    assert len(refused[1]["record"]) < 10_000  # the rejects file keeps the head of a huge line


def test_daytwo_import_of_a_deep_line_exits_cleanly(tmp_path: Path) -> None:
    """The command as a user runs it, in its own process: it used to die with SIGSEGV (139)."""
    path = tmp_path / "deep.jsonl"
    path.write_bytes(ndjson([interaction(0)]) + deep_line(1, 7000) + b"\n")
    done = subprocess.run(
        [sys.executable, "-m", "daytwo", "import", str(path), "--quiet"],
        env={"DAYTWO_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "1 rejected" in done.stderr or "rejected" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.fixture
def sdk_client(served: tuple[str, FastAPI]) -> Iterator[tuple[Client, FastAPI, list[Any]]]:
    url, app = served
    undelivered: list[UndeliveredRecord] = []
    key, _ = create_key(app.state.ledger, scope=KeyScope.ingest, deployment="care-bot")
    client = Client(url, key, batch_size=10, on_error=undelivered.extend, backoff_base=0.01)
    yield client, app, undelivered
    client.close(timeout=5)


def test_sdk_reports_deep_records_once_and_delivers_a_large_one(
    sdk_client: tuple[Client, FastAPI, list[UndeliveredRecord]],
    large_record: dict[str, Any],
    settings: Settings,
) -> None:
    client, app, undelivered = sdk_client
    client.log(interaction(0))
    client.log(deep(1, 100))  # serialisable, refused by the server: reported, never retried
    client.log(deep(2, 7000))  # too deep to serialise at all: reported without a request
    client.log(large_record)
    assert client.close(timeout=60)
    stats = client.stats
    assert (stats.accepted, stats.rejected, stats.failed, stats.retries) == (2, 2, 0, 0)
    assert sorted((u.id, u.reason) for u in undelivered) == [
        ("c-000001", "invalid"),
        ("c-000002", "invalid"),
    ]
    _stored_whole(app.state.events, large_record)


@pytest.mark.parametrize("first", [b"null", b"  null", b"5", b'"text"', b"[]"])
def test_a_first_line_that_is_no_object_is_named(client: TestClient, first: bytes) -> None:
    """Arrow's reader crashed the process on a first line of `null`: no parser sees one."""
    body = first + b"\n" + ndjson([interaction(1)])
    r = client.post("/api/v1/ingest", content=body, headers=NDJSON, params={"partial": "true"})
    assert r.status_code == 200, r.text
    assert [(e["index"], e["message"]) for e in r.json()["errors"]] == [
        (0, "must be a JSON object")
    ]
    assert client.get("/healthz").status_code == 200


def test_records_with_keys_of_their_own_are_kept_without_arrow_inferring_them_all() -> None:
    """2,000 lines of 50 keys each of their own (a 2 MB body) took Arrow 13 s and 2.8 GB as one
    read, and the reshaping minutes more: now they go in groups or by the exact path."""
    lines = []
    for i in range(2000):
        rec = interaction(i, turns=1)
        for k in range(50 if i % 2 else 5):
            rec[f"u{i}_{k}"] = k
        lines.append(orjson.dumps(rec))
    started = time.perf_counter()
    decoded = decode_ndjson(b"\n".join(lines))
    assert time.perf_counter() - started < 120
    assert decoded.errors == []
    attributes = decoded.batch.interactions["attributes"].to_pylist()
    assert orjson.loads(attributes[0]) == {f"u0_{k}": k for k in range(5)}
    assert orjson.loads(attributes[1]) == {f"u1_{k}": k for k in range(50)}
