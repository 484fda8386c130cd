"""What the fast checks cost HTTP ingest: the same `daytwo serve`, on the same data dir, with
notification delivery and the fast checks on (the default: a pass every 5 s, the checks every
minute) and off (``DAYTWO_NOTIFY_DELIVER_SECONDS=0``), alternating, each taking as many
conversations as two clients can post for ``SECONDS`` seconds.

The data dir holds eight days of calm traffic around this time of day for five deployments
(about 1.1 million conversations, ``bench.live_traffic``), so the checks read a realistic
week: their baseline query (every 10 minutes) and the silent-feed history (once a day) are
paid in each measured "on" run, because each run starts a fresh server. The ratio is
(median conversations/s with the checks) / (median without), runs taken in the same hour.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from bench.live_traffic import Calm, hours_around, record, seed_history, setup_ledger

DEPLOYMENTS = [f"load-{d}" for d in range(5)]
PER_MINUTE = 100
SECONDS = 75  # per run, after the server answers
BATCH = 500
CLIENTS = 2
PAIRS = 3  # off, on, off, on, ...


def _serve(data: Path, port: int, checks: bool) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DAYTWO_DATA_DIR": str(data), "DAYTWO_ANALYZE_INTERVAL_MINUTES": "0"}
    env["DAYTWO_NOTIFY_DELIVER_SECONDS"] = "5" if checks else "0"
    return subprocess.Popen(
        [sys.executable, "-m", "daytwo.cli", "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _batches(tag: str) -> list[bytes]:
    """Request bodies of ``BATCH`` fresh conversations each (ids never repeat across runs)."""
    now = datetime.now(UTC)
    out = []
    for b in range(400):
        lines = [
            orjson.dumps(
                record(
                    DEPLOYMENTS[k % len(DEPLOYMENTS)],
                    f"{tag}-{b}-{k}",
                    now,
                    error=k % 50 == 0,
                    fallback=k % 12 == 0,
                    latency=600.0 + k % 400,
                )
            )
            for k in range(BATCH)
        ]
        out.append(b"\n".join(lines) + b"\n")
    return out


def _one(data: Path, port: int, key: str, checks: bool, tag: str) -> float:
    import httpx

    bodies = _batches(tag)
    proc = _serve(data, port, checks)
    headers = {"authorization": f"Bearer {key}", "content-type": "application/x-ndjson"}
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{base}/healthz", timeout=5).raise_for_status()
                break
            except httpx.HTTPError:
                time.sleep(0.3)
        done = [0]
        lock = threading.Lock()
        stop_at = time.monotonic() + SECONDS

        def post(first: int) -> None:
            with httpx.Client(base_url=base, timeout=120, headers=headers) as client:
                k = first
                while time.monotonic() < stop_at and k < len(bodies):
                    r = client.post("/api/v1/ingest", content=bodies[k])
                    r.raise_for_status()
                    with lock:
                        done[0] += BATCH
                    k += CLIENTS

        began = time.monotonic()
        threads = [threading.Thread(target=post, args=(c,)) for c in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return done[0] / (time.monotonic() - began)
    finally:
        proc.terminate()
        proc.wait(timeout=120)


def run(work: Path, repeat: int, free_port: Any, admin_key: Any) -> dict[str, Any]:
    del repeat  # PAIRS alternating runs
    data = work / "run"
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    setup_ledger(data, DEPLOYMENTS, None)
    start, end = hours_around(now, timedelta(minutes=70), timedelta(minutes=70))
    spans = [(start - timedelta(days=d), end - timedelta(days=d)) for d in range(8, 0, -1)]
    history = seed_history(
        data, Calm(DEPLOYMENTS, PER_MINUTE, 31, diurnal=False), [*spans, (start, now)],
        post_every_s=3.0,
    )  # fmt: skip
    key = admin_key(data)
    runs: dict[str, list[float]] = {"off": [], "on": []}
    for pair in range(PAIRS):
        for mode in ("off", "on"):
            rate = _one(data, free_port(), key, mode == "on", f"{mode}{pair}")
            runs[mode].append(round(rate, 1))
    off, on = statistics.median(runs["off"]), statistics.median(runs["on"])
    ratio = on / off if off else 0.0
    return {
        "deployments": len(DEPLOYMENTS),
        "history_conversations": history,
        "seconds_per_run": SECONDS,
        "batch": BATCH,
        "clients": CLIENTS,
        "conversations_per_s": {"checks_off": runs["off"], "checks_on": runs["on"]},
        "median_checks_off": off,
        "median_checks_on": on,
        "ratio": round(ratio, 3),
        "target": "HTTP ingest with the fast checks on keeps >= 90% of its throughput "
        "without them (same run, medians)",
        "met": ratio >= 0.9,
    }
