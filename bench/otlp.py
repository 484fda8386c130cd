"""End-to-end OTLP ingest: protobuf batches of 512 GenAI spans, as the SDK's batch processor
sends them, to `daytwo serve`; and the same batches to Arize Phoenix as the peer.

The spans are the STAR dialogues as an LLM app instrumented with the current GenAI conventions
emits them (see :mod:`bench.star_traces`): the conversation's history in every model call,
tool calls, failures, hand-offs; generated through the real SDK and encoded by its exporter's
encoder, then sorted by end time and cut into batches of 512, as ``BatchSpanProcessor`` does.

Measured per run, on a fresh data dir, after one untimed batch that lets the worker processes
start (it is sent again in the timed run, as an exporter's retry would): spans acknowledged per
second (first request sent to last answer received, ``--clients`` senders at once), request
latency (p50, p99), the time until every conversation is written (the server ends them as soon
as they are quiet: ``DAYTWO_OTLP_IDLE_SECONDS=0``, settle 3 s, so assembly runs while spans
arrive), the server's peak memory (VmHWM), and CPU per 1,000 spans: until written, and while
the requests were answered split by process (the server, its mapping workers, this client),
and until the dashboards' figures are current too (`/healthz` no longer says they are behind:
the background refresh has taken up every write). Each run's stored interactions and turns are
hashed once the server has stopped (every column, in key order): ``stored_rows_identical``
says every run, the baseline's too, stored the same rows.

``OTLP_BENCH_BASELINE=<git revision>`` (for example ``main``) runs that revision's ``src`` too,
in pairs with the current code on the same batches (A B, then B A, ...), and records each
figure's median ratio to the baseline's run of the same pair: a comparison that a shared
machine's load affects less than two separate runs.

Phoenix (``arize-phoenix``, never a dependency of daytwo) runs from a virtual environment given
by ``--phoenix-venv`` (or ``$PHOENIX_VENV``); it gets a prefix of the same batches, and its
rate is end to end too: until every span can be read back from its database.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

BATCH = 512


def make_batches(n_spans: int, seed: int = 11) -> list[bytes]:
    """About ``n_spans`` spans in 512-span protobuf requests, in the order they would end."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from bench.star_traces import conversations, emit

    memory = InMemorySpanExporter()
    tp = TracerProvider(resource=Resource.create({"service.name": "care-bot"}))
    tp.add_span_processor(SimpleSpanProcessor(memory))
    tracer = tp.get_tracer("opentelemetry.instrumentation.openai_v2", "2.4b0")
    t0 = time.time_ns() - 8 * 3600 * 10**9
    made = 0
    rnd = 0
    while made < n_spans:
        for c in conversations(
            6652, t0, deployment="care-bot", seed=seed + rnd, prefix=f"r{rnd}", spread_s=7 * 3600
        ):
            emit(tracer, c.spans)
            made += len(c.spans)
            if made >= n_spans:
                break
        rnd += 1
    spans = sorted(memory.get_finished_spans(), key=lambda s: s.end_time or 0)
    tp.shutdown()
    return [
        encode_spans(spans[i : i + BATCH]).SerializeToString() for i in range(0, len(spans), BATCH)
    ]


def _send_all(
    url: str, headers: dict[str, str], batches: list[bytes], clients: int
) -> tuple[float, list[float], int]:
    """Send every batch with ``clients`` senders; (seconds, latencies, spans acknowledged)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceResponse,
    )

    queue = list(enumerate(batches))
    lock = threading.Lock()
    latencies: list[float] = []
    rejected = [0]
    errors: list[str] = []

    def sender() -> None:
        with httpx.Client(timeout=120, headers=headers) as client:
            while True:
                with lock:
                    if not queue:
                        return
                    _, body = queue.pop(0)
                while True:
                    t = time.perf_counter()
                    r = client.post(url, content=body)
                    took = time.perf_counter() - t
                    if r.status_code in (429, 503):  # back off as an exporter would
                        time.sleep(float(r.headers.get("retry-after", "1")))
                        continue
                    break
                with lock:
                    latencies.append(took)
                    if r.status_code != 200:
                        errors.append(f"{r.status_code}: {r.text[:200]}")
                    elif r.content:
                        answer = ExportTraceServiceResponse.FromString(r.content)
                        rejected[0] += answer.partial_success.rejected_spans

    threads = [threading.Thread(target=sender) for _ in range(clients)]
    started = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    seconds = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} requests failed; first: {errors[0]}")
    return seconds, latencies, rejected[0]


def _wait_http(url: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {seconds} s")


def _peak_rss_mb(pid: int) -> float:
    """Peak resident memory of the server and its worker processes, together."""
    import psutil

    total = 0.0
    for p in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
        status = Path(f"/proc/{p.pid}/status").read_text()
        total += int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]
    return total


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of the server and its worker processes so far."""
    server, workers = _cpu_split(pid)
    return server + workers


