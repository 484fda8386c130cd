"""Where the end-to-end OTLP bench's CPU goes, by thread of the server and by phase.

One run of ``python -m bench otlp_ingest`` (the same batches, server settings and warm-up,
``bench.otlp.run_daytwo``), with a sampler loaded into the server process only (a
``sitecustomize`` on its ``PYTHONPATH``) that reads, every half second, the CPU time of each
of its threads from ``/proc`` under the thread's Python name (the assembler ``daytwo-otlp``,
the background refresh ``daytwo-refresher``, the event loop ``MainThread``, the request threads
``AnyIO worker thread``, the process pool's ``Thread-N`` and ``QueueFeederThread``; threads
Python did not start, DuckDB's among them, as ``native``), of the process as a whole (a thread
that ended, as idle request threads do, leaves only that), and of its worker processes.

The figures are CPU milliseconds per 1,000 spans in three phases: while the requests are
answered, from the last answer until every conversation is written (the bench's "until
written"), and from then until the dashboards' figures are current. The code's own parts, in
one process without HTTP, are ``python -m bench.otlp_parts``.

Run ``python -m bench.otlp_threads [SPANS] [--out NAME]`` (``--out`` writes
``bench/results/otlp_threads_NAME.json``).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

_SAMPLER = """
import os, sys, threading, time

def _cpu(path):
    fields = open(path).read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks

def _sample(log):
    pid = os.getpid()
    with open(log, "a") as out:
        while True:
            time.sleep(0.5)
            names = {t.native_id: t.name for t in threading.enumerate()}
            parts = [f"process={_cpu(f'/proc/{pid}/stat')}"]
            for tid in os.listdir(f"/proc/{pid}/task"):
                try:
                    ticks = _cpu(f"/proc/{pid}/task/{tid}/stat")
                except OSError:
                    continue
                name = names.get(int(tid), "native").replace(" ", "_").replace("=", "_")
                parts.append(f"t:{name}={ticks}")
            try:
                children = open(f"/proc/{pid}/task/{pid}/children").read().split()
            except OSError:
                children = []
            workers = 0
            for child in children:
                try:
                    workers += _cpu(f"/proc/{child}/stat")
                except OSError:
                    pass
            parts.append(f"workers={workers}")
            out.write(f"{time.time():.3f} " + " ".join(parts) + "\\n")
            out.flush()

if "serve" in sys.argv and os.environ.get("BENCH_THREAD_CPU_LOG"):
    threading.Thread(
        target=_sample, args=(os.environ["BENCH_THREAD_CPU_LOG"],), name="bench-cpu-sampler",
        daemon=True,
    ).start()
