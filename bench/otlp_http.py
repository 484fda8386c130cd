"""CPU of uvicorn receiving the OTLP bench's 740 kB request bodies, by HTTP parser and loop.

A bare ASGI app that reads each body and answers ``200``, served by uvicorn with its default
``h11`` parser and asyncio loop and with ``httptools`` and ``uvloop`` (when installed), in
alternating runs; four senders post every batch three times. Measured: the server process's CPU
per 1,000 spans. Run ``python -m bench.otlp_http`` (the alternative needs ``pip install
httptools uvloop``; they are not dependencies).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

APP = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})
"""


def _one(app_dir: Path, batches: list[bytes], http: str, loop: str) -> float:
    import psutil

    from bench.otlp import _free_port

    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--app-dir", str(app_dir), "bare:app",
         "--port", str(port), "--http", http, "--loop", loop, "--log-level", "warning"]
    )  # fmt: skip
    try:
        for _ in range(300):
            try:
                httpx.get(f"http://127.0.0.1:{port}/")
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        server = psutil.Process(proc.pid)
        before = sum(server.cpu_times()[:2])
        queue = list(batches) * 3
        lock = threading.Lock()

        def sender() -> None:
            with httpx.Client() as client:
                while True:
                    with lock:
                        if not queue:
                            return
                        body = queue.pop()
                    client.post(f"http://127.0.0.1:{port}/", content=body)

        threads = [threading.Thread(target=sender) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        cpu: float = sum(server.cpu_times()[:2]) - before
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return 1e6 * cpu / (len(batches) * 3 * 512)


def run(spans: int = 10_240, repeat: int = 3) -> dict[str, Any]:
    from bench.otlp import make_batches

    batches = make_batches(spans)
    load_before = os.getloadavg()
    out: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="daytwo-http-") as tmp:
        (Path(tmp) / "bare.py").write_text(APP)
        for _ in range(repeat):
            for http, loop in (("h11", "asyncio"), ("httptools", "uvloop")):
                out.setdefault(f"{http}+{loop}", []).append(_one(Path(tmp), batches, http, loop))
    return {
        "server_cpu_ms_per_1000_spans": out,
        "load_average_before": load_before,
        "load_average": os.getloadavg(),
    }


if __name__ == "__main__":  # pragma: no cover - by hand
    print(json.dumps(run(), indent=2))
