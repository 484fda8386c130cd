"""Server time of the analytic pages and APIs on a large demo deployment (issue: Measure).

Builds the demo generator's deployment at ``--interactions-per-day`` (15,300 a day for 90 days
is about 1.37 million interactions and 10.1 million turns: at least the issue's million
conversations and ten million turns) into a temporary data dir once, analyses it as
``daytwo demo`` does (so the findings and backlog pages list what the detectors found at that
size), then times each page
in-process through the ASGI app (server time, no network), ``--repeat`` times after one warm-up,
and writes medians to ``bench/results/pages.json``.

    python -m bench.pages --interactions-per-day 15300
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from bench.__main__ import RESULTS, _environment
from daytwo.backlog.service import list_items
from daytwo.demo.generator import DemoConfig
from daytwo.demo.load import MANIFEST, analyze_demo, build_demo
from daytwo.detect.service import count_findings
from daytwo.governance.keys import create_key
from daytwo.governance.models import KeyScope
from daytwo.server import create_app
from daytwo.settings import Settings
from daytwo.store.events import derived, open_event_store
from daytwo.store.ledger import Ledger

TARGETS_MS = {
    "overview": 300,
    "journey": 300,
    "findings": 300,
    "backlog": 300,
    "conversation_search": 200,
    "metric_api_90d_10_journeys": 150,
}


def time_urls(client: TestClient, urls: dict[str, str], repeat: int) -> dict[str, Any]:
    """Server time of each URL: one warm-up, then ``repeat`` timed requests (median, runs).
    The warm-up's time is kept too (``first_ms``): nothing the store reuses between requests
    (answers over the derived tables) is there yet."""
    timings: dict[str, Any] = {}
    for name, url in urls.items():
        t = time.perf_counter()
        client.get(url).raise_for_status()  # warm-up
        first = (time.perf_counter() - t) * 1000
        runs = []
        for _ in range(repeat):
            t = time.perf_counter()
            client.get(url).raise_for_status()
            runs.append((time.perf_counter() - t) * 1000)
        timings[name] = {"median_ms": statistics.median(runs), "runs_ms": runs, "first_ms": first}
    return timings


def events_url(data_dir: Path, engine: str) -> str | None:
    """The events store of a bench data dir: DuckDB's file, or chDB in a folder beside it."""
    return f"chdb:///{data_dir / 'clickhouse'}" if engine == "clickhouse" else None


def analysed(settings: Settings) -> float | None:
    """Run the analysis ``daytwo demo`` runs once its data is in (the findings and backlog
    pages have nothing to show without it), unless an earlier run of this bench did: the
    seconds it took, or None."""
    ledger = Ledger(settings.resolved_ledger_url)
    try:
        if count_findings(ledger):
            return None
    finally:
        ledger.dispose()
    manifest = json.loads((settings.data_dir / MANIFEST).read_text())
    t = time.perf_counter()
    analyze_demo(settings, manifest)
    return time.perf_counter() - t


def run(
    work: Path,
    *,
    repeat: int,
    per_day: int,
    data_dir: Path | None = None,
    engine: str = "duckdb",
) -> dict[str, Any]:
    """Build (or reuse) the large deployment and time each page; the result as a dict."""
    data_dir = data_dir or work / "data"
    settings = Settings(data_dir=data_dir, events_url=events_url(data_dir, engine))
    build_seconds = None
    built = data_dir / ("clickhouse" if engine == "clickhouse" else "events.duckdb")
    if not built.exists():
        t = time.perf_counter()
        build_demo(settings, DemoConfig(interactions_per_day=per_day), force=True)
        build_seconds = time.perf_counter() - t
    analyse_seconds = analysed(settings)
    # Every derived table the pages read, built as `daytwo demo` builds them (a data dir from
    # before a table existed gets it now, not half-way through the timings).
    with open_event_store(settings.resolved_events_url) as store:
        for table in derived.registered():
            store.derived_ready(table.name)
    app = create_app(settings)
    with TestClient(app) as client:
        # Timed as a real reader: a key checked on every request.
        key, _ = create_key(app.state.ledger, scope=KeyScope.admin, deployment=None)
        client.headers["Authorization"] = f"Bearer {key}"
        sizes = client.get("/api/v1/deployments").json()
        bot = next(d for d in sizes if d["name"] == "care-bot")
        end = bot["last_started_at"][:10]
        urls = {
            "overview": "/overview?deployment=care-bot",
            "journey": "/journeys/card_declined?deployment=care-bot",
            "journeys_table": "/journeys?deployment=care-bot",
            "conversation_search": "/api/v1/interactions?deployment=care-bot&q=direct+deposit",
            "conversation_page": "/conversations?deployment=care-bot&q=lost",
            # The default views: every deployment, one row per problem / the whole backlog.
            "findings": "/findings",
            "backlog": "/backlog",
            "metric_api_90d_10_journeys": (
                "/api/v1/metrics?deployment=care-bot&metric=containment_rate"
                f"&bucket=day&group_by=journey&end={end}&start="
                f"{bot['first_started_at'][:10]}"
            ),
        }
        timings = time_urls(client, urls, repeat)
        ledger: Ledger = client.app.state.ledger  # type: ignore[attr-defined]
        findings = sum(count_findings(ledger).values())
        items = len(list_items(ledger))
        for name, timing in timings.items():
            timing["target_ms"] = TARGETS_MS.get(name)
    return {
        "engine": engine,
        "interactions_per_day": per_day,
        "interactions": sum(d["interactions"] for d in sizes),
        "turns": sum(d["turns"] for d in sizes),
        "build_seconds": build_seconds,
        "analyse_seconds": analyse_seconds,
        "findings": findings,
        "items": items,
        "timings": timings,
        "met": all(
            v["median_ms"] <= v["target_ms"] for v in timings.values() if v["target_ms"] is not None
        ),
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pages")
    parser.add_argument("--interactions-per-day", type=int, default=15_300)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="Reuse a data dir built by an earlier run."
    )
    parser.add_argument(
        "--engine",
        choices=["duckdb", "clickhouse"],
        default="duckdb",
        help="Events engine: DuckDB, or ClickHouse's engine in-process (chDB).",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="daytwo-bench-pages-") as tmp:
        result = {
            "benchmark": "pages",
            "repeat": args.repeat,
            "environment": _environment(),
            **run(
                Path(tmp),
                repeat=args.repeat,
                per_day=args.interactions_per_day,
                data_dir=args.data_dir,
                engine=args.engine,
            ),
        }
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "pages.json" if args.engine == "duckdb" else f"pages_{args.engine}.json"
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "environment"}, indent=2))
    return 0 if result["met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
