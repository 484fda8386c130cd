"""What the engine-read benches (``bench.silent_read``, ``bench.drift_read``,
``bench.gap_check_read``) share: each measurement is a fresh process that runs a small script
on one checkout's code, and two checkouts alternate round by round (which goes first
alternates too, so neither always follows the other)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent / "src"


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