"""


def _read(log: Path) -> list[tuple[float, dict[str, int]]]:
    samples = []
    for line in log.read_text().splitlines():
        stamp, *pairs = line.split()
        values: dict[str, int] = defaultdict(int)
        for pair in pairs:
            name, _, ticks = pair.rpartition("=")
            values[name] += int(ticks)  # threads of one name (the request threads) together
        samples.append((float(stamp), dict(values)))
    return samples


def _at(samples: list[tuple[float, dict[str, int]]], t: float) -> dict[str, int]:
    """The last sample at or before ``t`` (the first, if none is)."""
    chosen = samples[0][1]
    for stamp, values in samples:
        if stamp > t:
            break
        chosen = values
    return chosen


def _phase(a: dict[str, int], b: dict[str, int], spans: int) -> dict[str, float]:
    """CPU ms per 1,000 spans between samples ``a`` and ``b``, by thread (``t:NAME``), for the
    threads that ended meanwhile, the server process, and its workers."""
    hz = os.sysconf("SC_CLK_TCK")
    per = 1e6 / hz / spans  # ticks to ms per 1,000 spans

    def delta(name: str) -> float:
        return (b.get(name, 0) - a.get(name, 0)) * per

    threads = {n[2:]: delta(n) for n in sorted(set(a) | set(b)) if n.startswith("t:")}
    # A thread that ended took its CPU out of the threads' sum, not out of the process's.
    live = {n: v for n, v in threads.items() if v > 0 or n in b}
    # The sampler's own CPU is the bench's, not the server's.
    sampler = live.pop("bench-cpu-sampler", 0.0)
    server = delta("process") - sampler
    out = dict(sorted(live.items(), key=lambda kv: -kv[1]))
    out["(threads that ended)"] = max(0.0, server - sum(live.values()))
    out["server process (less the sampler)"] = server
    out["sampler"] = sampler
    out["workers"] = delta("workers")
    return {k: round(v, 2) for k, v in out.items()}


_TIMELINE = ("daytwo-otlp", "daytwo-refresher", "native", "MainThread", "AnyIO_worker_thread")


def _timeline(
    samples: list[tuple[float, dict[str, int]]], start: float, end: float
) -> dict[str, Any]:
    """CPU ticks of the main threads and the workers in each second from ``start`` (when the
    sending began): which part works when (the refresh during the drain, say)."""
    columns = [f"t:{n}" for n in _TIMELINE] + ["workers"]
    rows = []
    second = 0
    while start + second < end:
        a, b = _at(samples, start + second), _at(samples, start + second + 1)
        rows.append([second] + [b.get(c, 0) - a.get(c, 0) for c in columns])
        second += 1
    return {"columns": ["second", *_TIMELINE, "workers"], "ticks_per_s": os.sysconf("SC_CLK_TCK"),
            "rows": rows}  # fmt: skip


def run(work: Path, spans: int) -> dict[str, Any]:
    import bench.otlp as otlp
    from bench.__main__ import _admin_key

    batches = otlp.make_batches(spans)
    site = work / "site"
    site.mkdir(parents=True, exist_ok=True)
    (site / "sitecustomize.py").write_text(_SAMPLER)
    log = work / "threads.log"
    marks: dict[str, float] = {}
    send_all = otlp._send_all

    def timed_send_all(*args: Any, **kwargs: Any) -> Any:
        marks["sending"] = time.time()
        try:
            return send_all(*args, **kwargs)
        finally:
            marks["answered"] = time.time()

    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "BENCH_THREAD_CPU_LOG")}
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), saved["PYTHONPATH"]) if p)
    os.environ["BENCH_THREAD_CPU_LOG"] = str(log)
    otlp._send_all = timed_send_all
    load_before = os.getloadavg()
    try:
        result = otlp.run_daytwo(work, batches, clients=4, admin_key=_admin_key)
    finally:
        otlp._send_all = send_all
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    samples = _read(log)
    n = result["spans"]
    start = marks["sending"]
    answered = marks["answered"]
    # run_daytwo's clock starts just before the sending: its durations are from there.
    written = start + result["seconds_until_written"]
    current = start + result["seconds_until_current"]
    s0, s1, s2, s3 = (_at(samples, t) for t in (start, answered, written, current))
    return {
        "spans": n,
        "timeline": _timeline(samples, start, current + 2),
        "requests": result["requests"],
        "sample_seconds": 0.5,
        "phases_seconds": {
            "answering": round(answered - start, 2),
            "until_written": round(written - answered, 2),
            "until_current": round(current - written, 2),
        },
        "cpu_ms_per_1000_spans": {
            "answering": _phase(s0, s1, n),
            "until_written": _phase(s1, s2, n),
            "until_current": _phase(s2, s3, n),
            "whole": _phase(s0, s3, n),
        },
        "bench": {
            k: result[k]
            for k in (
                "spans_per_s",
                "cpu_ms_per_1000_spans",
                "cpu_ms_per_1000_spans_until_current",
                "cpu_ms_per_1000_spans_while_sending",
                "peak_rss_mb",
                "stored_digest",
            )
        },
        "load_average_before": load_before,
        "load_average": os.getloadavg(),
    }


if __name__ == "__main__":  # pragma: no cover - by hand
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    name = sys.argv[sys.argv.index("--out") + 1] if "--out" in sys.argv else None
    if name is not None:
        args.remove(name)
    with tempfile.TemporaryDirectory(prefix="daytwo-otlp-threads-") as tmp:
        out = run(Path(tmp), int(args[0]) if args else 30_000)
    text = json.dumps(out, indent=2)
    print(text)
    if name is not None:
        path = Path(__file__).parent / "results" / f"otlp_threads_{name}.json"
        path.write_text(text + "\n")
