"""The ledger work of `daytwo demo`'s own process, timed in CPU seconds for two revisions in
alternating A/B runs, their answers compared.

Run over a demo built by `daytwo demo --no-serve` with its history, prepared once by this
module (``--prepare DIR``: the demo built into ``DIR/data`` on the pinned clock of
:mod:`bench.demo_whole`, its ledger also kept as it stood just before the 90-day plans were
seeded, in ``DIR/ledger-before-plan.sqlite``). Each run is a fresh process with one revision's
source first on its path; the steps:

- ``seed_plan``: :func:`daytwo.demo.plan.seed_plan` on a copy of the data dir whose ledger is
  the one from before the plans; CPU seconds of the call. The answer compared is a digest of
  every row of every table the call writes to (plans, phases, records, rollouts, evaluations,
  sign-offs, findings, items, users, audit…), its wall-clock columns left out.
- ``replay_reads``: on the built demo's ledger (a copy), the reads each look of the replay
  makes of the backlog, each deployment once, median CPU seconds of a call over
  :data:`CALLS` calls: the team's open items (:func:`daytwo.backlog.service.list_items`), the
  alerts' sync (:func:`daytwo.notify.alerts.sync_alerts`, nothing left to queue) and the
  intake's read of a run's findings (:func:`daytwo.detect.service.findings_by_fingerprint`,
  every fingerprint of the deployment). The answer compared is what each returned.

Run ``python -m bench.demo_ledger --prepare DIR --a SRC`` once, then
``python -m bench.demo_ledger --data DIR --a SRC_A --b SRC_B [--rounds 5] [--name NAME]``;
writes ``bench/results/NAME.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from bench import step_ab

STEPS = ("seed_plan", "replay_reads")
BEFORE_PLAN = "ledger-before-plan.sqlite"
# Calls of each read a child times (after one call that warms it).
CALLS = 5
# Columns a wall clock (or a fresh secret) writes: equal in no two runs of the same code.
WALL = {"password_hash", "created_at", "updated_at", "evaluated_at", "recorded_at", "hash",
        "prev_hash", "last_login_at", "ts"}  # fmt: skip


def prepare(src: str, folder: Path) -> None:
    """Build the demo into ``folder/data`` (the pinned clock), keeping the ledger as it stood
    before :func:`daytwo.demo.plan.seed_plan`."""
    os.environ["DAYTWO_DATA_DIR"] = str(folder / "data")
    sys.path.insert(0, src)
    from bench.demo_whole import PINNED
    from daytwo.demo import generator, load

    seed_plan = getattr(load, "seed_plan")  # noqa: B009 (patched below, as the build calls it)

    def keeping(settings: Any, manifest: dict[str, Any]) -> None:
        shutil.copy(settings.data_dir / "ledger.sqlite", folder / BEFORE_PLAN)
        seed_plan(settings, manifest)

    setattr(load, "seed_plan", keeping)  # noqa: B010
    pinned = datetime.fromisoformat(PINNED)
    generator._now = lambda: pinned
    from daytwo.cli.main import app

    app(["demo", "--no-serve", "--force"], standalone_mode=False)


def _digest(db: Path, tables: list[str] | None = None) -> dict[str, str]:
    """Per table, a digest of its rows in rowid order, the wall-clock columns left out."""
    out: dict[str, str] = {}
    with sqlite3.connect(db) as con:
        names = [
            r[0]
            for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")
        ]
        for table in tables or names:
            columns = [r[1] for r in con.execute(f"PRAGMA table_info('{table}')")]
            keep = [c for c in columns if c not in WALL]
            h = hashlib.sha256()
            for row in con.execute(
                f"SELECT {', '.join(repr(c) for c in keep)} FROM '{table}' ORDER BY rowid"
            ):
                h.update(repr(row).encode())
            out[table] = h.hexdigest()[:16]
    return out


def _seed_plan(folder: Path) -> dict[str, Any]:
    from daytwo.demo.plan import seed_plan
    from daytwo.settings import Settings

    data = folder / "data"
    with tempfile.TemporaryDirectory(prefix="demo-ledger-") as tmp:
        copy = Path(tmp) / "data"
        shutil.copytree(data, copy)
        shutil.copy(folder / BEFORE_PLAN, copy / "ledger.sqlite")
        manifest = json.loads((copy / "demo-manifest.json").read_text())
        settings = Settings(data_dir=copy, demo=True)
        started = time.process_time()
        seed_plan(settings, manifest)
        cpu = time.process_time() - started
        digest = _digest(copy / "ledger.sqlite")
    return {"cpu_s": round(cpu, 3), "answer": digest}


def _cpu(call: Any) -> tuple[float, Any]:
    started = time.process_time()
    out = call()
    return time.process_time() - started, out


def _replay_reads(folder: Path) -> dict[str, Any]:
    from sqlalchemy import select

    from daytwo.backlog.service import list_items
    from daytwo.detect.models import FindingRecord
    from daytwo.detect.service import findings_by_fingerprint
    from daytwo.notify.alerts import sync_alerts
    from daytwo.settings import Settings
    from daytwo.store.ledger import Ledger

    data = folder / "data"
    manifest = json.loads((data / "demo-manifest.json").read_text())
    through = datetime.fromisoformat(manifest["through"].replace("Z", "+00:00"))
    out: dict[str, Any] = {"list_items": {}, "sync_alerts": {}, "findings_by_fingerprint": {}}
    answers = hashlib.sha256()
    with tempfile.TemporaryDirectory(prefix="demo-ledger-") as tmp:
        shutil.copy(data / "ledger.sqlite", Path(tmp) / "ledger.sqlite")
        ledger = Ledger(f"sqlite:///{Path(tmp) / 'ledger.sqlite'}")
        settings = Settings(data_dir=Path(tmp), demo=True)
        try:
            for name in manifest["deployments"]:
                with ledger.session() as session:
                    prints = list(
                        session.scalars(
                            select(FindingRecord.fingerprint).where(
                                FindingRecord.deployment == name
                            )
                        )
                    )
                calls: dict[str, Callable[[], Any]] = {
                    "list_items": partial(
                        list_items, ledger, deployment=name, include_closed=False, now=through
                    ),
                    "sync_alerts": partial(sync_alerts, ledger, settings, name, now=through),
                    "findings_by_fingerprint": partial(
                        findings_by_fingerprint, ledger, prints, deployment=name
                    ),
                }
                for step, call in calls.items():
                    answers.update(repr(call()).encode())  # warm; the answer compared
                    times = [_cpu(call)[0] for _ in range(CALLS)]
                    out[step][name] = round(statistics.median(times), 4)
        finally:
            ledger.dispose()
    out["cpu_s"] = round(sum(v for step in out.values() for v in step.values()), 4)
    out["answer"] = answers.hexdigest()
    return out


def child(src: str, step: str, folder: Path) -> None:
    step_ab.child_imports(src)
    out = _seed_plan(folder) if step == "seed_plan" else _replay_reads(folder)
    print(json.dumps(out))


def main() -> None:
    parser = step_ab.parser(__doc__.split("\n\n")[0], STEPS, "demo_ledger")
    parser.add_argument("--prepare", type=Path, help="build the demo into this folder")
    args = parser.parse_args()
    if args.prepare:
        args.prepare.mkdir(parents=True, exist_ok=True)
        prepare(args.a, args.prepare.resolve())
        return
    if args.child:
        child(args.child, args.step, args.data.resolve())
        return
    steps, runs = step_ab.alternate("bench.demo_ledger", args)
    summary: dict[str, Any] = {}
    for step in steps:
        a, b = runs[step]["a"], runs[step]["b"]
        answers = {json.dumps(x.pop("answer"), sort_keys=True) for x in a + b}
        entry: dict[str, Any] = {
            "cpu_s_median": {
                "a": statistics.median(x["cpu_s"] for x in a),
                "b": statistics.median(x["cpu_s"] for x in b),
            },
            "same_answer": len(answers) == 1,
        }
        if step == "replay_reads":
            entry["per_read_cpu_s_median"] = {
                side: {
                    read: {dep: statistics.median(x[read][dep] for x in xs) for dep in xs[0][read]}
                    for read in ("list_items", "sync_alerts", "findings_by_fingerprint")
                }
                for side, xs in (("a", a), ("b", b))
            }
        summary[step] = entry
    step_ab.write(args, summary, runs)


if __name__ == "__main__":
    main()