def _cpu_split(pid: int) -> tuple[float, float]:
    """CPU time so far of the server process, and of its worker processes together."""
    import psutil

    server = psutil.Process(pid)
    t = server.cpu_times()
    own = t.user + t.system
    children = 0.0
    for p in server.children(recursive=True):
        c = p.cpu_times()
        children += c.user + c.system
    return own, children


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def baseline_source(work: Path, revision: str) -> tuple[Path, str]:
    """The ``src`` tree of a git ``revision`` of this repository (for a same-run comparison
    with earlier code), and the commit it resolved to."""
    root = Path(__file__).resolve().parent.parent
    commit = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--verify", f"{revision}^{{commit}}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    out = work / f"baseline-{commit[:12]}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(root), "archive", commit, "src"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return out / "src", commit


def run_daytwo(
    work: Path,
    batches: list[bytes],
    *,
    clients: int,
    admin_key: Callable[[Path], str],
    source: Path | None = None,
) -> dict[str, Any]:
    """One run on a fresh data dir; ``source``: serve the package from that ``src`` tree
    instead of the installed one."""
    data = work / "daytwo"
    shutil.rmtree(data, ignore_errors=True)
    key = admin_key(data)
    port = _free_port()
    env = {
        **os.environ,
        **({"PYTHONPATH": str(source)} if source is not None else {}),
        "DAYTWO_DATA_DIR": str(data),
        "DAYTWO_OTLP_IDLE_SECONDS": "0",
        "DAYTWO_OTLP_SETTLE_SECONDS": "3",
        "DAYTWO_OTLP_ASSEMBLE_SECONDS": "1",
        "DAYTWO_OTLP_REQUESTS_PER_MINUTE": "1000000",
        "DAYTWO_RATE_LIMIT_PER_MINUTE": "1000000",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "daytwo.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    auth = {"authorization": f"Bearer {key}"}
    try:
        _wait_http(url + "/healthz", 300)  # a start on a loaded machine can take minutes
        # One batch first, untimed: the worker processes import the mapper when the server
        # starts, and the clock should not wait for them. The timed run sends that batch again,
        # which a re-sent batch may do: it changes no count.
        warm = httpx.post(
            url + "/v1/traces",
            content=batches[0],
            headers={**auth, "content-type": "application/x-protobuf"},
            timeout=300,
        )
        warm.raise_for_status()
        # A server that maps in its own threads until its workers are warm answers that batch
        # before they are: wait for them too (older code has no such gauge, and waited above).
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            text = httpx.get(url + "/metrics", headers=auth, timeout=60).text
            if "daytwo_otlp_workers_ready" not in text or _metric(
                text, "daytwo_otlp_workers_ready"
            ):
                break
            time.sleep(0.2)
        spans = sum(_count_spans(b) for b in batches)
        print(f"   sending to daytwo (pid {proc.pid})", file=sys.stderr, flush=True)
        cpu_before = _cpu_seconds(proc.pid)
        split_before = _cpu_split(proc.pid)
        client_before = time.process_time()
        started = time.perf_counter()
        seconds, latencies, rejected = _send_all(
            url + "/v1/traces",
            {**auth, "content-type": "application/x-protobuf"},
            batches,
            clients,
        )
        # CPU while the requests were answered, by process: where a span's cost lies.
        split = [a - b for a, b in zip(_cpu_split(proc.pid), split_before, strict=True)]
        client_cpu = time.process_time() - client_before
        # Until every conversation is written (the staged turns are gone).
        while True:
            text = httpx.get(url + "/metrics", headers=auth, timeout=60).text
            if _metric(text, "daytwo_otlp_staged_turns") == 0 and _metric(
                text, "daytwo_otlp_conversations_written_total"
            ):
                break
            if time.perf_counter() - started > 1800:
                raise RuntimeError("conversations not written after 30 minutes")
            time.sleep(0.5)
        drained = time.perf_counter() - started
        cpu = _cpu_seconds(proc.pid) - cpu_before
        # Until the dashboards' figures are current too: the background refresh's catch-up
        # after the stream is part of what the spans cost.
        while True:
            health = httpx.get(url + "/healthz", timeout=60).json()
            if not health.get("figures_behind") and health.get("figures_as_of"):
                break
            if time.perf_counter() - started > 1800:
                raise RuntimeError("figures not current after 30 minutes")
            time.sleep(0.2)
        current = time.perf_counter() - started
        cpu_current = _cpu_seconds(proc.pid) - cpu_before
        written = _metric(text, "daytwo_otlp_conversations_written_total")
        peak = _peak_rss_mb(proc.pid)
        stored = httpx.get(url + "/api/v1/deployments", headers=auth, timeout=60).json()
    finally:
        proc.terminate()
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:  # a loaded machine: its stop took over a minute
            proc.kill()
            _, err = proc.communicate(timeout=60)
    digest = stored_digest(data)
    turns = sum(d["turns"] for d in stored)
    interactions = sum(d["interactions"] for d in stored)
    audited = _audited_requests(data / "ledger.sqlite")
    lat = sorted(latencies)
    return {
        "spans": spans,
        "requests": len(batches),
        "rejected_spans": rejected,
        "seconds": seconds,
        "spans_per_s": spans / seconds,
        "p50_request_ms": 1000 * statistics.median(lat),
        "p99_request_ms": 1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))],
        "seconds_until_written": drained,
        "spans_per_s_until_written": spans / drained,
        "conversations_written": written,
        "interactions_stored": interactions,
        "turns_stored": turns,
        "peak_rss_mb": peak,
        # Accepted trace requests in the audit log once the server stopped (the timed ones
        # and the warm-up): each must be there.
        "audited_requests": audited,
        # The stored interactions and turns, every column: equal digests, equal rows.
        "stored_digest": digest,
        "cpu_seconds": cpu,
        "cpu_ms_per_1000_spans": 1000 * cpu / spans * 1000,
        "seconds_until_current": current,
        "cpu_ms_per_1000_spans_until_current": 1000 * cpu_current / spans * 1000,
        "cpu_ms_per_1000_spans_while_sending": {
            "server": 1e6 * split[0] / spans,
            "workers": 1e6 * split[1] / spans,
            "bench_client": 1e6 * client_cpu / spans,
        },
        "server_errors": err.decode(errors="replace")[-2000:] if err else "",
    }


