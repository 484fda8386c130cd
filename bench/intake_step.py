"""Two steps of every look of the demo's replay, timed by CPU on a demo already replayed: the
backlog's intake of a run's findings and the SLO detector (its catalog targets' queries).

Each look of ``daytwo demo`` takes the findings its run changed into the backlog
(:func:`daytwo.backlog.intake.absorb_detected`) and runs the ``slo_breach`` detector over its
window. This times both on the demo's last look, over and over, in a child process per side,
two revisions alternating (``--base-src``: another revision's ``src`` folder, timed the same
way in the same run), and gives the median CPU seconds of a call of each:

- ``intake``: each deployment's whole intake (every finding it holds, seen again: what most
  looks do with their findings) on a copy of the demo's ledger, on the demo's clock;
- ``slo_breach``: the detector over each deployment's last window of the demo's events;
- ``catalog_targets``: of it, the values of the deployment's targets on catalog metrics (those
  not monitored per conversation), each computed by :func:`daytwo.detect.targets.target_values`
  (summed over the targets).

Run ``python -m bench.intake_step --data DIR [--base-src DIR] [--rounds N] [--label NAME]``,
``DIR`` a demo built by ``daytwo demo --no-serve`` (its data folder). Writes
``bench/results/intake_step[_NAME].json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent
# Calls of each step a child times (after one call that warms it).
CALLS = 5


def _cpu(call: Any) -> float:
    started = time.process_time()
    call()
    return time.process_time() - started


def child(data: Path) -> dict[str, Any]:
    """One side: the median CPU seconds of a call of each step, per deployment."""
    from daytwo import clock
    from daytwo.backlog.intake import absorb_detected
    from daytwo.backlog.policy import BacklogPolicy
    from daytwo.deployments.service import list_deployments
    from daytwo.detect.data import DeploymentInfo
    from daytwo.detect.registry import select
    from daytwo.detect.runner import analysis_window, load_data
    from daytwo.pipeline.plugins import plugin_manager
    from daytwo.settings import Settings
    from daytwo.store.events import open_event_store
    from daytwo.store.ledger import Ledger

    manifest = json.loads((data / "demo-manifest.json").read_text())
    through = datetime.fromisoformat(manifest["through"].replace("Z", "+00:00"))
    plugin_manager()  # the detectors registered, as an analysis has them
    from daytwo.detect.cells import MONITORED_BY_ID
    from daytwo.detect.targets import target_values
    from daytwo.metrics.catalog import REGISTRY

    out: dict[str, Any] = {"intake": {}, "slo_breach": {}, "catalog_targets": {}}
    with tempfile.TemporaryDirectory(prefix="daytwo-bench-intake-") as tmp:
        shutil.copy(data / "ledger.sqlite", Path(tmp) / "ledger.sqlite")
        ledger = Ledger(f"sqlite:///{Path(tmp) / 'ledger.sqlite'}")
        policy = BacklogPolicy.from_settings(Settings(demo=True))
        try:
            deployments = list_deployments(ledger)
            with clock.frozen_at(through):
                for dep in deployments:
                    absorb_detected(ledger, policy, deployment=dep.name)  # warm, settle
                    times = [
                        _cpu(lambda d=dep.name: absorb_detected(ledger, policy, deployment=d))
                        for _ in range(CALLS)
                    ]
                    out["intake"][dep.name] = statistics.median(times)
        finally:
            ledger.dispose()
    slo = select(["slo_breach"])[0]
    with open_event_store(f"duckdb:///{data / 'events.duckdb'}", read_only=True) as events:
        volumes = {v.deployment: v for v in events.volumes()}
        for dep in deployments:
            vol = volumes.get(dep.name)
            if vol is None or vol.first_started_at is None:
                continue
            window = analysis_window(dep, vol.first_started_at, through)
            if window is None:
                continue
            info = DeploymentInfo(dep.name, kind=str(dep.kind), targets=dict(dep.targets))
            look = load_data(events, info, window, [slo.needs])
            slo.run(look)  # warm
            times = [_cpu(lambda look=look: slo.run(look)) for _ in range(CALLS)]
            out["slo_breach"][dep.name] = statistics.median(times)
            catalog = [
                REGISTRY[m]
                for m in dep.targets
                if m not in MONITORED_BY_ID and m in REGISTRY and REGISTRY[m].targetable
            ]

            def values(look: Any = look, catalog: Any = catalog) -> None:
                for metric in catalog:
                    target_values(metric, look)

            values()  # warm
            out["catalog_targets"][dep.name] = statistics.median(_cpu(values) for _ in range(CALLS))
    return out


def _side(src: Path, data: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{ROOT}"}
    done = subprocess.run(
        [sys.executable, "-m", "bench.intake_step", "--child", "--data", str(data)],
        env=env, cwd=ROOT, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="A built demo's data folder.")
    parser.add_argument("--base-src", type=Path, help="Another revision's src, timed alongside.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--label", default="")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.data)))
        return
    sides = {"this": ROOT / "src"}
    if args.base_src:
        sides = {"base": args.base_src.resolve(), **sides}
    rounds: list[dict[str, Any]] = []
    for _ in range(args.rounds):
        for name, src in sides.items():  # alternating, base first
            load = round(os.getloadavg()[0], 2)
            rounds.append({"side": name, "load_average": load, **_side(src, args.data)})
    medians: dict[str, Any] = {}
    for name in sides:
        mine = [r for r in rounds if r["side"] == name]
        medians[name] = {
            step: {
                dep: round(statistics.median(r[step][dep] for r in mine), 4)
                for dep in mine[0][step]
            }
            for step in ("intake", "slo_breach", "catalog_targets")
        }
    out = {
        "benchmark": "intake_step",
        "environment": {
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "load_average": [round(x, 2) for x in os.getloadavg()],
        },
        "calls_per_side": CALLS,
        "median_cpu_seconds_per_call": medians,
        "rounds": rounds,
    }
    RESULTS.mkdir(exist_ok=True)
    name = f"intake_step{'_' + args.label if args.label else ''}.json"
    (RESULTS / name).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
