"""The knowledge gaps' candidates alone: what the ``knowledge_gap`` detector reads to pick
them, its time and peak memory.

For one deployment of a built data dir (``python -m bench.detect``'s speed run, or ``daytwo
demo --no-serve --no-history``'s), each measurement is a fresh process that opens the events
store read-only, loads what the detector asks for (``load_data`` with its needs alone: every
turn of the look's windows with its text, or the engine's reads of the candidates and of the
confidently answered turns) for one look ending at the last midnight, and picks the candidate
utterances and the confident turns the clustering takes (not the clustering itself: its input
is what changed). It reports the seconds, the process's peak resident set above what it held
before, the rows read, the candidates and confident turns picked, and a digest of them (every
field, in order: the same on both sides when the inputs of the clustering are). With ``--base
SRC`` the measurements alternate between this checkout's code and the code in ``SRC`` (another
checkout's ``src``), round by round, and the medians of each side are kept.

    python -m bench.gap_candidates_read --data DIR [--engine clickhouse] [--deployment care-bot]
        [--base SRC] [--rounds 5] [--label NAME]

Writes ``bench/results/gap_candidates_read[_NAME].json``.
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

import numpy as np

from daytwo.detect.data import DeploymentInfo
from daytwo.detect.registry import get_detector
from daytwo.detect.runner import analysis_window, load_data
from daytwo.store.events import open_event_store

try:  # this side: the engine reads
    from daytwo.detect.gaps.reads import candidates, confident

    def pick(data):
        return candidates(data), confident(data)
except ImportError:  # before: every turn of the windows
    from daytwo.detect.gaps.candidates import confident_turns, find_candidates

    def pick(data):
        return (find_candidates(data.turns, data.interactions),
                confident_turns(data.turns, data.interactions))


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


url, dep = sys.argv[1], sys.argv[2]
gaps = get_detector("knowledge_gap")
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
    data = load_data(ev, DeploymentInfo(dep), window, [gaps.needs])
    t1 = time.perf_counter()
    cand, good = pick(data)
    t2 = time.perf_counter()
    out["load_seconds"] = round(t1 - t0, 2)
    out["pick_seconds"] = round(t2 - t1, 2)
    out["seconds"] = round(t2 - t0, 2)
    out["peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before)
    out["rows"] = {"turns": data.turns.num_rows,
                   **{k: v.num_rows for k, v in sorted(data.reads.items())}}
    out["candidates"] = len(cand)
    out["distinct_texts"] = len(set(cand.text))
    out["confident"] = len(good.text)
    h = hashlib.sha256()
    for part in (cand.interaction_id, cand.seq.tolist(), cand.text,
                 cand.started_at.astype("datetime64[us]").astype(np.int64).tolist(),
                 cand.journey, cand.customer_ref, cand.answer_intent,
                 np.nan_to_num(cand.answer_confidence, nan=-1.0).tolist(),
                 sorted((k, v.tolist()) for k, v in cand.signals.items()),
                 good.text, good.intent):
        h.update(repr(part).encode())
    out["digest"] = h.hexdigest()[:16]
print(json.dumps(out))
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.gap_candidates_read", description=__doc__
    )
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
            "pick_seconds_median": statistics.median(r["pick_seconds"] for r in rs),
            "peak_mb_median": statistics.median(r["peak_mb"] for r in rs),
            "seconds": [r["seconds"] for r in rs],
            "peak_mb": [r["peak_mb"] for r in rs],
            "rows": rs[0]["rows"],
            "candidates": rs[0]["candidates"],
            "distinct_texts": rs[0]["distinct_texts"],
            "confident": rs[0]["confident"],
            "digests": sorted({r["digest"] for r in rs}),
        }
        for side, rs in runs.items()
    }
    result = {
        "benchmark": "gap_candidates_read",
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
    name = f"gap_candidates_read{'_' + args.label if args.label else ''}.json"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n")
    medians = {
        side: {k: v for k, v in x.items() if k.endswith("median")} for side, x in summary.items()
    }
    print(json.dumps(medians, indent=1))


if __name__ == "__main__":
    main()
