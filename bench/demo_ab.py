"""The whole `daytwo demo --no-serve`, this checkout against another revision, in turn.

Each run is a fresh process building the default demo (seed 7, 90 days, 2,000 a day, the
history replayed day by day) into a fresh data dir, timed as a whole by wall clock and by the
CPU the kernel counts for it and its workers. The demo's last day follows the wall clock
(``daytwo.demo.generator._now``); ``--pin`` fixes it for every run, so two builds hold the same
events and their ledgers can be compared: after each run, every table that the replay, the
knowledge gaps and what follows them write (findings, runs, gaps and their members, items and
their links, history, alerts) is digested, with the timestamps that the wall clock wrote
during the run (the last look on the real clock, the run's own steps) left out, and the
tables whose digests differ between any two runs are listed. Two runs of the same code differ
already in some tables (the users' password hashes; findings, items, alerts, reports, plan
evaluations and audit entries, for reasons not yet traced): only a table equal across every
run of both sides is shown equal.

Run ``python -m bench.demo_ab --base-src DIR [--runs N] [--pin ISO] [--label NAME]``: ``DIR``
is the other revision's ``src`` (its code runs with ``PYTHONPATH=DIR``); the runs alternate,
the base first. Writes ``bench/results/demo_ab[_NAME].json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
BUDGET_S = 90
# What the demo runs, with its last day pinned (``{pin}``: an ISO instant with its zone).
PINNED = (
    "import sys; from datetime import datetime; import daytwo.demo.generator as g; "
    "g._now = lambda: datetime.fromisoformat({pin!r}); "
    "from daytwo.cli.main import main; sys.argv = ['daytwo', 'demo', '--no-serve']; main()"
)
STAMP = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d:?\d\d|Z)?")


def _run(src: Path | None, pin: str, data: Path) -> dict[str, Any]:
    env = {**os.environ, "DAYTWO_DATA_DIR": str(data)}
    env.pop("PYTHONPATH", None)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", PINNED.format(pin=pin)],
        env=env,
        cwd=data.parent,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - started
    ended_at = datetime.now(UTC)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    user = after.ru_utime - before.ru_utime
    cpu = user + after.ru_stime - before.ru_stime
    return {
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "user_s": round(user, 1),
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "digest": digest(data / "ledger.sqlite", started_at, ended_at),
    }


def _stamp(value: str, lo: datetime, hi: datetime) -> str:
    """``value`` with every timestamp the wall clock wrote during the run replaced."""

    def keep(match: re.Match[str]) -> str:
        text = match.group(0).replace(" ", "T").replace("Z", "+00:00")
        try:
            at = datetime.fromisoformat(text)
        except ValueError:
            return match.group(0)
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        return "<run>" if lo <= at <= hi else match.group(0)

    return STAMP.sub(keep, value)


def digest(ledger: Path, lo: datetime, hi: datetime) -> dict[str, Any]:
    """Per ledger table, its row count and a hash of its rows (wall-clock stamps left out)."""
    db = sqlite3.connect(ledger)
    out: dict[str, Any] = {}
    try:
        tables = [
            r[0]
            for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        ]
        for table in tables:
            rows = db.execute(f'SELECT * FROM "{table}" ORDER BY rowid').fetchall()
            text = _stamp(json.dumps(rows, default=str), lo, hi).encode()
            out[table] = {"rows": len(rows), "sha256": hashlib.sha256(text).hexdigest()[:16]}
    finally:
        db.close()
    return out


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        key: {
            "median": round(statistics.median(r[key] for r in runs), 1),
            "runs": [r[key] for r in runs],
        }
        for key in ("wall_s", "cpu_s", "user_s")
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-src", type=Path, required=True, help="The base revision's src.")
    parser.add_argument("--runs", type=int, default=2, help="Runs of each side (default 2).")
    parser.add_argument(
        "--pin", default="2026-12-07T05:00:00+00:00", help="The demo's clock (ISO, with zone)."
    )
    parser.add_argument("--label", default="", help="Suffix of the results file.")
    args = parser.parse_args()
    sides: dict[str, list[dict[str, Any]]] = {"base": [], "this": []}
    load_before = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="daytwo-bench-demo-") as tmp:
        for i in range(args.runs):
            for side, src in (("base", args.base_src.resolve()), ("this", None)):
                data = Path(tmp) / f"{side}{i}"
                result = _run(src, args.pin, data)
                shutil.rmtree(data, ignore_errors=True)
                sides[side].append(result)
                print(side, i, result["wall_s"], result["cpu_s"], result["load_average_after"])
    digests = [r["digest"] for r in sides["base"] + sides["this"]]
    differ = sorted({t for d in digests for t in d if d.get(t) != digests[0].get(t)})
    base, this = _summary(sides["base"]), _summary(sides["this"])
    out = {
        "benchmark": "demo_ab",
        "what": "daytwo demo --no-serve, default size, fresh data dir each run, whole process; "
        "base and this checkout in turn (base first), the demo's clock pinned",
        "pin": args.pin,
        "environment": {
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "load_average_before": load_before,
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "base": base,
        "this": this,
        "pair_ratios_wall": [
            round(t["wall_s"] / b["wall_s"], 3)
            for b, t in zip(sides["base"], sides["this"], strict=True)
        ],
        "budget_s": BUDGET_S,
        "met": this["wall_s"]["median"] <= BUDGET_S,
        "ledgers_equal": not differ,
        "tables_that_differ": differ,
        "runs": sides,
    }
    RESULTS.mkdir(exist_ok=True)
    name = f"demo_ab{'_' + args.label if args.label else ''}.json"
    (RESULTS / name).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({k: v for k, v in out.items() if k != "runs"}, indent=2))


if __name__ == "__main__":
    main()