def stored_digest(data: Path) -> str:
    """SHA-256 of every stored interaction and turn of the events store in ``data`` (every
    column, in key order), read once the server has stopped: two runs on the same batches
    store the same rows when their digests are equal."""
    import hashlib

    import duckdb
    import orjson

    digest = hashlib.sha256()
    with duckdb.connect(str(data / "events.duckdb"), read_only=True) as con:
        for table, order in (
            ("interactions", "deployment, interaction_id"),
            ("turns", "deployment, interaction_id, seq"),
        ):
            rows = con.sql(f"SELECT * FROM {table} ORDER BY {order}").to_arrow_table()
            digest.update(table.encode())
            for batch in rows.to_batches(max_chunksize=10_000):
                digest.update(orjson.dumps(batch.to_pylist(), default=str))
    return digest.hexdigest()


def _audited_requests(ledger: Path) -> int:
    """How many accepted ``/v1/traces`` requests the audit log of ``ledger`` counts."""
    import sqlite3

    with sqlite3.connect(ledger) as con:
        rows = con.execute("SELECT after FROM audit_log WHERE target = '/v1/traces'").fetchall()
    afters = [json.loads(a) for (a,) in rows if a]
    return sum(int(a.get("requests", 1)) for a in afters if a.get("status") == 200)


def run_phoenix(work: Path, venv: Path, batches: list[bytes], *, clients: int) -> dict[str, Any]:
    """The same batches to Phoenix, timed until every span is in its database."""
    data = work / "phoenix"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    port = _free_port()
    env = {
        **os.environ,
        "PHOENIX_WORKING_DIR": str(data),
        "PHOENIX_PORT": str(port),
        "PHOENIX_GRPC_PORT": str(_free_port()),
        "PHOENIX_TELEMETRY_ENABLED": "false",
    }
    proc = subprocess.Popen(
        [str(venv / "bin" / "phoenix"), "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(url + "/healthz", 300)
        spans = sum(_count_spans(b) for b in batches)
        started = time.perf_counter()
        seconds, latencies, _ = _send_all(
            url + "/v1/traces", {"content-type": "application/x-protobuf"}, batches, clients
        )
        db = data / "phoenix.db"
        stored, progressed = 0, time.perf_counter()
        while stored < spans:
            now = _phoenix_span_count(db)
            if now > stored:
                stored, progressed = now, time.perf_counter()
            if time.perf_counter() - progressed > 300:
                raise RuntimeError(f"Phoenix stored {stored} of {spans} spans, then nothing")
            time.sleep(0.5)
        drained = time.perf_counter() - started
        peak = _peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.communicate(timeout=60)
    lat = sorted(latencies)
    return {
        "spans": spans,
        "requests": len(batches),
        "seconds_acknowledged": seconds,
        "p99_request_ms": 1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))],
        "seconds_until_stored": drained,
        "spans_per_s_until_stored": spans / drained,
        "peak_rss_mb": peak,
    }


