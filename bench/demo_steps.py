"""Steps of `daytwo demo`, timed in CPU seconds for two revisions in alternating A/B runs,
their answers compared: the replay's reads of the events, the workaround detector over the
replay's daily looks, and the demo's weekly and monthly reports.

Both run over one demo already built (``--data``: a data dir that `daytwo demo --no-serve`
filled), each run in a fresh process with the source of one revision first on its path:

- ``reads``: each deployment's events read for the replay's daily looks as
  :func:`daytwo.pipeline.run.analyze` reads them (its groups of looks, the last group first,
  as the look-ahead worker wants them), every detector's needs, and each look the history
  read does not cover read alone (as the look itself reads it); CPU (user + system of the
  process, the engine's threads included) of those reads. The answer compared is, for
  every look, the rows of each engine read grouped by days before the end (cut ``ago``) and
  of the silent failures' flagged conversations, cut out of its group's history (or read
  alone), floats to single precision (the engine sums in parallel).
- ``workarounds``: the events of each deployment read once for the daily looks from the
  demo's first analysis day to its last (as the replay reads them), then the
  ``adoption_workarounds`` detector run on every look cut out of that read; the CPU seconds of
  the detector's calls alone are summed. The answer compared is every look's findings.
- ``reports``: the demo's report step (:func:`daytwo.demo.reports.issue_demo_reports`, dated
  as a replayed demo dates them) on a copy of the data dir whose issued reports were deleted;
  CPU (user + system of the process) and wall seconds of that call. The answer compared is
  every issued report's deployment, kind, period, version, title, as-of, numbers (JSON) and
  document (HTML), in the order issued.

Run ``python -m bench.demo_steps --data DIR --a SRC_A --b SRC_B [--rounds 5] [--name NAME]``;
writes ``bench/results/NAME.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import step_ab

STEPS = ("reads", "workarounds", "reports")


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def _reads(data: Path) -> dict[str, Any]:
    from daytwo.demo.load import FIRST_ANALYSIS_DAY
    from daytwo.deployments.service import list_deployments
    from daytwo.detect.registry import select
    from daytwo.detect.runner import engine_reads, load_data, look_at
    from daytwo.pipeline import run
    from daytwo.pipeline.plugins import plugin_manager
    from daytwo.settings import Settings
    from daytwo.store.events import open_event_store
    from daytwo.store.ledger import Ledger

    settings = Settings(data_dir=data)
    manifest = json.loads((data / "demo-manifest.json").read_text())
    start = datetime.combine(date.fromisoformat(manifest["start"]), datetime.min.time(), UTC)
    plugin_manager()  # the contributed detectors join the registry
    chosen = select(None)
    ledger = Ledger(settings.resolved_ledger_url)
    cpu, looks, alone, digest = 0.0, 0, 0, hashlib.sha256()
    try:
        with open_event_store(settings.resolved_events_url, read_only=True) as events:
            deployments = {d.name: d for d in list_deployments(ledger)}
            for v in sorted(events.volumes(), key=lambda v: v.deployment):
                dep = deployments.get(v.deployment)
                if v.first_started_at is None or v.last_started_at is None:
                    continue
                # As the demo's replay asks: from the day after ``since``, to the latest data.
                end = min(datetime.now(UTC), v.last_started_at + timedelta(seconds=1))
                days = run._replay_days(start + timedelta(days=FIRST_ANALYSIS_DAY - 1), end)
                info = run._info(v.deployment, dep)
                reads = run._Reads(events, info, dep, v.first_started_at, days, chosen)
                t = _cpu()
                reads.read_back()
                reads.read_all()
                cpu += _cpu() - t
                needs = [d.needs for d in chosen]
                compared = [
                    r
                    for r in engine_reads(needs).values()
                    if r.cut == "ago" or r.name == "silent_flagged"
                ]
                for at, history in sorted(reads.histories.items()):
                    window = next(w for a, w in reads._groups[reads._group_of[at]] if a == at)
                    if history.covers(window, needs):
                        cut = look_at(history, window)
                    else:  # read for the look alone, as the replay's look reads it
                        t = _cpu()
                        cut = load_data(events, info, window, needs)
                        cpu += _cpu() - t
                        alone += 1
                    looks += 1
                    for r in compared:
                        digest.update(f"{v.deployment} {at} {r.name}".encode())
                        digest.update(_rows(cut.reads[r.name]))
                reads.release()
    finally:
        ledger.dispose()
    return {"cpu_s": round(cpu, 3), "looks": looks, "read_alone": alone,
            "answer": digest.hexdigest()}  # fmt: skip


def _rows(table: Any) -> bytes:
    """A read's rows in one order, as bytes: floats to single precision (the events engine sums
    in parallel, so the last bits of a double differ from run to run), every row sorted."""
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = {
        name: pc.cast(col, pa.float32()) if pa.types.is_floating(col.type) else col
        for name, col in zip(table.column_names, table.columns, strict=True)
    }
    rounded = pa.table(columns)
    ordered = rounded.sort_by([(name, "ascending") for name in rounded.column_names])
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, ordered.schema) as writer:
        writer.write_table(ordered.combine_chunks())
    return bytes(sink.getvalue())


def _workarounds(data: Path) -> dict[str, Any]:
    from daytwo.adoption.detectors import WorkaroundParams, detect_adoption_workarounds
    from daytwo.demo.load import FIRST_ANALYSIS_DAY
    from daytwo.deployments.service import get_deployment
    from daytwo.detect.data import DeploymentInfo
    from daytwo.detect.registry import select as select_detectors
    from daytwo.detect.runner import analysis_window, look_at, read_history
    from daytwo.pipeline.plugins import plugin_manager
    from daytwo.settings import Settings
    from daytwo.store.events import open_event_store
    from daytwo.store.ledger import Ledger

    settings = Settings(data_dir=data)
    manifest = json.loads((data / "demo-manifest.json").read_text())
    start = datetime.combine(date.fromisoformat(manifest["start"]), datetime.min.time(), UTC)
    through = datetime.fromisoformat(manifest["through"].replace("Z", "+00:00"))
    plugin_manager()  # the adoption detectors join the registry through the plugins
    (detector,) = select_detectors(["adoption_workarounds"])
    params = WorkaroundParams()
    ledger = Ledger(settings.resolved_ledger_url)
    cpu, looks, findings, digest = 0.0, 0, 0, hashlib.sha256()
    try:
        with open_event_store(settings.resolved_events_url, read_only=True) as events:
            for name in manifest["deployments"]:
                dep = get_deployment(ledger, name)
                info = DeploymentInfo(name, kind=str(dep.kind), targets=dict(dep.targets))
                ends = [start + timedelta(days=d) for d in range(FIRST_ANALYSIS_DAY, 400)]
                windows = [
                    w
                    for end in ends
                    if end <= through and (w := analysis_window(dep, start, end)) is not None
                ]
                history = read_history(events, info, windows, [detector.needs])
                for w in windows:
                    look = look_at(history, w)
                    t = time.process_time()
                    found = detect_adoption_workarounds(look, params)
                    cpu += time.process_time() - t
                    looks += 1
                    findings += len(found)
                    digest.update(repr(found).encode())
    finally:
        ledger.dispose()
    return {"cpu_s": round(cpu, 3), "looks": looks, "findings": findings,
            "answer": digest.hexdigest()}  # fmt: skip


def _reports(data: Path) -> dict[str, Any]:
    from daytwo.demo.reports import issue_demo_reports
    from daytwo.settings import Settings

    with tempfile.TemporaryDirectory(prefix="demo-steps-") as tmp:
        copy = Path(tmp) / "data"
        shutil.copytree(data, copy)
        with sqlite3.connect(copy / "ledger.sqlite") as db:
            db.execute("DELETE FROM issued_reports")
        settings = Settings(data_dir=copy)
        manifest = json.loads((copy / "demo-manifest.json").read_text())
        before = os.times()
        t = time.perf_counter()
        issued = issue_demo_reports(settings, manifest, dated=True)
        wall = time.perf_counter() - t
        after = os.times()
        with sqlite3.connect(copy / "ledger.sqlite") as db:
            rows = db.execute(
                "SELECT deployment, kind, period, version, title, as_of, payload, html "
                "FROM issued_reports ORDER BY id"
            ).fetchall()
    kept = Path(tempfile.mkstemp(prefix="demo-steps-reports-", suffix=".json")[1])
    kept.write_text(json.dumps([list(r) for r in rows]))
    cpu = (after.user - before.user) + (after.system - before.system)
    cpu += (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return {"cpu_s": round(cpu, 3), "wall_s": round(wall, 3), "reports": issued,
            "rows": str(kept)}  # fmt: skip


def _same_reports(one: str, two: str) -> bool:
    """Whether two runs issued the same reports: every column equal, numbers (in the JSON and
    the HTML) within the events engine's summing noise (:data:`bench.demo_whole.TOLERANCE`)."""
    from bench.demo_whole import TOLERANCE, same

    a, b = (json.loads(Path(p).read_text()) for p in (one, two))
    return len(a) == len(b) and all(
        same(u, v, TOLERANCE)
        for ra, rb in zip(a, b, strict=True)
        for u, v in zip(ra, rb, strict=True)
    )


