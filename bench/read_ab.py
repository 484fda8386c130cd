"""What the engine-read benches (``bench.silent_read``, ``bench.drift_read``,
``bench.gap_check_read``, ``bench.gap_candidates_read``) share: each measurement is a fresh
process that runs a small script on one checkout's code, and two checkouts alternate round by
round (which goes first alternates too, so neither always follows the other)."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent / "src"


# What every child script starts with (it runs on either checkout's code, so it can import no
# bench module): the resident set, and a deployment's first and last conversation start (UTC)
# and their number.
CHILD_PRELUDE = r"""
import resource
from datetime import UTC


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def span_of(ev, dep):
    span = ev.query(
        "SELECT min(started_at) AS a, max(started_at) AS b, count(*) AS n FROM interactions "
        "WHERE deployment = ?", [dep])
    a, b = span["a"][0].as_py(), span["b"][0].as_py()
    a = a if a.tzinfo else a.replace(tzinfo=UTC)
    b = b if b.tzinfo else b.replace(tzinfo=UTC)
    return a, b, span["n"][0].as_py()
"""


def sides(base: Path | None) -> dict[str, Path]:
    """This checkout's code, and ``base`` (another checkout's ``src``) where given."""
    return {"this": HERE} | ({"base": base} if base else {})


def run_child(child: str, src: Path, *args: str) -> dict[str, Any]:
    """Run ``child`` (a script that prints one JSON object last) on the code in ``src``."""
    env = dict(os.environ, PYTHONPATH=str(src))
    done = subprocess.run(
        [sys.executable, "-c", child, *args], env=env, capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def alternate(
    sides: dict[str, Path], rounds: int, measure: Callable[[str, Path], None]
) -> list[float]:
    """``measure(side, src)`` for each side, ``rounds`` times, the order flipped every other
    round; the 1-minute load average before each measurement."""
    loads: list[float] = []
    for i in range(rounds):
        for side in sides if i % 2 == 0 else reversed(list(sides)):
            loads.append(os.getloadavg()[0])
            measure(side, sides[side])
    return loads


def git_head(src: Path) -> str:
    """The short commit the checkout of ``src`` is at."""
    done = subprocess.run(
        ["git", "-C", str(src), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return done.stdout.strip()


def events_url(data: Path, engine: str) -> str:
    """The events store of a built data dir on ``engine``."""
    if engine == "clickhouse":
        return f"chdb:///{data / 'clickhouse'}"
    return f"duckdb:///{data / 'events.duckdb'}"


def engine_read_ab(
    name: str,
    child: str,
    description: str | None,
    *,
    rounds: int,
    medians: tuple[str, ...],
    firsts: tuple[str, ...],
    interactions: bool = True,
) -> None:
    """The command line of a bench that times one engine read (``child``, run with the events
    store's URL and the deployment, printing ``seconds``, ``peak_mb`` and ``digest`` among its
    figures) for this checkout and ``--base`` in turn; writes ``bench/results/NAME[_LABEL].json``
    with each side's medians of ``medians``, its runs' seconds and peaks, the first run's
    ``firsts`` and every digest seen (one, where the read gives the same rows every time)."""
    from bench.__main__ import RESULTS, _environment

    parser = argparse.ArgumentParser(prog=f"python -m bench.{name}", description=description)
    parser.add_argument("--data", type=Path, required=True, help="a built data dir")
    parser.add_argument("--engine", choices=["duckdb", "clickhouse"], default="duckdb")
    parser.add_argument("--deployment", default="care-bot")
    parser.add_argument("--base", type=Path, help="another checkout's src, to alternate with")
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    url = events_url(args.data, args.engine)
    both = sides(args.base)
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in both}

    def measure(side: str, src: Path) -> None:
        r = run_child(child, src, url, args.deployment)
        runs[side].append(r)
        print(side, r["seconds"], "s", r["peak_mb"], "MB", r["digest"], flush=True)

    loads = alternate(both, args.rounds, measure)
    summary = {
        side: {f"{k}_median": statistics.median(r[k] for r in rs) for k in medians}
        | {
            "seconds": [r["seconds"] for r in rs],
            "peak_mb": [r["peak_mb"] for r in rs],
        }
        | {k: rs[0][k] for k in firsts}
        | {"digests": sorted({r["digest"] for r in rs})}
        for side, rs in runs.items()
    }
    result: dict[str, Any] = {
        "benchmark": name,
        "environment": _environment(),
        "engine": args.engine,
        "deployment": args.deployment,
    }
    if interactions:
        result["interactions"] = runs[next(iter(both))][0]["interactions"]
    result |= {
        "commits": {side: git_head(src) for side, src in both.items()},
        "load_average_median": statistics.median(loads),
        "load_average_range": [min(loads), max(loads)],
        "rounds": args.rounds,
        "sides": summary,
    }
    out = f"{name}{'_' + args.label if args.label else ''}.json"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / out).write_text(json.dumps(result, indent=2) + "\n")
    shown = {
        side: {k: v for k, v in x.items() if k.endswith("median")} for side, x in summary.items()
    }
    print(json.dumps(shown, indent=1))
