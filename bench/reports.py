"""The reports' speed: the weekly update's page (HTML) and PDF, and the monthly review's PDF,
on a demo built at a given size (``--per-day``; 15,400 a day for 90 days is about 10 million
turns). Server time in-process: the report assembled from the stores and rendered, the PDF
laid out by WeasyPrint with its charts drawn by vl-convert; one warm-up, then the median of
``--repeat``. Targets (issue 16): weekly HTML <= 2 s, weekly PDF <= 10 s, monthly PDF <= 15 s.

    python -m bench.reports --per-day 15400              # builds the demo in a temp dir
    python -m bench.reports --per-day 15400 --analyze    # ... with its findings and backlog
    python -m bench.reports --data-dir DIR               # a demo already built there

The results record whether the store was analysed (its findings, backlog items and changes
fill the weekly update's problem, backlog and fix sections; without, they are empty).

The JSON goes to bench/results/reports.json with the machine's load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
TARGETS = {"weekly_html": 2.0, "weekly_pdf": 10.0, "monthly_pdf": 15.0}


def _build(data: Path, per_day: int, analyze: bool) -> float:
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "daytwo.cli", "demo", "--no-serve",
         "--analyze" if analyze else "--no-analyze", "--interactions-per-day", str(per_day)],
        env={**os.environ, "DAYTWO_DATA_DIR": str(data)}, check=True, capture_output=True,
    )  # fmt: skip
    return time.perf_counter() - t


def _median(fn: Callable[[], object], repeat: int) -> dict[str, Any]:
    fn()  # warm-up: imports, the store's first reads
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return {"seconds": statistics.median(runs), "runs": runs}


def measure(data: Path, repeat: int) -> dict[str, Any]:
    os.environ["DAYTWO_DATA_DIR"] = str(data)
    from sqlalchemy import text

    from daytwo.report.monthly import monthly_review
    from daytwo.report.render import monthly_html, to_pdf, weekly_body, weekly_html
    from daytwo.report.weekly import last_full_week, weekly_update
    from daytwo.settings import Settings
    from daytwo.store.events import open_event_store
    from daytwo.store.ledger import Ledger

    settings = Settings()
    ledger = Ledger(settings.resolved_ledger_url)
    with ledger.session() as session:
        # What the problems, backlog and plan sections have to read (none with --no-analyze).
        kept = {
            table: session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("findings", "items", "changes")
        }
    with open_event_store(settings.resolved_events_url) as events:
        size = events.query(
            "SELECT (SELECT count(*) FROM interactions) AS interactions, "
            "(SELECT count(*) FROM turns) AS turns, (SELECT max(started_at) FROM interactions) "
            "AS last"
        ).to_pylist()[0]
        last: datetime = size["last"].astimezone(UTC)
        week = last_full_week(last)
        month = f"{last.year}-{last.month - 1:02d}" if last.month > 1 else f"{last.year - 1}-12"
        name = "care-bot"

        def weekly_page() -> object:
            return str(weekly_body(weekly_update(ledger, events, name, week)))

        def weekly_pdf() -> object:
            u = weekly_update(ledger, events, name, week)
            return to_pdf(weekly_html(f"{name}: weekly update, {week}", u))

        def monthly_pdf() -> object:
            r = monthly_review(ledger, events, name, month)
            return to_pdf(monthly_html(f"{name}: monthly review, {month}", r))

        timings = {
            "weekly_html": _median(weekly_page, repeat),
            "weekly_pdf": _median(weekly_pdf, repeat),
            "monthly_pdf": _median(monthly_pdf, repeat),
        }
    ledger.dispose()
    met = {k: timings[k]["seconds"] <= TARGETS[k] for k in TARGETS}
    return {
        "deployment": name,
        "week": week,
        "month": month,
        "analysed": kept["findings"] > 0,
        "ledger_rows": kept,
        "interactions": size["interactions"],
        "turns": size["turns"],
        "targets_seconds": TARGETS,
        **timings,
        "met_each": met,
        "met": all(met.values()),
    }


def save(name: str, result: dict[str, Any]) -> dict[str, Any]:
    """``result`` with the machine it ran on and its load, written to bench/results/``name``."""
    result = {
        **result,
        "environment": {
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "load_average": [round(x, 2) for x in os.getloadavg()],
        },
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / name).write_text(json.dumps(result, indent=2, default=str) + "\n")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reports", description=__doc__)
    parser.add_argument("--per-day", type=int, default=15_400)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--analyze", action="store_true", help="analyse the demo it builds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="daytwo-bench-reports-") as tmp:
        data = args.data_dir or Path(tmp)
        built = None if args.data_dir else _build(data, args.per_day, args.analyze)
        result = measure(data, args.repeat)
    result = {
        "benchmark": "reports",
        "repeat": args.repeat,
        "built_seconds": built,
        "per_day": None if args.data_dir else args.per_day,
        # A store built apart: `daytwo demo --no-serve --interactions-per-day N` (analysed:
        # its findings, backlog and changes fill the weekly update's sections).
        "command": "python -m bench.reports "
        + (
            f"--data-dir DIR --repeat {args.repeat}"
            if args.data_dir
            else f"--per-day {args.per_day}"
        ),
        **result,
    }
    result = save("reports.json", result)
    print(
        json.dumps({k: v for k, v in result.items() if k != "environment"}, indent=2, default=str)
    )
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
