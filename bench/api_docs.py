"""How soon the API docs are usable in a real browser.

A real `daytwo serve` (the whole API mounted, so the OpenAPI document is the one a user gets)
and Debian's chromium driven by Playwright. Each run opens `/api/docs` in a fresh browser
context (no cache) and times from the navigation to the moment the first operation of the
Swagger UI's operation groups (tags) are listed and the Authorize button can be pressed: the
page is usable. Opening the first group until its operations show is timed too. The first
run is reported apart (it includes the server's first build of the OpenAPI document); the
target (≤ 1.5 s) is judged on the median of the others.

    python -m bench api_docs --repeat 5
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

TARGET_S = 1.5
CHROMIUM = os.environ.get("DAYTWO_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def run(
    work: Path,
    *,
    repeat: int,
    free_port: Callable[[], int],
    admin_key: Callable[[Path], str],
) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    data = work / "api-docs"
    admin_key(data)  # a migrated ledger, as a served deployment has
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DAYTWO_DATA_DIR": str(data), "DAYTWO_ANALYZE_INTERVAL_MINUTES": "0"}
    server = subprocess.Popen(
        [sys.executable, "-m", "daytwo.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(url)
        document = httpx.get(url + "/api/openapi.json", timeout=60)
        document.raise_for_status()
        operations = sum(len(p) for p in document.json()["paths"].values())
        times: list[float] = []
        opens: list[float] = []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            try:
                for _ in range(max(repeat, 5) + 1):
                    context = browser.new_context()
                    page = context.new_page()
                    started = time.perf_counter()
                    page.goto(url + "/api/docs", wait_until="commit")
                    tags = page.locator("#swagger-ui .opblock-tag")
                    tags.first.wait_for(state="visible", timeout=60_000)
                    page.locator("#swagger-ui button.authorize").wait_for(
                        state="visible", timeout=60_000
                    )
                    times.append(time.perf_counter() - started)
                    clicked = time.perf_counter()
                    tags.first.click()  # the operations of a tag render when it is opened
                    page.locator("#swagger-ui .opblock").first.wait_for(
                        state="visible", timeout=60_000
                    )
                    opens.append(time.perf_counter() - clicked)
                    context.close()
            finally:
                browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    median = statistics.median(times[1:])
    return {
        "operations": operations,
        "openapi_bytes": len(document.content),
        "first_seconds": times[0],
        "median_seconds": median,
        "runs_seconds": times[1:],
        "open_a_tag_median_seconds": statistics.median(opens[1:]),
        "target_seconds": TARGET_S,
        "met": median <= TARGET_S,
    }


def _wait(url: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code < 600:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"daytwo serve did not answer on {url}")
