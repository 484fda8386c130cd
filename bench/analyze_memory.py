"""Where `daytwo analyze` grows its memory: each rise of its resident set, and what ran then.

Runs `daytwo analyze --force` in this process over a built data dir (the speed run's of
``python -m bench.detect --speed-only``), on a copy of its ledger (the built one is left as it
was), while a thread samples the resident set every 50 ms; each time it has grown by another
``--step`` MB, the innermost daytwo frames of the analysis threads are recorded. The peak, and
which reads and detectors raised it, say what still holds raw rows in Python.

    python -m bench.analyze_memory --data DIR [--engine clickhouse] [--code SRC] [--label NAME]

``--code SRC`` runs the daytwo package of another checkout's ``src`` (main's, say) instead of
this one's, so both sides of a comparison are measured by the same bench. The CPU seconds
(user and system) of the whole process are recorded with the wall time and the peak.

Writes ``bench/results/analyze_memory[_NAME].json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from bench.__main__ import RESULTS, _environment

PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


def _where(skip: set[int]) -> list[str]:
    """The innermost daytwo frames of every thread but ``skip``, and the engine read running
    (``read <name>``, the name of the read ``_engine_read`` was given)."""
    out = []
    for ident, frame in sys._current_frames().items():
        if ident in skip:
            continue
        frames = [f for f in traceback.extract_stack(frame) if "/daytwo/" in f.filename]
        out += [f"{f.filename.split('/daytwo/')[-1]}:{f.lineno} {f.name}" for f in frames[-4:]]
        at: Any = frame
        while at is not None:
            if at.f_code.co_name == "_engine_read" and "read" in at.f_locals:
                out.append(f"read {getattr(at.f_locals['read'], 'name', '?')}")
                break
            at = at.f_back
    return out


def measure(data: Path, engine: str, step_mb: float) -> dict[str, Any]:
    from daytwo.cli.main import app

    rises: list[dict[str, Any]] = []
    done = threading.Event()
    t0 = time.perf_counter()

    def sample() -> None:
        skip = {threading.main_thread().ident or 0, threading.get_ident()}
        last = 0.0
        while not done.is_set():
            rss = _rss_mb()
            if rss >= last + step_mb:
                last = rss
                rises.append({
                    "s": round(time.perf_counter() - t0, 1), "rss_mb": round(rss),
                    "where": list(reversed(_where(skip))),
                })  # fmt: skip
            time.sleep(0.05)

    with tempfile.TemporaryDirectory(prefix="daytwo-bench-memory-") as tmp:
        ledger = Path(tmp) / "ledger.sqlite"
        shutil.copyfile(data / "ledger.sqlite", ledger)
        os.environ["DAYTWO_DATA_DIR"] = str(data)
        os.environ["DAYTWO_LEDGER_URL"] = f"sqlite:///{ledger}"
        if engine == "clickhouse":
            os.environ["DAYTWO_EVENTS_URL"] = f"chdb:///{data / 'clickhouse'}"
        load_before = os.getloadavg()[0]
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            app(["analyze", "--force"], standalone_mode=False)
        finally:
            done.set()
            sampler.join()
    times = os.times()
    hwm = next(
        int(line.split()[1]) / 1024
        for line in Path("/proc/self/status").read_text().splitlines()
        if line.startswith("VmHWM:")
    )
    return {
        "engine": engine,
        "seconds": round(time.perf_counter() - t0, 1),
        "cpu_seconds": round(times.user + times.system, 1),
        "peak_rss_mb": round(hwm),
        "load_average_before": round(load_before, 2),
        "rises": rises,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.analyze_memory", description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="A built data dir.")
    parser.add_argument("--engine", choices=["duckdb", "clickhouse"], default="duckdb")
    parser.add_argument("--step", type=float, default=100.0, help="MB between two records.")
    parser.add_argument("--label", default="", help="Suffix of the results file.")
    parser.add_argument("--code", type=Path, help="Another checkout's src to run instead.")
    args = parser.parse_args()
    if args.code is not None:
        sys.path.insert(0, str(args.code.resolve()))
        for name in [m for m in sys.modules if m == "daytwo" or m.startswith("daytwo.")]:
            del sys.modules[name]
    result = measure(args.data, args.engine, args.step)
    import daytwo
    from bench.read_ab import git_head

    src = Path(daytwo.__file__).parents[1]
    dirty = subprocess.run(
        ["git", "-C", str(src), "status", "--porcelain", "--", "."], capture_output=True, text=True
    ).stdout.strip()
    result = {
        "benchmark": "analyze_memory",
        "environment": _environment(),
        # The commit whose code ran (with uncommitted changes where ``dirty``).
        "commit": git_head(src),
        "dirty": bool(dirty),
        **result,
    }
    name = "analyze_memory" + (f"_{args.label}" if args.label else "")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "rises"}, indent=2))


if __name__ == "__main__":
    main()
