"""An acknowledged batch survives `kill -9` of a real server process, and so does the audit
line of an acknowledged trace request."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from sqlalchemy import select

from daytwo.governance.models import AuditEntry
from daytwo.ingest.otlp.decode import PROTOBUF
from daytwo.store.events import open_event_store
from daytwo.store.ledger import Ledger
from tests.factory import admin_key, interaction, ndjson


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DAYTWO_DATA_DIR": str(data_dir)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from daytwo.cli.main import main; main()",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    # The start's speed is benched elsewhere; here only durability is under test, so a loaded
    # machine gets time to import the server.
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            message = proc.stderr.read() if proc.stderr else b""
            if proc.stderr:
                proc.stderr.close()
            raise AssertionError(f"server exited: {message.decode(errors='replace')}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    proc.wait(timeout=10)
    if proc.stderr:
        proc.stderr.close()
    raise AssertionError("server did not start in 90 s")


def _one_span() -> bytes:
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.append(
        KeyValue(key="service.name", value=AnyValue(string_value="care-bot"))
    )
    span = rs.scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = b"\x01" * 16, b"\x02" * 8, "chat"
    span.start_time_unix_nano = time.time_ns() - 2 * 10**9
    span.end_time_unix_nano = time.time_ns() - 10**9
    for key, value in (
        ("gen_ai.operation.name", "chat"),
        ("gen_ai.conversation.id", "traced-1"),
        ("gen_ai.input.messages", '[{"role":"user","parts":[{"type":"text","content":"hi"}]}]'),
    ):
        span.attributes.append(KeyValue(key=key, value=AnyValue(string_value=value)))
    body: bytes = request.SerializeToString()
    return body


def test_acknowledged_batches_survive_kill_9(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    ledger_url = "sqlite:///" + str(data_dir / "ledger.sqlite")
    auth = {"authorization": f"Bearer {admin_key(ledger_url)}"}
    port = _free_port()
    proc = _start_server(data_dir, port)
    acknowledged = 0
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30, headers=auth) as client:
            for b in range(5):
                records = [interaction(b * 200 + i, turns=3) for i in range(200)]
                r = client.post(
                    "/api/v1/ingest",
                    content=ndjson(records),
                    headers={"content-type": "application/x-ndjson"},
                )
                assert r.status_code == 200, r.text
                acknowledged += r.json()["accepted"]
            # A trace request too: its spans and its audit line are committed before its answer.
            r = client.post("/v1/traces", content=_one_span(), headers={"content-type": PROTOBUF})
            assert r.status_code == 200, r.text
        # Kill right after the last answer: no shutdown hook, no checkpoint.
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        if proc.stderr:
            proc.stderr.close()
    assert acknowledged == 1000
    with open_event_store(f"duckdb:///{data_dir / 'events.duckdb'}") as store:
        assert store.count("interactions") == acknowledged
        assert store.count("turns") == acknowledged * 3
        assert store.staged_stats().conversations == 1
        # The trace request's audit count was committed with its rows.
        assert store.staged_audit()["requests"].to_pylist() == [1]
    # And a restarted server serves them, and a re-sent batch changes nothing.
    proc = _start_server(data_dir, port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30, headers=auth) as client:
            again = client.post(
                "/api/v1/ingest",
                json={"interactions": [interaction(i, turns=3) for i in range(200)]},
            ).json()
            assert (again["inserted"], again["replaced"]) == (0, 200)
            listed = {d["name"]: d for d in client.get("/api/v1/deployments").json()}
            assert listed["care-bot"]["interactions"] == 1000
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()
    # The restarted server folded the killed one's count into the audit log, once.
    ledger = Ledger(ledger_url)
    try:
        with ledger.session() as session:
            traced = [
                e.after
                for e in session.scalars(
                    select(AuditEntry).where(AuditEntry.target == "/v1/traces")
                )
            ]
    finally:
        ledger.dispose()
    assert [(a["status"], a["requests"]) for a in traced if a] == [(200, 1)]
    with open_event_store(f"duckdb:///{data_dir / 'events.duckdb'}") as store:
        assert store.staged_audit().num_rows == 0
