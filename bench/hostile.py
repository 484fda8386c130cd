"""The hostile-input table: each payload an outside probe sent, against a real `daytwo serve`.

Every row must be a 4xx or a success, and the server must answer ``/healthz`` after it; the
server's resident and peak memory are read from ``/proc`` after each row.

    python -m bench hostile            # or: python -m bench.hostile
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from bench.__main__ import RESULTS, _admin_key, _environment, _free_port

NDJSON = {"content-type": "application/x-ndjson"}
JSON = {"content-type": "application/json"}
START = datetime.now(UTC) - timedelta(days=1)
BAD_SEQ_TURN = {"seq": -140_531_309_942_170, "role": "user", "text": "hi"}


def record(n: int, turns: int = 2, **extra: Any) -> dict[str, Any]:
    start = START + timedelta(seconds=n)
    return {
        "id": f"h-{n}",
        "deployment": "care-bot",
        "started_at": start.isoformat(),
        "outcome": "contained",
        "turns": [
            {"seq": k, "role": "user" if k % 2 == 0 else "assistant", "text": "my card is lost"}
            for k in range(turns)
        ],
        **extra,
    }


def deep_line(levels: int) -> bytes:
    head = orjson.dumps(record(0))[:-1]
    return head + b',"x":' + b"[" * (levels - 1) + b"]" * (levels - 1) + b"}"


def ndjson(records: list[dict[str, Any]]) -> bytes:
    return b"\n".join(orjson.dumps(r) for r in records) + b"\n"


def long_turns(n: int, words: int) -> dict[str, Any]:
    rec = record(1, turns=n)
    for turn in rec["turns"]:
        turn["text"] = " ".join(["lost card"] * words)
    return rec


def own_keys(lines: int, keys: int) -> bytes:
    out = []
    for i in range(lines):
        rec = record(i)
        rec.update({f"u{i}_{k}": k for k in range(keys)})
        out.append(orjson.dumps(rec))
    return b"\n".join(out)


@dataclass(frozen=True)
class Row:
    name: str
    expect: str  # "2xx" or "4xx"
    send: Callable[[httpx.Client], httpx.Response]


def rows() -> list[Row]:
    huge = record(1)
    huge["turns"][0]["text"] = "y" * (17 * 1024 * 1024)
    big = orjson.dumps(huge)

    def post(body: bytes, headers: dict[str, str], **params: str) -> Callable[..., Any]:
        return lambda c: c.post("/api/v1/ingest", content=body, headers=headers, params=params)

    return [
        Row("NDJSON line of 14 KB nested 7,000 deep", "4xx", post(deep_line(7000), NDJSON)),
        Row("NDJSON line nested 1,000 deep", "4xx", post(deep_line(1000), NDJSON)),
        Row(
            "JSON body with a record nested 7,000 deep",
            "4xx",
            post(b'{"interactions": [' + deep_line(7000) + b"]}", JSON),
        ),
        Row(
            "one interaction of 100,000 turns (NDJSON)",
            "2xx",
            post(ndjson([long_turns(100_000, 2)]), NDJSON),
        ),
        Row(
            "one interaction of 50,000 turns and 10 MB (JSON)",
            "2xx",
            post(orjson.dumps({"interactions": [long_turns(50_000, 20)]}), JSON),
        ),
        Row("one interaction of 17 MB (over 16 MiB)", "4xx", post(big + b"\n", NDJSON)),
        Row("a body of 25 MB", "4xx", post(b"x" * (25 * 1024 * 1024), NDJSON)),
        Row("5,001 interactions", "4xx", post(ndjson([record(i) for i in range(5001)]), NDJSON)),
        Row("a first NDJSON line of null", "4xx", post(b"null\n", NDJSON)),
        Row(
            "NaN and Infinity in NDJSON",
            "4xx",
            post(orjson.dumps(record(2))[:-1] + b',"csat": NaN, "cost": Infinity}\n', NDJSON),
        ),
        Row(
            "a turn seq of -140,531,309,942,170 (found by fuzzing)",
            "4xx",
            post(ndjson([record(3, turns=1) | {"turns": [BAD_SEQ_TURN]}]), NDJSON),
        ),
        Row(
            "2,000 lines of 50 keys of their own (2 MB)",
            "2xx",
            post(own_keys(2000, 50), NDJSON),
        ),
        Row(
            "one record of 400,000 keys (6.5 MB)",
            "4xx",
            post(own_keys(1, 400_000), NDJSON),
        ),
        Row(
            "an item id of 2**63",
            "4xx",
            lambda c: c.get("/api/v1/items/9223372036854775808"),
        ),
        Row(
            "a conversation id with / and spaces, stored then opened",
            "2xx",
            lambda c: (
                c.post(
                    "/api/v1/ingest",
                    content=ndjson([record(9, id="tickets/2026 #42")]),
                    headers=NDJSON,
                ),
                c.get(
                    f"/api/v1/interactions/{quote('tickets/2026 #42', safe='')}",
                    params={"deployment": "care-bot"},
                ),
            )[1],
        ),
        Row("a wrong method (PATCH on a POST route)", "4xx", lambda c: c.patch("/api/v1/owners")),
        Row(
            "a go-live in the year 6166",
            "4xx",
            lambda c: c.post(
                "/api/v1/deployments",
                json={"name": "future", "kind": "llm_app", "go_live": "6166-01-01"},
            ),
        ),
        Row(
            "NaN in a JSON write body",
            "4xx",
            lambda c: c.post(
                "/api/v1/deployments",
                content=b'{"name": "nan", "kind": "llm_app", "targets": {"csat": NaN}}',
                headers=JSON,
            ),
        ),
    ]


def _memory_mb(pid: int) -> tuple[float, float]:
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


def run(work: Path) -> dict[str, Any]:
    data = work / "data"
    key = _admin_key(data)
    port = _free_port()
    env = {**os.environ, "DAYTWO_DATA_DIR": str(data), "DAYTWO_RATE_LIMIT_PER_MINUTE": "100000"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "daytwo", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    table = []
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                httpx.get(url + "/healthz", timeout=2)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError("daytwo serve did not start") from None
                time.sleep(0.2)
        with httpx.Client(
            base_url=url, timeout=600, headers={"authorization": f"Bearer {key}"}
        ) as client:
            for row in rows():
                started = time.perf_counter()
                status: int | str
                try:
                    status = row.send(client).status_code
                except httpx.HTTPError as exc:
                    status = f"no answer: {exc!r}"
                seconds = time.perf_counter() - started
                alive = proc.poll() is None
                up = False
                if alive:
                    try:
                        up = httpx.get(url + "/healthz", timeout=30).status_code == 200
                    except httpx.HTTPError:
                        up = False
                rss, peak = _memory_mb(proc.pid) if alive else (0.0, 0.0)
                ok = isinstance(status, int) and (
                    200 <= status < 300 if row.expect == "2xx" else 400 <= status < 500
                )
                table.append(
                    {
                        "input": row.name,
                        "status": status,
                        "expected": row.expect,
                        "ok": ok and up,
                        "seconds": round(seconds, 3),
                        "server_up_after": up,
                        "server_rss_mb": round(rss, 1),
                        "server_peak_rss_mb": round(peak, 1),
                    }
                )
                print(json.dumps(table[-1]), file=sys.stderr, flush=True)
                if not alive:
                    break
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return {
        "rows": table,
        "met": bool(table) and all(r["ok"] for r in table) and len(table) == len(rows()),
        "server_peak_rss_mb": max((r["server_peak_rss_mb"] for r in table), default=None),
        "load_average_at_end": os.getloadavg(),
    }


def main() -> None:
    argparse.ArgumentParser(prog="python -m bench.hostile", description=__doc__).parse_args()
    with tempfile.TemporaryDirectory(prefix="daytwo-bench-hostile-") as tmp:
        result = run(Path(tmp))
    result = {"benchmark": "hostile", "environment": _environment(), **result}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "hostile.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=2, default=str))


if __name__ == "__main__":
    main()
