"""The day-by-day replay of `daytwo demo --history`, timed by part, on a demo built once.

Builds the default demo for a replay (seed 7, 90 days, 2,000 interactions a day, the backlog
left to the replay) into a folder once, then runs its analysis (the replay, the knowledge
gaps, the plans: :func:`daytwo.demo.load.analyze_demo`) on a fresh copy of that folder,
timing the whole by wall clock and CPU (this process's, all threads, and its look-ahead
workers', :mod:`daytwo.pipeline.ahead`) and each detector and the hand-over to the consumers
(the parts are this process's share: the looks a worker computed are timed only as the
wait for them). A digest of what the replay recorded (every finding and
analysis run, less the columns a wall clock writes) says whether two revisions gave the same
history.

Run ``python -m bench.history_replay [--data DIR] [--label NAME]``: ``--data`` keeps the built
demo in ``DIR`` and reuses it when there (the demo's dates follow the day it was built, so
compare revisions on the same build); ``PYTHONPATH=<another revision's src>`` times that
revision's code on the same build, for a back-to-back comparison under the same load. Writes
``bench/results/history_replay[_NAME].json``.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import importlib
import json
import os
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
# Columns a wall clock writes (the build's own steps), left out of the digest.
WALL_CLOCK = {"created_at", "updated_at", "measured_at", "at", "finished_at", "started_at"}


def build(folder: Path) -> None:
    from daytwo.demo.generator import DemoConfig
    from daytwo.demo.load import build_demo
    from daytwo.settings import Settings

    os.environ["DAYTWO_DATA_DIR"] = str(folder)
    config = DemoConfig(seed=7, days=90, interactions_per_day=2000)
    build_demo(Settings(demo=True), config, history=True)


def digest(ledger: Path, through: str) -> dict[str, Any]:
    """Per table, the row count and a hash of its rows, wall-clock columns left out."""
    db = sqlite3.connect(ledger)
    out: dict[str, Any] = {}
    try:
        # What the replay's looks record; the backlog's items are left out, since those the
        # gaps' clustering after the replay opens carry the wall clock in their due dates.
        for table in ("findings", "analysis_runs", "held_findings"):
            columns = [r[1] for r in db.execute(f"PRAGMA table_info({table})")]
            kept = [c for c in columns if c not in WALL_CLOCK and c != "snapshot"]
            rows = db.execute(f"SELECT {', '.join(kept)} FROM {table} ORDER BY rowid").fetchall()
            text = json.dumps(rows, default=str).encode()
            out[table] = {"rows": len(rows), "sha256": hashlib.sha256(text).hexdigest()[:16]}
        # The items opened on the demo's clock (by the replay's looks and its people), with
        # their links; those opened after it on the wall clock are left out (their due dates
        # follow the wall clock).
        opened = "SELECT id FROM items WHERE created_at <= ?"
        for table, where in (
            ("items", f"id IN ({opened})"),
            ("item_findings", f"item_id IN ({opened})"),
        ):
            columns = [r[1] for r in db.execute(f"PRAGMA table_info({table})")]
            kept = [c for c in columns if c not in WALL_CLOCK | {"linked_at"}]
            rows = db.execute(
                f"SELECT {', '.join(kept)} FROM {table} WHERE {where} ORDER BY rowid", [through]
            ).fetchall()
            text = json.dumps(rows, default=str).encode()
            out[table] = {"rows": len(rows), "sha256": hashlib.sha256(text).hexdigest()[:16]}
    finally:
        db.close()
    return out


# (module, attribute, part): what else the replay times by part.
PARTS = (
    ("daytwo.detect.runner", "with_roots", "(roots)"),
    ("daytwo.detect.runner", "load_data", "(read events)"),
    ("daytwo.detect.runner", "look_at", "(read events)"),
    ("daytwo.detect.service", "record_findings", "(record findings)"),
    ("daytwo.backlog.consumer", "absorb_detected", "(backlog intake)"),
    ("daytwo.plan.consumer", "evaluate_gates", "(plan gates, per look)"),
    ("daytwo.notify.consumer", "sync_alerts", "(notify)"),
    ("daytwo.notify.consumer", "sync_slas", "(notify)"),
    ("daytwo.notify.consumer", "sync_gates", "(notify)"),
    ("daytwo.demo.team.DemoTeam", "_before", "(demo people)"),
    ("daytwo.demo.team.DemoTeam", "_after", "(demo people)"),
    ("daytwo.demo.load", "cluster_gaps", "(gap clustering after the replay)"),
    ("daytwo.demo.load", "seed_plan", "(seed_plan)"),
    # Wall time this process waited for looks the second process computed.
    ("daytwo.pipeline.ahead.DetectAhead", "take", "(waiting for the look-ahead worker)"),
)


def _resolve(path: str) -> Any:
    """A module, or a class of one (``package.module.Class``)."""
    try:
        return importlib.import_module(path)
    except ModuleNotFoundError:
        module, _, name = path.rpartition(".")
        return getattr(importlib.import_module(module), name)


def _wrap(owner: Any, attr: str, part: str, timed: Any) -> None:
    call = getattr(owner, attr)
    if isinstance(owner, type):

        def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            return timed(part, lambda: call(self, *args, **kwargs))

        setattr(owner, attr, method)
        return
    setattr(owner, attr, lambda *args, **kwargs: timed(part, lambda: call(*args, **kwargs)))


def replay(folder: Path) -> dict[str, Any]:
    import orjson

    from daytwo.demo.load import analyze_demo
    from daytwo.detect import registry
    from daytwo.pipeline import run as pipeline_run
    from daytwo.settings import Settings

    wall: dict[str, float] = collections.defaultdict(float)
    cpu: dict[str, float] = collections.defaultdict(float)

    def timed(name: str, call: Any, *args: Any) -> Any:
        w, c = time.perf_counter(), time.process_time()
        try:
            return call(*args)
        finally:
            wall[name] += time.perf_counter() - w
            cpu[name] += time.process_time() - c

    run_detector = registry.Detector.run
    hand_over = pipeline_run.hand_over
    registry.Detector.run = lambda self, data, params=None: timed(  # type: ignore[method-assign]
        self.id, run_detector, self, data, params
    )
    pipeline_run.hand_over = lambda manager, ctx: timed("(hand-over)", hand_over, manager, ctx)
    # The parts between and after the detectors, each by the module attribute its caller
    # looks up (parts in parentheses; a consumer's part is inside the hand-over's).
    for module, attr, part in PARTS:
        _wrap(_resolve(module), attr, part, timed)
    os.environ["DAYTWO_DATA_DIR"] = str(folder)
    manifest = orjson.loads((folder / "demo-manifest.json").read_bytes())
    w, c = time.perf_counter(), time.process_time()
    children = _children_cpu()
    done = analyze_demo(Settings(demo=True), manifest, history=True)
    own = time.process_time() - c
    ahead = _children_cpu() - children
    return {
        "seconds": round(time.perf_counter() - w, 1),
        # This process's CPU and its look-ahead workers' (ended, so counted by the kernel).
        "cpu_seconds": round(own + ahead, 1),
        "cpu_seconds_this_process": round(own, 1),
        "cpu_seconds_look_ahead_workers": round(ahead, 1),
        "findings": done.findings,
        "items": done.items,
        "gaps": done.gaps,
        "parts_seconds": {k: round(v, 1) for k, v in sorted(wall.items(), key=lambda kv: -kv[1])},
        "parts_cpu_seconds": {k: round(cpu[k], 1) for k in sorted(wall, key=lambda k: -wall[k])},
    }


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="Keep (and reuse) the built demo here.")
    parser.add_argument("--label", default="", help="Suffix of the results file.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="daytwo-bench-replay-") as tmp:
        built = args.data or Path(tmp) / "built"
        started = time.perf_counter()
        if not (built / "demo-manifest.json").exists():
            build(built)
        build_s = time.perf_counter() - started
        work = Path(tmp) / "work"
        shutil.copytree(built, work)
        load_before = os.getloadavg()
        result = replay(work)
        manifest = json.loads((work / "demo-manifest.json").read_text())
        end = datetime.fromisoformat(manifest["through"].replace("Z", "+00:00"))
        result["digest"] = digest(work / "ledger.sqlite", f"{end:%Y-%m-%d %H:%M:%S.%f}")
    out = {
        "benchmark": "history_replay",
        "environment": {
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average": [round(x, 2) for x in os.getloadavg()],
        },
        "build_seconds": round(build_s, 1) if build_s > 1 else None,
        **result,
    }
    RESULTS.mkdir(exist_ok=True)
    name = f"history_replay{'_' + args.label if args.label else ''}.json"
    (RESULTS / name).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