def _phoenix_span_count(db: Path) -> int:
    import sqlite3

    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
            row = con.execute("SELECT count(*) FROM spans").fetchone()
    except sqlite3.Error:
        return 0
    return int(row[0]) if row else 0


def _count_spans(body: bytes) -> int:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    req = ExportTraceServiceRequest.FromString(body)
    return sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(
    work: Path,
    *,
    repeat: int,
    spans: int,
    clients: int = 4,
    phoenix_venv: Path | None = None,
    phoenix_batches: int = 20,
    admin_key: Callable[[Path], str],
    baseline: str | None = None,
) -> dict[str, Any]:
    load_before = os.getloadavg()
    t = time.perf_counter()
    batches = make_batches(spans)
    made = time.perf_counter() - t
    print(f"   {len(batches)} batches made in {made:.0f} s", file=sys.stderr, flush=True)
    source, commit = baseline_source(work, baseline) if baseline else (None, None)
    runs: list[dict[str, Any]] = []
    base_runs: list[dict[str, Any]] = []
    for i in range(repeat):
        # With a baseline, the two alternate, each first in every other pair (A B, B A...),
        # so that both see the same load and neither always runs just after the other.
        order = ["current"] if source is None else ["baseline", "current"][:: 1 - 2 * (i % 2)]
        for which in order:
            if which == "baseline":
                base_runs.append(
                    run_daytwo(work, batches, clients=clients, admin_key=admin_key, source=source)
                )
                print(f"   baseline run {i + 1}: {base_runs[-1]['spans_per_s']:,.0f} spans/s",
                      file=sys.stderr)  # fmt: skip
            else:
                runs.append(run_daytwo(work, batches, clients=clients, admin_key=admin_key))
                print(f"   run {i + 1}: {runs[-1]['spans_per_s']:,.0f} spans/s", file=sys.stderr)
    keys = [
        "spans_per_s",
        "p50_request_ms",
        "p99_request_ms",
        "spans_per_s_until_written",
        "peak_rss_mb",
        "cpu_ms_per_1000_spans",
        "cpu_ms_per_1000_spans_until_current",
    ]
    med = {k: statistics.median(r[k] for r in runs) for k in keys}
    out: dict[str, Any] = {
        "batch_spans": BATCH,
        "clients": clients,
        "spans": runs[0]["spans"],
        "bytes_per_batch": statistics.mean(len(b) for b in batches),
        **med,
        "runs": runs,
        "target_spans_per_s": 20_000,
        "target_peak_rss_mb": 1024,
        "load_average_before": load_before,
        "load_average": os.getloadavg(),
    }
    if base_runs:
        # Each run against the baseline run of its pair, under (nearly) the same load.
        out["baseline"] = {
            "revision": baseline,
            "commit": commit,
            **{k: statistics.median(r[k] for r in base_runs) for k in keys},
            "runs": base_runs,
        }
        out["ratio_vs_baseline"] = {
            k: statistics.median(r[k] / b[k] for r, b in zip(runs, base_runs, strict=True))
            for k in (
                "spans_per_s",
                "spans_per_s_until_written",
                "cpu_ms_per_1000_spans",
                "cpu_ms_per_1000_spans_until_current",
            )
        }
    if phoenix_venv is not None:
        peer = run_phoenix(work, phoenix_venv, batches[:phoenix_batches], clients=clients)
        out["phoenix"] = peer
        out["ratio_vs_phoenix_end_to_end"] = (
            med["spans_per_s_until_written"] / peer["spans_per_s_until_stored"]
        )
    # The same rows stored by every run (and the baseline's).
    digests = {r["stored_digest"] for r in [*runs, *base_runs]}
    out["stored_rows_identical"] = len(digests) == 1
    # The warm-up request is audited too.
    out["every_request_audited"] = all(r["audited_requests"] == r["requests"] + 1 for r in runs)
    out["met"] = (
        med["spans_per_s"] >= 20_000
        and med["peak_rss_mb"] <= 1024
        and out["every_request_audited"]
        and out["stored_rows_identical"]
    )
    return out


if __name__ == "__main__":  # pragma: no cover - for profiling one run by hand
    work = Path(tempfile.mkdtemp(prefix="daytwo-otlp-"))
    from bench.__main__ import _admin_key

    print(json.dumps(run(work, repeat=1, spans=int(sys.argv[1]), admin_key=_admin_key), indent=2))
