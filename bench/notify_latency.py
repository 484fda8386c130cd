"""How soon a problem on live traffic reaches the owner: a live replay at 1,000 conversations
a minute through the HTTP API into a real `daytwo serve` (ten deployments of about 100 a
minute each, posted every 3 s), with eight days of the same calm traffic behind each
(``bench.live_traffic``: 2% errors, 8% fallbacks, hours that drift). Five deployments get an
error spike (errors jump to 30% at their own moment, 30 s apart); five go silent (their sender
stops posting, at their own moment). The latency is the time from each onset to its
``traffic.error_spike`` or ``feed.silent`` message arriving at a local webhook receiver that
takes every event kind. Any other message counts as a false alert: anything before an onset,
and any kind other than the one injected (``traffic.recovered`` and ``feed.resumed`` cannot
come before their alarm).

One replay holds the ten injections (``--repeat`` is not used).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from bench.live_traffic import Calm, Receiver, hours_around, record, seed_history, setup_ledger

SPIKES = [f"spike-{d}" for d in range(5)]
SILENCES = [f"silent-{d}" for d in range(5)]
PER_MINUTE = 100  # per deployment: 1,000 a minute in all
POST_EVERY_S = 3.0
CALM_S = 120  # calm replay before the first onset
ONSET_GAP_S = 30
SPIKE_ERRORS = 0.30
DEADLINE_S = 420  # after an onset, give up waiting for its alert
HISTORY_SEED, LIVE_SEED = 11, 12


def _seed(data: Path, url: str, now: datetime) -> int:
    """The deployments, a channel and a route taking every event kind, and eight days of
    calm traffic around this time of day (returns conversations written)."""
    setup_ledger(data, SPIKES + SILENCES, url)
    calm = Calm(SPIKES + SILENCES, PER_MINUTE, HISTORY_SEED, diurnal=False)
    start, end = hours_around(now, timedelta(minutes=70), timedelta(minutes=75))
    spans = [(start - timedelta(days=d), end - timedelta(days=d)) for d in range(8, 0, -1)]
    # And today up to now: the feeds were flowing when the server (re)started.
    return seed_history(data, calm, [*spans, (start, now)], post_every_s=POST_EVERY_S)


def _serve(data: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DAYTWO_DATA_DIR": str(data),
        "DAYTWO_ANALYZE_INTERVAL_MINUTES": "0",
        "DAYTWO_NOTIFY_ESCALATE_MINUTES": "600",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "daytwo.cli", "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _one_run(work: Path, free_port: Any, admin_key: Any) -> dict[str, Any]:
    import httpx

    receiver = Receiver()
    history = _seed(work, receiver.url, datetime.now(UTC).replace(second=0, microsecond=0))
    key = admin_key(work)
    port = free_port()
    proc = _serve(work, port)
    client = httpx.Client(
        base_url=f"http://127.0.0.1:{port}", timeout=180,
        headers={"authorization": f"Bearer {key}", "content-type": "application/x-ndjson"},
    )  # fmt: skip
    calm = Calm(SPIKES + SILENCES, PER_MINUTE, LIVE_SEED, diurnal=False)
    rng = np.random.default_rng(LIVE_SEED)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                client.get("/healthz").raise_for_status()
                break
            except httpx.HTTPError:
                time.sleep(0.3)
        start = time.time()
        onsets = {
            name: start + CALM_S + k * ONSET_GAP_S
            for k, name in enumerate(x for pair in zip(SPIKES, SILENCES, strict=True) for x in pair)
        }
        wanted = dict.fromkeys(SPIKES, "traffic.error_spike")
        wanted |= dict.fromkeys(SILENCES, "feed.silent")
        n, posts, failed, sent = 0, 0, 0, 0
        calm_sent, calm_until = 0, start
        sender_s = 0.0  # seconds of sending, summed over the senders still sending
        post_s: list[float] = []
        last = start - POST_EVERY_S
        while True:
            now = time.time()
            got = {p["deployment"] for _, p in receiver.snapshot() if p["event"] == wanted.get(
                p["deployment"])}  # fmt: skip
            if set(onsets) <= got or now > max(onsets.values()) + DEADLINE_S:
                break
            # Each post carries the conversations of the time since the previous one, so the
            # rate holds whatever a post and its preparation take on a loaded machine.
            span, last = now - last, now
            lines = []
            at = datetime.now(UTC)
            for d, (dep, onset) in enumerate(onsets.items()):
                if dep in SILENCES and now >= onset:
                    continue  # this sender stopped
                sender_s += span
                share = SPIKE_ERRORS if dep in SPIKES and now >= onset else None
                m = calm.minute(rng, d, at, error_share=share, seconds=span)
                for e, f, lat in zip(m["error"], m["fallback"], m["latency"], strict=True):
                    lines.append(orjson.dumps(record(
                        dep, f"{dep}-{n}", at, error=bool(e), fallback=bool(f),
                        latency=float(lat))))  # fmt: skip
                    n += 1
            posted = time.perf_counter()
            r = client.post("/api/v1/ingest", content=b"\n".join(lines) + b"\n")
            post_s.append(time.perf_counter() - posted)
            posts += 1
            sent += len(lines)
            if now < min(onsets.values()):
                calm_sent, calm_until = sent, time.time()
            failed += r.status_code != 200
            time.sleep(max(0.0, POST_EVERY_S - (time.time() - now)))
        elapsed_min = (time.time() - start) / 60
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=60)
        receiver.server.shutdown()
    latencies: dict[str, list[float]] = {"traffic.error_spike": [], "feed.silent": []}
    false_alerts: list[str] = []
    for heard, payload in receiver.snapshot():
        dep, event = payload["deployment"], payload["event"]
        began = onsets.get(dep)
        if began is not None and heard >= began and event == wanted[dep]:
            latencies[event].append(round(heard - began, 1))
        elif event not in ("traffic.recovered", "feed.resumed"):
            false_alerts.append(f"{dep}: {event} at {heard - start:.0f} s")
    return {
        "history_conversations": history,
        "latencies_s": {k: sorted(v) for k, v in latencies.items()},
        "missed": {k: 5 - len(v) for k, v in latencies.items()},
        "false_alerts": false_alerts,
        "posts": posts,
        "failed_posts": failed,
        # Over the whole replay: the silenced senders stop, so this falls below the senders'
        # own rate once they do.
        "conversations_per_minute": round(sent / elapsed_min),
        # Each sender's rate while it sends, times the ten senders: the replay's load.
        "conversations_per_minute_all_senders": round(
            sent / max(sender_s / 60, 1e-9) * len(onsets)
        ),
        "post_s_median": round(float(np.median(post_s)), 3) if post_s else None,
        "post_s_max": round(max(post_s), 3) if post_s else None,
        # Before the first onset every sender posts (later, the silenced ones stop).
        "conversations_per_minute_before_first_onset": round(
            calm_sent / max((calm_until - start) / 60, 1e-9)
        ),
    }


def _median(values: list[float]) -> float | None:
    return float(np.median(values)) if values else None


def run(work: Path, repeat: int, free_port: Any, admin_key: Any) -> dict[str, Any]:
    del repeat  # one replay holds ten injections
    result = _one_run(work / "run", free_port, admin_key)
    spike = _median(result["latencies_s"]["traffic.error_spike"])
    silence = _median(result["latencies_s"]["feed.silent"])
    return {
        "deployments": len(SPIKES + SILENCES),
        "per_minute_each": PER_MINUTE,
        "post_every_s": POST_EVERY_S,
        "calm_s_before_first_onset": CALM_S,
        "spike_error_share": SPIKE_ERRORS,
        "median_latency_s": {"traffic.error_spike": spike, "feed.silent": silence},
        **result,
        "target": "alert at the receiver <= 120 s after the onset (median of 5 injections "
        "each: error spike, feed silence)",
        "met": all(m is not None and m <= 120 for m in (spike, silence))
        and not any(result["missed"].values()),
    }
