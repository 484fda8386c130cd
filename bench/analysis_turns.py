"""What an analysis reads for its detectors, and what they find: the turns it holds, the CPU
and memory of the read, and a digest of every finding.

For each deployment of a built data dir (``python -m bench.detect``'s speed run), a fresh
process per measurement opens the events store read-only and does what one `daytwo analyze`
look does: the window as the analysis sets it, :func:`~daytwo.detect.runner.load_data` with
every registered detector's needs (the contributed adoption detectors included), then each
detector over that data. It reports the turns read (rows, Arrow MB), the read's CPU seconds
(user + system) and its rise of the peak resident set above what the process held before
(``/proc/self/clear_refs``), the detectors' CPU seconds, the process's peak resident set, and a
digest of the findings (fingerprint, title, evidence, measures, details and impact, every
float to 12 significant digits: the engine's parallel sums differ in their last digits from
run to run). The knowledge gaps
detector's data is read with the others (its engine reads are part of the load), but it is
not run by default: its embedding takes most of the time and reads no turn (``--gaps`` runs
it too). With ``--base SRC`` the measurements alternate between this checkout's code and the
code in ``SRC`` (another checkout's ``src``), round by round, the order flipped every other
round, and each side's medians are kept.

    python -m bench.analysis_turns --data DIR [--engine clickhouse] [--base SRC]
        [--rounds 3] [--gaps] [--label NAME]

Writes ``bench/results/analysis_turns[_NAME].json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from bench.__main__ import RESULTS, _environment
from bench.read_ab import CHILD_PRELUDE, alternate, events_url, git_head, run_child, sides

CHILD = (
    CHILD_PRELUDE
    + r"""
import dataclasses, hashlib, json, os, sys
from datetime import UTC, datetime, timedelta

from daytwo.deployments.service import get_deployment
from daytwo.detect.data import DeploymentInfo
from daytwo.detect.registry import detectors
from daytwo.detect.runner import analysis_window, load_data
from daytwo.pipeline.plugins import plugin_manager
from daytwo.settings import Settings
from daytwo.store.events import open_event_store
from daytwo.store.ledger import Ledger


def status_mb(key):
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith(key)) / 1024


# Every float to 12 significant digits: the sums the engine adds in parallel differ from run
# to run in their last digits (main's code against itself too).
def canon(x):
    if isinstance(x, float):
        return float(f"{x:.12g}")
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return canon(dataclasses.asdict(x))
    if isinstance(x, dict):
        return {str(k): canon(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [canon(v) for v in x]
    return x


def measure(m):
    return None if m is None else [canon(m.value), m.n]


def cpu():
    t = os.times()
    return t.user + t.system


url, data_dir, gaps = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
plugin_manager()  # the contributed detectors join the registry, as in an analysis
chosen = detectors()
needs = [d.needs for d in chosen]
run = [d for d in chosen if gaps or d.id != "knowledge_gap"]
settings = Settings(data_dir=data_dir, events_url=url)
ledger = Ledger(settings.resolved_ledger_url)
out = {"detectors_run": [d.id for d in run], "deployments": {}}
with open_event_store(url, read_only=True) as events:
    for vol in events.volumes():
        dep = get_deployment(ledger, vol.deployment)
        end = min(datetime.now(UTC), vol.last_started_at + timedelta(seconds=1))
        window = analysis_window(dep, vol.first_started_at, end)
        if window is None:
            continue
        info = DeploymentInfo(vol.deployment, str(dep.kind), dict(dep.targets))
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        held = status_mb("VmRSS:")
        c0 = cpu()
        data = load_data(events, info, window, needs)
        read_cpu = cpu() - c0
        read_rise = status_mb("VmHWM:") - held
        c0 = cpu()
        found = []
        for d in run:
            found += d.run(data)
        detect_cpu = cpu() - c0
        rows = sorted(
            json.dumps([f.fingerprint, f.title, list(f.evidence), measure(f.baseline),
                        measure(f.current), canon(f.details), canon(f.impact)],
                       sort_keys=True, default=str)
            for f in found
        )
        out["deployments"][vol.deployment] = {
            "interactions": data.interactions.num_rows,
            "turn_rows": data.turns.num_rows,
            "turn_columns": data.turns.column_names,
            "turns_mb": round(data.turns.nbytes / 2**20, 1),
            "read_cpu_s": round(read_cpu, 2),
            "read_rise_mb": round(read_rise),
            "detect_cpu_s": round(detect_cpu, 2),
            "findings": len(found),
            "digest": hashlib.sha256("\n".join(rows).encode()).hexdigest()[:16],
        }
        del data
out["peak_rss_mb"] = round(status_mb("VmHWM:"))
out["cpu_s"] = round(cpu(), 2)
print(json.dumps(out))
"""
)

_PER_DEPLOYMENT = ("read_cpu_s", "read_rise_mb", "detect_cpu_s")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.analysis_turns", description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="a built data dir")
    parser.add_argument("--engine", choices=["duckdb", "clickhouse"], default="duckdb")
    parser.add_argument("--base", type=Path, help="another checkout's src, to alternate with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--gaps", action="store_true", help="run the knowledge gaps too")
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    url = events_url(args.data, args.engine)
    both = sides(args.base)
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in both}

    def measure(side: str, src: Path) -> None:
        r = run_child(CHILD, src, url, str(args.data), "1" if args.gaps else "0")
        runs[side].append(r)
        brief = {
            d: (x["turn_rows"], x["read_cpu_s"], x["digest"]) for d, x in r["deployments"].items()
        }
        print(side, r["cpu_s"], "s", r["peak_rss_mb"], "MB", brief, flush=True)

    loads = alternate(both, args.rounds, measure)
    summary: dict[str, Any] = {}
    for side, rs in runs.items():
        first = rs[0]
        summary[side] = {
            "cpu_s_median": statistics.median(r["cpu_s"] for r in rs),
            "peak_rss_mb_median": statistics.median(r["peak_rss_mb"] for r in rs),
            "cpu_s": [r["cpu_s"] for r in rs],
            "peak_rss_mb": [r["peak_rss_mb"] for r in rs],
            "detectors_run": first["detectors_run"],
            "deployments": {
                dep: {k: v for k, v in x.items() if k not in _PER_DEPLOYMENT and k != "digest"}
                | {
                    f"{k}_median": statistics.median(r["deployments"][dep][k] for r in rs)
                    for k in _PER_DEPLOYMENT
                }
                | {"digests": sorted({r["deployments"][dep]["digest"] for r in rs})}
                for dep, x in first["deployments"].items()
            },
        }
    result = {
        "benchmark": "analysis_turns",
        "environment": _environment(),
        "engine": args.engine,
        "commits": {side: git_head(src) for side, src in both.items()},
        "load_average_median": statistics.median(loads),
        "load_average_range": [min(loads), max(loads)],
        "rounds": args.rounds,
        "sides": summary,
    }
    name = f"analysis_turns{'_' + args.label if args.label else ''}.json"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({s: {k: v for k, v in x.items() if k != "detectors_run"}
                      for s, x in summary.items()}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