def child(src: str, step: str, data: Path) -> None:
    step_ab.child_imports(src)
    out = {"reads": _reads, "workarounds": _workarounds, "reports": _reports}[step](data)
    print(json.dumps(out))


def main() -> None:
    args = step_ab.parser(__doc__, STEPS, "demo_steps").parse_args()
    if args.child:
        child(args.child, args.step, args.data.resolve())
        return
    steps, runs = step_ab.alternate("bench.demo_steps", args)
    summary: dict[str, Any] = {}
    for step in steps:
        a, b = runs[step]["a"], runs[step]["b"]
        entry: dict[str, Any] = {
            "cpu_s_median": {
                "a": statistics.median(x["cpu_s"] for x in a),
                "b": statistics.median(x["cpu_s"] for x in b),
            },
        }
        if step in ("reads", "workarounds"):
            entry["same_answer"] = len({x["answer"] for x in a + b}) == 1
        else:
            entry["same_answer"] = all(_same_reports(a[0]["rows"], x["rows"]) for x in a + b)
            for x in a + b:
                Path(x.pop("rows")).unlink()
        if step == "reports":
            entry["wall_s_median"] = {
                "a": statistics.median(x["wall_s"] for x in a),
                "b": statistics.median(x["wall_s"] for x in b),
            }
        summary[step] = entry
    step_ab.write(args, summary, runs)


if __name__ == "__main__":
    main()
