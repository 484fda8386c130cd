"""Reads while data arrives: four writers and a reader against a real `daytwo serve`.

The data dir holds the default demo (90 days, 2,000 conversations a day). Each run starts
`daytwo serve` on a fresh copy of it and runs two phases of ``--seconds`` each on fresh
copies: the writers alone (the throughput to keep), then the writers with a reader loading the
overview of the deployment being written every second. Writers post 1,000-interaction NDJSON
batches of new conversations from the last day (what a live deployment sends). Reported:
overview p50 / p95, ingest turns per second in each phase and their ratio, errors, the exact
interaction and turn counts afterwards, and the server's peak memory.

    python -m bench concurrency            # or: python -m bench.concurrency --seconds 60
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.__main__ import RESULTS, _admin_key, _environment, _free_port

DEPLOYMENT = "care-bot"
TURNS_PER = 8
TARGETS = {"overview_p95_ms": 500, "throughput_ratio": 0.8}


def _batch_template(batch: int, end: datetime) -> list[bytes]:
    """``batch`` NDJSON lines of the last day, each with an ``@ID@`` to fill in."""
    lines = []
    for n in range(batch):
        start = end - timedelta(seconds=(n * 86_400) // batch + 60)
        rec = {
            "id": "@ID@",
            "deployment": DEPLOYMENT,
            "started_at": start.isoformat(),
            "ended_at": (start + timedelta(seconds=20 * TURNS_PER)).isoformat(),
            "channel": "chat" if n % 3 else "voice",
            "journey": ("card_declined", "lost_card", "balance", "transfer")[n % 4],
            "customer_ref": f"u-{n % 997}",
            "segments": {"site": ("leeds", "cork", "porto")[n % 3], "language": "en"},
            "outcome": ("contained", "escalated", "abandoned", "contained")[n % 4],
            "csat": 1 + n % 5,
            "handle_time_s": 20.0 * TURNS_PER,
            "ai_used": True,
            "turns": [
                {
                    "seq": k,
                    "ts": (start + timedelta(seconds=20 * k)).isoformat(),
                    "role": "user" if k % 2 == 0 else "assistant",
                    "text": "my card was declined at the shop"
                    if k % 2 == 0
                    else "Let me check the card for you.",
                    **({} if k % 2 == 0 else {"latency_ms": 600 + n % 400, "intent": "card"}),
                }
                for k in range(TURNS_PER)
            ],
        }
        lines.append(orjson.dumps(rec))
    return lines


@dataclass
class Phase:
    turns: int = 0
    interactions: int = 0
    batches: int = 0
    errors: list[str] = field(default_factory=list)
    overview_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0


def _serve(data: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DAYTWO_DATA_DIR": str(data),
        "DAYTWO_RATE_LIMIT_PER_MINUTE": "1000000",  # the rate limit is not what is measured
    }
    return subprocess.Popen(
        [sys.executable, "-m", "daytwo", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_ready(url: str, auth: dict[str, str]) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            health = httpx.get(url + "/healthz", timeout=2).json()
            if health.get("figures_as_of") and not health.get("figures_behind"):
                httpx.get(url + f"/overview?deployment={DEPLOYMENT}", headers=auth, timeout=60)
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("daytwo serve did not become ready")


def _peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024


def _phase(
    base: Path,
    work: Path,
    *,
    writers: int,
    reader: bool,
    seconds: float,
    template: list[bytes],
    key: str,
    tag: str,
) -> dict[str, Any]:
    data = work / f"data-{tag}"
    shutil.rmtree(data, ignore_errors=True)
    shutil.copytree(base, data)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    auth = {"authorization": f"Bearer {key}"}
    proc = _serve(data, port)
    phase = Phase()
    lock = threading.Lock()
    try:
        _wait_ready(url, auth)
        stop = time.monotonic() + seconds

        def write(w: int) -> None:
            with httpx.Client(base_url=url, headers=auth, timeout=120) as client:
                k = 0
                while time.monotonic() < stop:
                    prefix = f"{tag}-w{w}-b{k}-".encode()
                    body = b"\n".join(
                        line.replace(b"@ID@", prefix + str(i).encode())
                        for i, line in enumerate(template)
                    )
                    k += 1
                    try:
                        r = client.post(
                            "/api/v1/ingest",
                            content=body + b"\n",
                            headers={"content-type": "application/x-ndjson"},
                        )
                    except httpx.HTTPError as exc:
                        with lock:
                            phase.errors.append(f"writer {w}: {exc!r}")
                        continue
                    with lock:
                        if r.status_code != 200:
                            phase.errors.append(f"writer {w}: {r.status_code} {r.text[:200]}")
                        else:
                            result = r.json()
                            phase.turns += result["turns"]
                            phase.interactions += result["inserted"]
                            phase.batches += 1

        def read() -> None:
            with httpx.Client(base_url=url, headers=auth, timeout=120) as client:
                while time.monotonic() < stop:
                    tick = time.monotonic()
                    t = time.perf_counter()
                    r = client.get(f"/overview?deployment={DEPLOYMENT}")
                    elapsed = (time.perf_counter() - t) * 1000
                    with lock:
                        if r.status_code != 200:
                            phase.errors.append(f"reader: {r.status_code}")
                        phase.overview_ms.append(elapsed)
                    time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))

        threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
        if reader:
            threads.append(threading.Thread(target=read))
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        phase.seconds = time.perf_counter() - started
        peak = _peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    # Exact counts: what the store holds of this phase equals what the answers acknowledged.
    from daytwo.store.events import open_event_store

    with open_event_store(f"duckdb:///{data / 'events.duckdb'}", read_only=True) as store:
        stored = store.query(
            "SELECT count(*) AS i, sum(n_turns) AS t FROM interactions WHERE interaction_id LIKE ?",
            [f"{tag}-%"],
        ).to_pylist()[0]
    shutil.rmtree(data, ignore_errors=True)
    latencies = sorted(phase.overview_ms)
    return {
        "turns_per_s": phase.turns / phase.seconds,
        "batches": phase.batches,
        "interactions_acknowledged": phase.interactions,
        "turns_acknowledged": phase.turns,
        "interactions_stored": int(stored["i"] or 0),
        "turns_stored": int(stored["t"] or 0),
        "counts_exact": int(stored["i"] or 0) == phase.interactions
        and int(stored["t"] or 0) == phase.turns,
        "errors": len(phase.errors),
        "first_errors": phase.errors[:5],
        "overview_loads": len(latencies),
        "overview_p50_ms": statistics.median(latencies) if latencies else None,
        "overview_p95_ms": latencies[max(0, round(0.95 * len(latencies)) - 1)]
        if latencies
        else None,
        "overview_max_ms": latencies[-1] if latencies else None,
        "server_peak_rss_mb": peak,
    }


def run(
    work: Path, *, repeat: int, seconds: float, writers: int = 4, batch: int = 1000
) -> dict[str, Any]:
    from daytwo.demo.generator import DemoConfig
    from daytwo.demo.load import build_demo
    from daytwo.settings import Settings

    base = work / "base"
    build_demo(Settings(data_dir=base), DemoConfig(), force=True)
    key = _admin_key(base)
    template = _batch_template(batch, datetime.now(UTC) - timedelta(minutes=5))
    runs: list[dict[str, Any]] = []
    for r in range(repeat):
        alone = _phase(
            base,
            work,
            writers=writers,
            reader=False,
            seconds=seconds,
            template=template,
            key=key,
            tag=f"r{r}a",
        )
        both = _phase(
            base,
            work,
            writers=writers,
            reader=True,
            seconds=seconds,
            template=template,
            key=key,
            tag=f"r{r}b",
        )
        ratio = both["turns_per_s"] / alone["turns_per_s"] if alone["turns_per_s"] else 0.0
        runs.append({"writers_alone": alone, "writers_and_reader": both, "throughput_ratio": ratio})
        print(json.dumps(runs[-1], default=str)[:600], file=sys.stderr, flush=True)
    both_runs = [r["writers_and_reader"] for r in runs]
    med = {
        "overview_p50_ms": statistics.median(r["overview_p50_ms"] for r in both_runs),
        "overview_p95_ms": statistics.median(r["overview_p95_ms"] for r in both_runs),
        "turns_per_s_alone": statistics.median(r["writers_alone"]["turns_per_s"] for r in runs),
        "turns_per_s_with_reader": statistics.median(r["turns_per_s"] for r in both_runs),
        "throughput_ratio": statistics.median(r["throughput_ratio"] for r in runs),
        "errors": sum(
            r["writers_alone"]["errors"] + r["writers_and_reader"]["errors"] for r in runs
        ),
        "counts_exact": all(
            r["writers_alone"]["counts_exact"] and r["writers_and_reader"]["counts_exact"]
            for r in runs
        ),
        "server_peak_rss_mb": max(r["server_peak_rss_mb"] for r in both_runs),
    }
    return {
        "writers": writers,
        "batch_interactions": batch,
        "turns_per_interaction": TURNS_PER,
        "seconds_per_phase": seconds,
        "base": "default demo: 90 days, 2,000 conversations a day",
        **med,
        "targets": TARGETS,
        "met": med["overview_p95_ms"] <= TARGETS["overview_p95_ms"]
        and med["throughput_ratio"] >= TARGETS["throughput_ratio"]
        and med["errors"] == 0
        and med["counts_exact"],
        "load_average_at_end": os.getloadavg(),
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.concurrency", description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--writers", type=int, default=4)
    args = parser.parse_args()
    import tempfile

    with tempfile.TemporaryDirectory(prefix="daytwo-bench-concurrency-") as tmp:
        result = run(Path(tmp), repeat=args.repeat, seconds=args.seconds, writers=args.writers)
    result = {"benchmark": "concurrency", "environment": _environment(), **result}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "concurrency.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2, default=str))


if __name__ == "__main__":
    main()
