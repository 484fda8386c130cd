"""Server time of the knowledge-gaps pages on the default demo (the demo as `make demo` builds
it, analysed, so its gaps are clustered): the list's first and second page, a filtered list,
and the page of the gap with the most members. Timed in-process through the ASGI app (server
time, no network), ``--repeat`` times after one warm-up; medians in
``bench/results/gaps_pages.json``.

    python -m bench.gaps_pages                # builds the demo into a temporary data dir
    python -m bench.gaps_pages --data-dir DIR  # reuses a demo built by `daytwo demo`
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from bench.__main__ import RESULTS, _environment
from bench.pages import time_urls
from daytwo.demo.generator import DemoConfig
from daytwo.demo.load import build_demo
from daytwo.governance.keys import create_key
from daytwo.governance.models import KeyScope
from daytwo.server import create_app
from daytwo.settings import Settings

DEPLOYMENT = "care-bot"
TARGET_MS = 300


def run(work: Path, *, repeat: int, data_dir: Path | None = None) -> dict[str, Any]:
    data_dir = data_dir or work / "data"
    settings = Settings(data_dir=data_dir)
    build_seconds = None
    if not (data_dir / "events.duckdb").exists():
        t = time.perf_counter()
        build_demo(settings, DemoConfig(), force=True)
        build_seconds = time.perf_counter() - t
    app = create_app(settings)
    with TestClient(app) as client:
        key, _ = create_key(app.state.ledger, scope=KeyScope.admin, deployment=None)
        client.headers["Authorization"] = f"Bearer {key}"
        gaps = client.get(f"/api/v1/gaps?deployment={DEPLOYMENT}").json()
        largest = max(gaps, key=lambda g: g["volume"])
        journey = next(iter(largest["journeys"]))
        urls = {
            "gaps_list": f"/gaps?deployment={DEPLOYMENT}",
            "gaps_list_page_2": f"/gaps?deployment={DEPLOYMENT}&page=2&sort=volume",
            "gaps_list_filtered": f"/gaps?deployment={DEPLOYMENT}&gap_journey={journey}",
            "gap_page_largest": f"/gaps/{largest['id']}?deployment={DEPLOYMENT}",
        }
        timings = time_urls(client, urls, repeat)
    kinds: dict[str, int] = {}
    for g in gaps:
        kinds[g["kind"]] = kinds.get(g["kind"], 0) + 1
    return {
        "gaps": len(gaps),
        "kinds": kinds,
        "largest_gap_members": largest["volume"],
        "build_seconds": build_seconds,
        "target_ms": TARGET_MS,
        "timings": timings,
        "met": all(v["median_ms"] <= TARGET_MS for v in timings.values()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gaps_pages")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--data-dir", type=Path, default=None, help="A demo built earlier.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="daytwo-bench-gaps-pages-") as tmp:
        result = {
            "benchmark": "gaps_pages",
            "repeat": args.repeat,
            "environment": _environment(),
            **run(Path(tmp), repeat=args.repeat, data_dir=args.data_dir),
        }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "gaps_pages.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "environment"}, indent=2))
    return 0 if result["met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
