"""The drift detector alone: what it reads and its run, their time and peak memory.

For one deployment of a built data dir (``python -m bench.detect``'s speed run, or ``daytwo
demo --no-serve --no-history``'s), each measurement is a fresh process that opens the events
store read-only, loads what the drift detector asks for (``load_data`` with its needs alone:
the turns it reads, or the engine read of first messages) for one look ending at the last
midnight, and runs it. It reports the seconds of the load and of the run, the process's peak
resident set above what it held before (the rows read and worked on), the rows read, and a
digest of the findings (the same on both sides when the answers are). With ``--base SRC`` the
measurements alternate between this checkout's code and the code in ``SRC`` (another checkout's
``src``), round by round, and the medians of each side are kept.

    python -m bench.drift_read --data DIR [--engine clickhouse] [--deployment care-bot]
        [--base SRC] [--rounds 5] [--label NAME]

Writes ``bench/results/drift_read[_NAME].json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from bench.__main__ import RESULTS, _environment
from bench.read_ab import alternate, events_url, git_head, run_child, sides

CHILD = r"""
import hashlib, json, resource, sys, time
from datetime import UTC, datetime

from daytwo.detect.data import DeploymentInfo
from daytwo.detect.registry import get_detector
from daytwo.detect.runner import analysis_window, load_data, run_detectors
from daytwo.store.events import open_event_store


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


url, dep = sys.argv[1], sys.argv[2]
drift = get_detector("drift")
out = {}
with open_event_store(url, read_only=True) as ev:
    span = ev.query(
        "SELECT min(started_at) AS a, max(started_at) AS b, count(*) AS n FROM interactions "
        "WHERE deployment = ?", [dep])
    a, b = span["a"][0].as_py(), span["b"][0].as_py()
    a = a if a.tzinfo else a.replace(tzinfo=UTC)
    b = b if b.tzinfo else b.replace(tzinfo=UTC)
    end = datetime.combine(b.date(), datetime.min.time(), UTC)
    window = analysis_window(None, a, end)
    out["interactions"] = span["n"][0].as_py()
    before = rss_mb()
    t0 = time.perf_counter()
    data = load_data(ev, DeploymentInfo(dep), window, [drift.needs])
    t1 = time.perf_counter()
    found = run_detectors(data, [drift])
    t2 = time.perf_counter()
    out["load_seconds"] = round(t1 - t0, 2)
    out["run_seconds"] = round(t2 - t1, 2)
    out["seconds"] = round(t2 - t0, 2)
    out["peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before)
    out["rows"] = {"turns": data.turns.num_rows,
                   **{k: v.num_rows for k, v in sorted(data.reads.items())}}
    shown = sorted(repr((f.kind, f.title, f.evidence, sorted(f.details.items()))) for f in found)
    out["findings"] = [f.kind for f in found]
    out["digest"] = hashlib.sha256("\n".join(shown).encode()).hexdigest()[:16]
print(json.dumps(out))
"""


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.drift_read", description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="a built data dir")
    parser.add_argument("--engine", choices=["duckdb", "clickhouse"], default="duckdb")
    parser.add_argument("--deployment", default="care-bot")
    parser.add_argument("--base", type=Path, help="another checkout's src, to alternate with")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    url = events_url(args.data, args.engine)
    both = sides(args.base)
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in both}

    def measure(side: str, src: Path) -> None:
        r = run_child(CHILD, src, url, args.deployment)
        runs[side].append(r)
        print(side, r["seconds"], "s", r["peak_mb"], "MB", r["digest"], flush=True)

    loads = alternate(both, args.rounds, measure)
    summary = {
        side: {
            "seconds_median": statistics.median(r["seconds"] for r in rs),
            "load_seconds_median": statistics.median(r["load_seconds"] for r in rs),
            "run_seconds_median": statistics.median(r["run_seconds"] for r in rs),
            "peak_mb_median": statistics.median(r["peak_mb"] for r in rs),
            "seconds": [r["seconds"] for r in rs],
            "peak_mb": [r["peak_mb"] for r in rs],
            "rows": rs[0]["rows"],
            "findings": rs[0]["findings"],
            "digests": sorted({r["digest"] for r in rs}),
        }
        for side, rs in runs.items()
    }
    result = {
        "benchmark": "drift_read",
        "environment": _environment(),
        "engine": args.engine,
        "deployment": args.deployment,
        "interactions": runs[next(iter(both))][0]["interactions"],
        "commits": {side: git_head(src) for side, src in both.items()},
        "load_average_median": statistics.median(loads),
        "load_average_range": [min(loads), max(loads)],
        "rounds": args.rounds,
        "sides": summary,
    }
    name = f"drift_read{'_' + args.label if args.label else ''}.json"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n")
    medians = {
        side: {k: v for k, v in x.items() if k.endswith("median")} for side, x in summary.items()
    }
    print(json.dumps(medians, indent=1))


if __name__ == "__main__":
    main()
