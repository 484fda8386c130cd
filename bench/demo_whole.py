"""The whole `daytwo demo --no-serve`, two revisions in alternating A/B runs, and their ledgers
compared row by row.

Each run is a fresh process that runs the CLI's own app (``demo --no-serve --force``) into a
fresh data dir, with the source of one revision first on its path and the demo's clock pinned
(``--at``, default 2026-12-06 12:00 UTC: the generator's ``_now``, which decides the demo's last
day), so both revisions build the same 90 days and their ledgers can be compared. The runs
alternate A, B, A, B…; each is timed from outside (wall; user + system of the process and its
children, the forked look-ahead worker included). After the runs, the ledger of A's first run
is compared with B's first run, and B's two runs with each other: a column that differs between
A and B but never between two runs of B is a difference the change made (the columns two runs
of B disagree on are those a wall clock writes).

Run ``python -m bench.demo_whole --a SRC_A --b SRC_B [--pairs 2] [--name NAME]``; writes
``bench/results/NAME.json``.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
PINNED = "2026-12-06T12:00:00+00:00"
# Floats equal to this relative tolerance: the events engine sums in parallel, so two runs of
# the same code differ in the last bits of a sum (a mean's 15th digit).
TOLERANCE = 1e-9


def child(src: str, at: str) -> None:
    """One demo build in this process: ``src`` first on the path, the clock pinned at ``at``."""
    sys.path.insert(0, src)
    from datetime import datetime

    import daytwo
    from daytwo.demo import generator

    if not Path(daytwo.__file__).resolve().is_relative_to(Path(src).resolve()):
        raise SystemExit(f"daytwo came from {daytwo.__file__}, not {src}")
    pinned = datetime.fromisoformat(at)
    generator._now = lambda: pinned
    from daytwo.cli.main import app

    app(["demo", "--no-serve", "--force"], standalone_mode=False)


def run_once(src: str, at: str, keep: Path) -> dict[str, Any]:
    """One whole demo in a fresh process and data dir; its ledger copied to ``keep``."""
    with tempfile.TemporaryDirectory(prefix="demo-whole-") as tmp:
        # One string hashing for every run: a set's order (the redaction kinds an audit entry
        # lists) follows it.
        env = dict(os.environ, DAYTWO_DATA_DIR=str(Path(tmp) / "data"), PYTHONHASHSEED="0")
        cmd = [sys.executable, "-m", "bench.demo_whole", "--child", src, "--at", at]
        started = time.perf_counter()
        proc = subprocess.Popen(
            cmd, env=env, cwd=Path(__file__).resolve().parent.parent,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        output = proc.stdout.read() if proc.stdout else b""
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        if status != 0:
            sys.stderr.write(output.decode(errors="replace"))
            raise SystemExit(f"the demo failed ({status})")
        shutil.copy(Path(tmp) / "data" / "ledger.sqlite", keep)
    return {
        "wall_s": round(wall, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_mib": round(usage.ru_maxrss / 1024, 1),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
    }


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_DATA_URI = re.compile(r"data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)")


_TIME = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(\+00:00|Z)?")


def same(u: Any, v: Any, tolerance: float, times: bool = True) -> bool:
    """Whether two cells hold the same value: floats within ``tolerance`` (relative), JSON
    compared key by key, text compared with its numbers (and those of the charts it embeds)
    within ``tolerance`` and everything else exactly."""
    if u == v:
        return True
    if not times and isinstance(u, str) and isinstance(v, str):
        u, v = _TIME.sub("<time>", u), _TIME.sub("<time>", v)
        if u == v:
            return True
    if isinstance(u, float) and isinstance(v, float):
        return math.isclose(u, v, rel_tol=tolerance, abs_tol=1e-300)
    if isinstance(u, str) and isinstance(v, str):
        try:
            return same(json.loads(u), json.loads(v), tolerance, times)
        except ValueError:
            pass
        u, v = (_DATA_URI.sub(lambda m: base64.b64decode(m[1]).decode(), x) for x in (u, v))
        if _NUMBER.split(u) != _NUMBER.split(v):
            return False
        return all(
            math.isclose(float(a), float(b), rel_tol=tolerance)
            for a, b in zip(_NUMBER.findall(u), _NUMBER.findall(v), strict=True)
        )
    if isinstance(u, dict) and isinstance(v, dict):
        return u.keys() == v.keys() and all(same(u[k], v[k], tolerance, times) for k in u)
    if isinstance(u, list) and isinstance(v, list):
        return len(u) == len(v) and all(
            same(a, b, tolerance, times) for a, b in zip(u, v, strict=True)
        )
    return False


def compare(one: Path, two: Path, tolerance: float = 0.0, times: bool = True) -> dict[str, Any]:
    """Per table: rows of each, and per column how many rows differ (rows in rowid order;
    numbers within ``tolerance``, relative, count as equal; without ``times``, text that
    differs only in its timestamps too)."""
    a, b = sqlite3.connect(one), sqlite3.connect(two)
    out: dict[str, Any] = {}
    try:
        tables = [
            r[0]
            for r in a.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")
        ]
        for table in tables:
            columns = [r[1] for r in a.execute(f"PRAGMA table_info('{table}')")]
            ra = a.execute(f"SELECT * FROM '{table}' ORDER BY rowid").fetchall()
            rb = b.execute(f"SELECT * FROM '{table}' ORDER BY rowid").fetchall()
            diffs: dict[str, int] = {}
            for x, y in zip(ra, rb, strict=False):
                for name, u, v in zip(columns, x, y, strict=True):
                    if not same(u, v, tolerance, times):
                        diffs[name] = diffs.get(name, 0) + 1
            out[table] = {"rows": [len(ra), len(rb)], "differing": diffs}
    finally:
        a.close()
        b.close()
    return out


def ledger_check(keep: Path, pairs: int) -> dict[str, Any]:
    """A's first ledger against B's first; B's two first against each other (see the module)."""
    a_vs_b = compare(keep / "a0.sqlite", keep / "b0.sqlite", TOLERANCE)
    b_vs_b = compare(keep / "b0.sqlite", keep / "b1.sqlite", TOLERANCE) if pairs > 1 else {}
    made = {
        t: {
            c: n
            for c, n in v["differing"].items()
            if c not in b_vs_b.get(t, {}).get("differing", {})
        }
        for t, v in a_vs_b.items()
    }
    # The columns two runs of B disagree on, compared again with their timestamps left out.
    masked = {t: v["differing"] for t, v in b_vs_b.items() if v["differing"]}
    a_vs_b_untimed = compare(keep / "a0.sqlite", keep / "b0.sqlite", TOLERANCE, times=False)
    beyond_times = {
        t: {c: n for c, n in a_vs_b_untimed[t]["differing"].items() if c in masked.get(t, {})}
        for t in masked
    }
    counts = {t: v["rows"] for t, v in a_vs_b.items() if v["rows"][0] != v["rows"][1]}
    return {
        "tables": len(a_vs_b),
        "rows": sum(v["rows"][0] for v in a_vs_b.values()),
        "row_counts_differ": counts,
        "columns_differing_a_vs_b_only": {t: v for t, v in made.items() if v},
        "tolerance": TOLERANCE,
        "columns_differing_b_vs_b (wall clock)": masked,
        "those columns, a vs b, timestamps left out": {t: v for t, v in beyond_times.items() if v},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child")
    parser.add_argument("--at", default=PINNED)
    parser.add_argument("--a")
    parser.add_argument("--b")
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--name", default="demo_whole")
    parser.add_argument("--keep", default=None, help="folder for the runs' ledgers")
    parser.add_argument("--label-a", default=None, help="what A is, for the results")
    parser.add_argument("--label-b", default=None, help="what B is, for the results")
    parser.add_argument(
        "--recheck", action="store_true", help="only compare the ledgers kept in --keep again"
    )
    args = parser.parse_args()
    if args.child:
        child(args.child, args.at)
        return
    if args.recheck:
        path = RESULTS / f"{args.name}.json"
        result = json.loads(path.read_text())
        result["ledger"] = ledger_check(Path(args.keep), len(result["runs"]["b"]))
        result["a"] = args.label_a or result["a"]
        result["b"] = args.label_b or result["b"]
        path.write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result["ledger"], indent=1))
        return
    keep = Path(args.keep or tempfile.mkdtemp(prefix="demo-ledgers-"))
    keep.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[dict[str, Any]]] = {"a": [], "b": []}
    for i in range(args.pairs):
        for side in ("a", "b"):
            src = args.a if side == "a" else args.b
            run = run_once(src, args.at, keep / f"{side}{i}.sqlite")
            runs[side].append(run)
            print(side, i, run["wall_s"], run["cpu_s"], run["load_average_before"], flush=True)
    result = {
        "benchmark": args.name,
        "command": "daytwo demo --no-serve --force (the CLI's app in a fresh process and data "
        f"dir, the demo's clock pinned at {args.at})",
        "a": args.label_a or args.a,
        "b": args.label_b or args.b,
        "machine": f"{os.cpu_count()} cores",
        "runs": runs,
        "median": {
            side: {
                k: round(statistics.median(r[k] for r in runs[side]), 1)
                for k in ("wall_s", "cpu_s", "peak_mib")
            }
            for side in ("a", "b")
        },
        "ledger": ledger_check(keep, args.pairs),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["median"]), json.dumps(result["ledger"]["row_counts_differ"]))
    print(json.dumps(result["ledger"]["columns_differing_a_vs_b_only"]))


if __name__ == "__main__":
    main()
