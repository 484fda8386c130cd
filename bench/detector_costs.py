"""What each detector costs in `daytwo analyze`: its peak memory and CPU, one by one.

Over a demo built by ``bench.detect`` (``--work`` holds ``speed-<engine>``), in a fresh process
per engine: each deployment's data is read once as the analysis reads it (the events engine's
reads timed apart), then every detector runs on it in turn. For each step the process's peak
resident set is reset first (``/proc/self/clear_refs``), so a step's *rise* is how far above
the memory held before it the process went while it ran (the data read stays held, as in the
analysis); CPU is the process's user + system seconds for the step. The findings
(fingerprint, title, evidence) are written too, so two codes can be compared on the same data.

    python -m bench.detector_costs --work DIR [--engine clickhouse] [--name NAME]
        [--code SRC] [--only DETECTOR ...]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# The child scripts' measure of one step: its CPU, and how far the resident set rose above what
# the process held before it (its peak reset first); ``bench.engine_reads`` shares it.
MEASURED_STEP = r"""
def rss():
    status = open('/proc/self/status').read().splitlines()
    get = lambda k: next(int(l.split()[1]) for l in status if l.startswith(k)) / 1024
    return get('VmRSS:'), get('VmHWM:')

def step(fn):
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')
    held, _ = rss()
    t0 = os.times()
    out = fn()
    t1 = os.times()
    _, peak = rss()
    cpu = (t1.user - t0.user) + (t1.system - t0.system)
    return out, {
        "cpu_s": round(cpu, 3), "rise_mb": round(peak - held, 1), "held_mb": round(held, 1)
    }

"""

_CHILD = (
    r"""
import json, os, sys, time
from datetime import UTC, datetime, timedelta
from daytwo.detect.data import DeploymentInfo
from daytwo.detect.registry import detectors
from daytwo.detect.runner import analysis_window, engine_reads, _engine_read, load_data
from daytwo.deployments.service import get_deployment
from daytwo.settings import Settings
from daytwo.store.events import open_event_store
from daytwo.store.ledger import Ledger

"""
    + MEASURED_STEP
    + r"""
work, url, only = sys.argv[1], sys.argv[2] or None, sys.argv[3].split(",") if sys.argv[3] else None
settings = Settings(data_dir=work, events_url=url)
ledger = Ledger(settings.resolved_ledger_url)
result = {}
with open_event_store(settings.resolved_events_url, read_only=True) as events:
    for vol in events.volumes():
        dep = get_deployment(ledger, vol.deployment)
        end = min(datetime.now(UTC), vol.last_started_at + timedelta(seconds=1))
        window = analysis_window(dep, vol.first_started_at, end)
        if window is None:
            continue
        info = DeploymentInfo(vol.deployment, str(dep.kind), dict(dep.targets))
        chosen = [d for d in detectors() if only is None or d.id in only]
        needs = [d.needs for d in chosen]
        steps = {}
        hist = min(window.baseline_start, window.current_end - timedelta(weeks=8))
        for name, r in engine_reads(needs).items():
            table, cost = step(lambda r=r: _engine_read(events, info, r, *r.span(window, hist)))
            steps["read " + name] = {**cost, "rows": table.num_rows}
            del table
        data, cost = step(lambda: load_data(events, info, window, needs))
        steps["load_data (all)"] = {**cost, "interactions": data.interactions.num_rows}
        found = {}
        for d in chosen:
            out, cost = step(lambda d=d: d.run(data))
            steps[d.id] = {**cost, "findings": len(out)}
            found[d.id] = sorted([f.fingerprint, f.title, list(f.evidence)] for f in out)
        result[vol.deployment] = {"steps": steps, "fingerprints": found}
print(json.dumps(result))
"""
)


def measure(
    work: Path, engine: str, pythonpath: str | None, only: tuple[str, ...] = ()
) -> dict[str, Any]:
    """One run over the demo in ``work``: every detector, or those of ``only`` (and what
    they need read)."""
    url = f"chdb:///{work / 'clickhouse'}" if engine == "clickhouse" else ""
    env = {**os.environ}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    load = os.getloadavg()[0]
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(work), url, ",".join(only)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"detector costs failed:\n{proc.stderr[-4000:]}")
    return {
        "engine": engine,
        "load_average_before": round(load, 2),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "deployments": json.loads(proc.stdout.strip().splitlines()[-1]),
    }


def run(
    work: Path, n: int, engines: tuple[str, ...] = ("duckdb", "clickhouse"), repeat: int = 1
) -> dict[str, Any]:
    """Build the demo at ``n`` interactions on each engine (``work/speed-<engine>``), then
    measure it ``repeat`` times: per engine and deployment, each step's median CPU seconds and
    memory rise, with every run and the findings of the last."""
    from bench.detect import _build  # imports the whole product: load it only when asked for

    spawn = multiprocessing.get_context("spawn")
    out: dict[str, Any] = {"interactions_asked": n}
    for engine in engines:
        target = work / f"speed-{engine}"
        url = f"chdb:///{target / 'clickhouse'}" if engine == "clickhouse" else None
        # Built in a process of its own: chDB keeps its data folder for the process's life.
        with spawn.Pool(1) as pool:
            build_s, interactions, turns = pool.apply(_build, (target, n, url))
        runs = [measure(target, engine, None) for _ in range(repeat)]
        medians: dict[str, Any] = {}
        for dep, found in runs[-1]["deployments"].items():
            medians[dep] = {
                step: {
                    k: statistics.median(r["deployments"][dep]["steps"][step][k] for r in runs)
                    for k in ("cpu_s", "rise_mb")
                }
                | {k: v for k, v in cost.items() if k not in ("cpu_s", "rise_mb", "held_mb")}
                for step, cost in found["steps"].items()
            }
        out[engine] = {
            "build_seconds": build_s,
            "interactions": interactions,
            "turns": turns,
            "median": medians,
            "runs": runs,
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.detector_costs", description=__doc__)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--engine", choices=["duckdb", "clickhouse"], default="duckdb")
    parser.add_argument("--code", default=None, help="a source folder to run instead (PYTHONPATH)")
    parser.add_argument("--name", default="detector_costs")
    parser.add_argument(
        "--only", nargs="+", default=[], help="these detectors only (and what they need read)"
    )
    args = parser.parse_args()
    from bench.__main__ import RESULTS, _environment

    result = {
        "benchmark": args.name,
        "environment": _environment(),
        **measure(args.work / f"speed-{args.engine}", args.engine, args.code, tuple(args.only)),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
