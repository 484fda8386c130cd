"""How soon an error spike on live traffic reaches the owner: a live replay at 1,000
conversations a minute through the HTTP API into a real `daytwo serve`, five deployments of
200 a minute each, a week of history behind each (2% of conversations with an error turn).
Each deployment's errors jump to 30% at its own moment (30 s apart); the latency is the time
from that onset to the `traffic.error_spike` message arriving at a local webhook receiver.
The calm minutes before the onsets count the false alerts (any alert before an onset).

One replay holds the five injections (``--repeat`` is not used). Not measured here: false
alerts per deployment-day (a day of calm replay); feed silence (its history would need the
sender's cadence of deliveries for a week); ingest throughput with the checks on and off.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson

DEPLOYMENTS = 5
PER_MINUTE = 200  # per deployment: 1,000 a minute in all
POST_EVERY_S = 3.0
CALM_S = 120  # calm replay before the first onset
ONSET_GAP_S = 30
CALM_ERRORS = 0.02
SPIKE_ERRORS = 0.30
DEADLINE_S = 420  # after an onset, give up waiting for its alert
SECRET = "bench-signing-secret-of-enough-length"


class _Receiver:
    def __init__(self) -> None:
        self.got: list[tuple[float, dict[str, Any]]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver.lock:
                    receiver.got.append((time.time(), orjson.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def _record(dep: str, n: int, error: bool, at: datetime) -> dict[str, Any]:
    turns: list[dict[str, Any]] = [
        {"seq": 0, "ts": at.isoformat(), "role": "user", "text": "where is my card"},
        {"seq": 1, "ts": at.isoformat(), "role": "assistant", "text": "Let me check.",
         "latency_ms": 600, **({"error": "upstream timeout"} if error else {})},
    ]  # fmt: skip
    return {
        "id": f"{dep}-{n}", "deployment": dep, "started_at": at.isoformat(),
        "ended_at": (at + timedelta(seconds=40)).isoformat(), "channel": "chat",
        "journey": "card_lost", "outcome": "contained", "turns": turns,
    }  # fmt: skip


def _seed(data: Path, url: str, now: datetime) -> None:
    """Deployments, a channel and route for the alerts, and a week of history written with
    past arrival times (the hours around this one each day, 60 conversations an hour)."""
    import daytwo.store.events.duckdb as duck
    from daytwo.deployments.schemas import DeploymentCreate
    from daytwo.deployments.service import create_deployment
    from daytwo.ingest.decode import decode_json
    from daytwo.notify import service
    from daytwo.notify.schemas import ChannelCreate, RouteCreate
    from daytwo.settings import Settings
    from daytwo.store.events import open_event_store
    from daytwo.store.ledger import DeploymentKind, Ledger, upgrade

    settings = Settings(data_dir=data)
    upgrade(settings.resolved_ledger_url)
    ledger = Ledger(settings.resolved_ledger_url)
    try:
        for d in range(DEPLOYMENTS):
            create_deployment(
                ledger, DeploymentCreate(name=f"live-{d}", kind=DeploymentKind.virtual_agent)
            )
        service.create_channel(
            ledger, ChannelCreate(name="hook", kind="webhook", url=url, secret=SECRET),
            server_key=settings.session_key(), actor="bench",
        )  # fmt: skip
        service.add_route(
            ledger,
            RouteCreate(channel="hook", event_kinds=["traffic.error_spike"], max_priority="P1"),
            actor="bench",
        )
    finally:
        ledger.dispose()
    store = open_event_store(settings.resolved_events_url)
    real_clock = getattr(duck, "utc_now")  # noqa: B009 (the name the store reads)
    try:
        n = 0
        for day in range(1, 8):
            for hours in (-1, 0, 1):
                at = now - timedelta(days=day, hours=hours)
                setattr(duck, "utc_now", lambda at=at: at)  # noqa: B010
                records = []
                for d in range(DEPLOYMENTS):
                    for k in range(60):
                        records.append(_record(f"live-{d}", n, k < 60 * CALM_ERRORS, at))
                        n += 1
                decoded = decode_json(orjson.dumps(records))
                assert not decoded.errors, decoded.errors[:3]
                store.write(decoded.batch, source="bench", batch_id=f"history-{n}")
    finally:
        setattr(duck, "utc_now", real_clock)  # noqa: B010
        store.close()


def _serve(data: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DAYTWO_DATA_DIR": str(data), "DAYTWO_NOTIFY_ESCALATE_MINUTES": "600"}
    return subprocess.Popen(
        [sys.executable, "-m", "daytwo.cli", "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _one_run(work: Path, free_port: Any, admin_key: Any) -> dict[str, Any]:
    import httpx

    receiver = _Receiver()
    _seed(work, receiver.url, datetime.now(UTC))
    key = admin_key(work)
    port = free_port()
    proc = _serve(work, port)
    client = httpx.Client(
        base_url=f"http://127.0.0.1:{port}", timeout=60,
        headers={"authorization": f"Bearer {key}", "content-type": "application/x-ndjson"},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                client.get("/healthz").raise_for_status()
                break
            except httpx.HTTPError:
                time.sleep(0.3)
        start = time.time()
        onsets = {f"live-{d}": start + CALM_S + d * ONSET_GAP_S for d in range(DEPLOYMENTS)}
        per_post = max(1, round(PER_MINUTE * POST_EVERY_S / 60))
        n, posts, failed = 0, 0, 0
        while True:
            now = time.time()
            got = {p["deployment"] for _, p in receiver.got}
            if set(onsets) <= got or now > max(onsets.values()) + DEADLINE_S:
                break
            lines = []
            for dep, onset in onsets.items():
                share = SPIKE_ERRORS if now >= onset else CALM_ERRORS
                for _ in range(per_post):
                    error = (n * 7919) % 1000 < share * 1000  # spread evenly over records
                    lines.append(orjson.dumps(_record(dep, n, error, datetime.now(UTC))))
                    n += 1
            r = client.post("/api/v1/ingest", content=b"\n".join(lines) + b"\n")
            posts += 1
            failed += r.status_code != 200
            time.sleep(max(0.0, POST_EVERY_S - (time.time() - now)))
        elapsed_min = (time.time() - start) / 60
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=60)
        receiver.server.shutdown()
    latencies: list[float] = []
    false_alerts = 0
    for at, payload in receiver.got:
        began = onsets.get(payload["deployment"])
        if began is None or at < began:
            false_alerts += 1
        elif payload["event"] == "traffic.error_spike":
            latencies.append(round(at - began, 1))
    return {
        "latencies_s": sorted(latencies),
        "missed": DEPLOYMENTS - len(latencies),
        "false_alerts_before_onset": false_alerts,
        "posts": posts,
        "failed_posts": failed,
        "conversations_per_minute": round(posts * per_post * DEPLOYMENTS / elapsed_min),
    }


def run(work: Path, repeat: int, free_port: Any, admin_key: Any) -> dict[str, Any]:
    del repeat  # one replay holds five injections
    result = _one_run(work / "run", free_port, admin_key)
    lat = result["latencies_s"]
    median = lat[len(lat) // 2] if lat else None
    return {
        "deployments": DEPLOYMENTS,
        "per_minute_each": PER_MINUTE,
        "calm_s_before_first_onset": CALM_S,
        "error_share_calm_and_spike": [CALM_ERRORS, SPIKE_ERRORS],
        "median_latency_s": median,
        **result,
        "target": "alert at the receiver <= 120 s after the onset (median of 5 injections)",
        "met": median is not None and median <= 120 and result["missed"] == 0,
    }
