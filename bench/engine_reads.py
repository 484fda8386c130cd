"""What each engine read of `daytwo analyze` costs on its own: CPU, peak rise, memory after.

Over a built data dir (the speed run's of ``python -m bench.detect --speed-only``), in a fresh
process per side and round: for one deployment (or each), the interactions as the analysis
reads them, then each engine read its detectors ask for, over the span and windows the
analysis gives it. Before each step the process's peak resident set is reset
(``/proc/self/clear_refs``), so a step's *rise* is how far above the memory held before it the
process went while it ran; *after* is the resident set once the step's answer is dropped
(what the engine kept). ``--code SRC`` runs another checkout's ``src`` (main's, say) as the
base, alternating with this one round by round; each read's rows get a digest, so both sides
can be held to the same answer. ``--set`` passes engine settings (``SET ...``) to the store
first, to measure what a setting does.

    python -m bench.engine_reads --data DIR [--engine clickhouse] [--deployment NAME]
        [--reads a,b] [--code SRC] [--rounds N] [--set SETTING ...] [--name NAME]

Writes ``bench/results/engine_reads[_NAME].json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.__main__ import RESULTS, _environment
from bench.detector_costs import MEASURED_STEP

_CHILD = (
    r"""
import hashlib, json, os, sys, time
from datetime import UTC, datetime, timedelta
from daytwo.detect.data import DeploymentInfo
from daytwo.detect.registry import detectors
from daytwo.detect.runner import analysis_window, engine_reads, _engine_read, _read_interactions
from daytwo.deployments.service import get_deployment
from daytwo.settings import Settings
from daytwo.store.events import open_event_store
from daytwo.store.ledger import Ledger

"""
    + MEASURED_STEP
    + r"""
def digest(table):
    rows = sorted(repr(r) for r in zip(*(c.to_pylist() for c in table.columns)))
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()[:16]

work, engine, only, names, sets = json.loads(sys.argv[1])
url = f"chdb:///{work}/clickhouse" if engine == "clickhouse" else None
settings = Settings(data_dir=work, events_url=url)
ledger = Ledger(settings.resolved_ledger_url)
out = {}
with open_event_store(settings.resolved_events_url, read_only=True) as events:
    for s in sets:
        if engine == "clickhouse":
            from daytwo.store.events.clickhouse.transport import _Engine
            _Engine.session.query("SET " + s)
        else:
            events._con.execute("SET " + s)
    for vol in events.volumes():
        if only and vol.deployment != only:
            continue
        dep = get_deployment(ledger, vol.deployment)
        end = min(datetime.now(UTC), vol.last_started_at + timedelta(seconds=1))
        window = analysis_window(dep, vol.first_started_at, end)
        if window is None:
            continue
        info = DeploymentInfo(vol.deployment, str(dep.kind), dict(dep.targets))
        needs = [d.needs for d in detectors()]
        hist = min(window.baseline_start, window.current_end - timedelta(weeks=8))
        steps = {}
        if not names or "interactions" in names:
            t, cost = step(lambda: _read_interactions(events, info, hist, window.current_end))
            arrow_mb = round(t.nbytes / 2**20, 1)
            steps["interactions"] = {**cost, "rows": t.num_rows, "arrow_mb": arrow_mb}
            del t
            steps["interactions"]["after_mb"] = round(rss()[0], 1)
        for name, r in engine_reads(needs).items():
            if names and name not in names:
                continue
            span = (*r.span(window, hist), r.gap(window))
            t, cost = step(lambda r=r, span=span: _engine_read(events, info, r, *span))
            steps[name] = {**cost, "rows": t.num_rows, "digest": digest(t)}
            del t
            steps[name]["after_mb"] = round(rss()[0], 1)
        out[vol.deployment] = steps
print(json.dumps(out))
"""
)


def measure(
    data: Path, engine: str, deployment: str, reads: list[str], sets: list[str], code: str | None
) -> dict[str, Any]:
    env = {**os.environ}
    if code:
        env["PYTHONPATH"] = code
    load = os.getloadavg()[0]
    arg = json.dumps([str(data), engine, deployment, reads, sets])
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, arg], capture_output=True, text=True, env=env, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"engine reads failed:\n{proc.stderr[-4000:]}")
    return {
        "load_average_before": round(load, 2),
        "deployments": json.loads(proc.stdout.strip().splitlines()[-1]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.engine_reads", description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="A built data dir.")
    parser.add_argument("--engine", choices=["duckdb", "clickhouse"], default="duckdb")
    parser.add_argument("--deployment", default="", help="One deployment (default: each).")
    parser.add_argument("--reads", default="", help="Comma-separated reads (default: all).")
    parser.add_argument("--code", default=None, help="A base checkout's src, alternating.")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--set", action="append", default=[], help="An engine setting.")
    parser.add_argument("--name", default="", help="Suffix of the results file.")
    args = parser.parse_args()
    reads = [r for r in args.reads.split(",") if r]
    sides = {"this": None, **({"base": args.code} if args.code else {})}
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    for i in range(args.rounds):
        order = list(sides) if i % 2 == 0 else list(reversed(sides))
        for side in order:
            runs[side].append(
                measure(args.data, args.engine, args.deployment, reads, args.set, sides[side])
            )
    medians: dict[str, Any] = {}
    for side, done in runs.items():
        medians[side] = {
            dep: {
                read: {
                    k: statistics.median(r["deployments"][dep][read][k] for r in done)
                    for k in ("cpu_s", "rise_mb", "after_mb")
                }
                | {"rows": cost["rows"], "digest": cost.get("digest")}
                for read, cost in steps.items()
            }
            for dep, steps in done[-1]["deployments"].items()
        }
    result = {
        "benchmark": "engine_reads",
        "environment": _environment(),
        "data": args.data.name,
        "engine": args.engine,
        "settings": args.set,
        "rounds": args.rounds,
        "median": medians,
        "runs": runs,
    }
    name = "engine_reads" + (f"_{args.name}" if args.name else "")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(medians, indent=1))


if __name__ == "__main__":
    main()
