"""The plan's ``no_emerging_gap`` check's read alone: its time and peak memory.

For one deployment of a built data dir (``python -m bench.detect``'s speed run, or ``daytwo
demo --no-serve --no-history``'s), each measurement is a fresh process that opens the events
store read-only and reads, as a first evaluation in a process does (nothing kept yet), the
deployment's conversations per day and the words of its unanswered questions per day from 90
days before its last day to its end (``gap_check.read_counts``, the whole deployment as
scope). It reports the seconds, the process's peak resident set above what it held before, and
a digest of the counts (the same on both sides when the answers are). With ``--base SRC`` the
measurements alternate between this checkout's code and the code in ``SRC`` (another
checkout's ``src``), round by round, and the medians of each side are kept.

    python -m bench.gap_check_read --data DIR [--engine clickhouse] [--deployment care-bot]
        [--base SRC] [--rounds 3] [--label NAME]

Writes ``bench/results/gap_check_read[_NAME].json``.
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
from datetime import UTC, datetime, timedelta

from daytwo.plan.gap_check import read_counts
from daytwo.store.events import open_event_store


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


url, dep = sys.argv[1], sys.argv[2]
out = {}
with open_event_store(url, read_only=True) as ev:
    span = ev.query("SELECT max(started_at) AS b FROM interactions WHERE deployment = ?", [dep])
    b = span["b"][0].as_py()
    b = b if b.tzinfo else b.replace(tzinfo=UTC)
    end = datetime.combine(b.date() + timedelta(days=1), datetime.min.time(), UTC)
    before = rss_mb()
    t0 = time.perf_counter()
    conversations, words = read_counts(ev, dep, None, (end - timedelta(days=90)).date(), end)
    out["seconds"] = round(time.perf_counter() - t0, 2)
    out["peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before)
    out["days"] = len(words)
    out["words"] = sum(len(c) for c in words.values())
    shown = repr(sorted((str(d), sorted(c.items())) for d, c in words.items()))
    shown += repr(sorted((str(d), n) for d, n in conversations.items()))
    out["digest"] = hashlib.sha256(shown.encode()).hexdigest()[:16]
print(json.dumps(out))
"""


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.gap_check_read", description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="a built data dir")
    parser.add_argument("--engine", choices=["duckdb", "clickhouse"], default="duckdb")
    parser.add_argument("--deployment", default="care-bot")
    parser.add_argument("--base", type=Path, help="another checkout's src, to alternate with")
    parser.add_argument("--rounds", type=int, default=3)
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
            "peak_mb_median": statistics.median(r["peak_mb"] for r in rs),
            "seconds": [r["seconds"] for r in rs],
            "peak_mb": [r["peak_mb"] for r in rs],
            "days": rs[0]["days"],
            "words": rs[0]["words"],
            "digests": sorted({r["digest"] for r in rs}),
        }
        for side, rs in runs.items()
    }
    result = {
        "benchmark": "gap_check_read",
        "environment": _environment(),
        "engine": args.engine,
        "deployment": args.deployment,
        "commits": {side: git_head(src) for side, src in both.items()},
        "load_average_median": statistics.median(loads),
        "load_average_range": [min(loads), max(loads)],
        "rounds": args.rounds,
        "sides": summary,
    }
    name = f"gap_check_read{'_' + args.label if args.label else ''}.json"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n")
    medians = {
        side: {k: v for k, v in x.items() if k.endswith("median")} for side, x in summary.items()
    }
    print(json.dumps(medians, indent=1))


if __name__ == "__main__":
    main()
