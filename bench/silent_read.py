"""The silent-failures engine reads alone: their time and the memory DuckDB takes for them.

For one deployment of a built data dir (``python -m bench.detect``'s speed run, or ``daytwo
demo --no-serve --no-history``'s), each measurement is a fresh process that opens the events
store read-only and computes the two reads as one analysis does (``silent_signal_days`` over
the whole history, ``silent_flagged`` over the last seven days, the look ending at the last
midnight) and then as a replay's history of 31 daily looks reads them (both over the
history's span). It reports the seconds of each and the process's peak resident set above
what it held before the reads (DuckDB's working memory for them), and a digest of the rows.
With ``--base SRC`` the measurements alternate between this checkout's code and the code in
``SRC`` (another checkout's ``src``), round by round, and the medians of each side are kept.

    python -m bench.silent_read --data DIR [--deployment care-bot] [--base SRC] [--rounds 5]
        [--label NAME]

Writes ``bench/results/silent_read[_NAME].json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from bench.__main__ import RESULTS, _environment
from bench.read_ab import CHILD_PRELUDE, alternate, git_head, run_child, sides

CHILD = (
    CHILD_PRELUDE
    + r"""
import hashlib, json, resource, sys, time
from datetime import UTC, datetime, timedelta

from daytwo.detect.runner import _engine_read, _spans, analysis_window, read_history
from daytwo.detect.data import DeploymentInfo
from daytwo.detect.registry import get_detector
from daytwo.detect.silent import FLAGGED, SIGNAL_DAYS
from daytwo.store.events import open_event_store


def digest(table):
    rows = sorted(map(repr, table.to_pylist()))
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()[:16]


url, dep, mode = sys.argv[1], sys.argv[2], sys.argv[3]
info = DeploymentInfo(dep)
out = {}
with open_event_store(url, read_only=True) as ev:
    a, b, n = span_of(ev, dep)
    end = datetime.combine(b.date(), datetime.min.time(), UTC)
    window = analysis_window(None, a, end)
    out["interactions"] = n
    before = rss_mb()
    t0 = time.perf_counter()
    if mode == "look":
        start = _spans(window, [get_detector("silent_failures").needs])[0]
        reads = {r.name: _engine_read(ev, info, r, *r.span(window, start))
                 for r in (SIGNAL_DAYS, FLAGGED)}
    else:
        looks = [w for d in range(31)
                 if (w := analysis_window(None, a, end - timedelta(days=30 - d))) is not None]
        reads = read_history(ev, info, looks, [get_detector("silent_failures").needs]).reads
    out["seconds"] = round(time.perf_counter() - t0, 2)
    out["read_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before)
    out["rows"] = {k: v.num_rows for k, v in sorted(reads.items())}
    out["digest"] = {k: digest(v) for k, v in sorted(reads.items())}
print(json.dumps(out))
"""
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="a data dir or events.duckdb")
    parser.add_argument("--deployment", default="care-bot")
    parser.add_argument("--base", type=Path, help="another checkout's src, to alternate with")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--modes", default="look,history")
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    db = args.data if args.data.suffix == ".duckdb" else args.data / "events.duckdb"
    url = f"duckdb:///{db}"
    both = sides(args.base)
    modes = args.modes.split(",")
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {s: {m: [] for m in modes} for s in both}

    def measure(side: str, src: Path) -> None:
        for mode in modes:
            r = run_child(CHILD, src, url, args.deployment, mode)
            runs[side][mode].append(r)
            print(side, mode, r["seconds"], "s", r["read_mb"], "MB", flush=True)

    loads = alternate(both, args.rounds, measure)
    summary = {
        side: {
            mode: {
                "seconds_median": statistics.median(r["seconds"] for r in rs),
                "read_mb_median": statistics.median(r["read_mb"] for r in rs),
                "seconds": [r["seconds"] for r in rs],
                "read_mb": [r["read_mb"] for r in rs],
                "rows": rs[0]["rows"],
                "digests": sorted({json.dumps(r["digest"], sort_keys=True) for r in rs}),
            }
            for mode, rs in by_mode.items()
        }
        for side, by_mode in runs.items()
    }
    result = {
        "benchmark": "silent_read",
        "environment": _environment(),
        "deployment": args.deployment,
        "interactions": runs[next(iter(both))][modes[0]][0]["interactions"],
        "commits": {side: git_head(src) for side, src in both.items()},
        "load_average_median": statistics.median(loads),
        "load_average_range": [min(loads), max(loads)],
        "rounds": args.rounds,
        "sides": summary,
    }
    name = f"silent_read{'_' + args.label if args.label else ''}.json"
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n")
    medians = {
        side: {m: {k: v for k, v in x.items() if k.endswith("median")} for m, x in by.items()}
        for side, by in summary.items()
    }
    print(json.dumps(medians, indent=1))


if __name__ == "__main__":
    main()
