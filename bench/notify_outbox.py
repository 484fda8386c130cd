"""Never lost, never doubled: 200 alerts delivered by `daytwo serve` to a local webhook
receiver while the server is killed with SIGKILL three times mid-delivery.

Counts what the receiver got: alerts missing (lost), copies beyond the first (duplicates), and
whether every copy of an alert carried the same idempotency key (so a receiver can drop it).
Also the time from the first start to the last alert received, restarts and leases included.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson

ALERTS = 200
KILLS_AT = (40, 90, 140)  # received messages after which the server is killed
RECEIVER_DELAY_S = 0.05  # a receiver that takes its time, so a kill lands mid-delivery
SECRET = "bench-signing-secret-of-enough-length"


class _Receiver:
    def __init__(self) -> None:
        self.got: list[tuple[int, str]] = []  # (alert id, idempotency key)
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                time.sleep(RECEIVER_DELAY_S)
                payload = orjson.loads(body)
                with receiver.lock:
                    receiver.got.append((payload["alert_id"], payload["idempotency_key"]))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def count(self) -> int:
        with self.lock:
            return len(self.got)


def _seed(data: Path, url: str) -> None:
    from sqlalchemy import update

    from daytwo.backlog.models import Item
    from daytwo.backlog.owners import create_owner
    from daytwo.backlog.policy import BacklogPolicy
    from daytwo.backlog.schemas import ItemCreate, OwnerCreate, SignalIn
    from daytwo.backlog.service import create_item
    from daytwo.deployments.schemas import DeploymentCreate
    from daytwo.deployments.service import create_deployment
    from daytwo.notify import alerts, service
    from daytwo.notify.schemas import ChannelCreate, RouteCreate
    from daytwo.settings import Settings
    from daytwo.store.ledger import DeploymentKind, Ledger, upgrade

    settings = Settings(data_dir=data)
    upgrade(settings.resolved_ledger_url)
    ledger = Ledger(settings.resolved_ledger_url)
    try:
        create_deployment(
            ledger, DeploymentCreate(name="bench-bot", kind=DeploymentKind.virtual_agent)
        )
        create_owner(ledger, OwnerCreate(handle="ops", name="Ops", kind="team"), actor="bench")
        service.create_channel(
            ledger,
            ChannelCreate(name="hook", kind="webhook", url=url, secret=SECRET, timeout_s=2),
            server_key=settings.session_key(),
            actor="bench",
        )
        service.add_route(ledger, RouteCreate(channel="hook", max_priority="P2"), actor="bench")
        for n in range(ALERTS):
            spec = ItemCreate(
                deployment="bench-bot", title=f"Problem {n}", owner="ops",
                signal=SignalIn(volume_per_week=100),
            )  # fmt: skip
            item = create_item(ledger, spec, BacklogPolicy(), actor="bench")
            with ledger.session() as session:
                priority = "P1" if n % 4 == 0 else "P2"
                session.execute(update(Item).where(Item.id == item.id).values(priority=priority))
        queued = alerts.sync_alerts(ledger, settings, "bench-bot")
        assert queued == ALERTS, queued
    finally:
        ledger.dispose()


def _outbox(data: Path) -> dict[str, int]:
    """The outbox's state, read from the ledger the server writes."""
    import sqlite3

    con = sqlite3.connect(data / "ledger.sqlite", timeout=30)
    try:
        rows = con.execute(
            "SELECT status, COUNT(*), SUM(attempts), SUM(attempts > 1) FROM notify_deliveries "
            "GROUP BY status"
        ).fetchall()
    finally:
        con.close()
    state = {str(status): int(n) for status, n, _, _ in rows}
    return {
        "delivered": state.get("delivered", 0),
        "not_delivered": sum(n for st, n in state.items() if st != "delivered"),
        "attempts": sum(int(a or 0) for _, _, a, _ in rows),
    }


def _serve(data: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DAYTWO_DATA_DIR": str(data),
        "DAYTWO_NOTIFY_DELIVER_SECONDS": "0.2",
        # Escalation is not measured here: keep the window past the run.
        "DAYTWO_NOTIFY_ESCALATE_MINUTES": "600",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "daytwo.cli", "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _one_run(work: Path, free_port: Any) -> dict[str, Any]:
    receiver = _Receiver()
    _seed(work, receiver.url)
    port = free_port()
    started = time.perf_counter()
    proc = _serve(work, port)
    kills = 0
    deadline = time.monotonic() + 600
    try:
        for threshold in KILLS_AT:
            while receiver.count() < threshold and time.monotonic() < deadline:
                time.sleep(0.005)
            os.kill(proc.pid, signal.SIGKILL)  # mid-delivery: the receiver is still answering
            proc.wait(timeout=30)
            kills += 1
            proc = _serve(work, port)
        # Done when the outbox says every message was delivered (a message received but not
        # yet recorded, as after a kill, is sent again when its lease runs out).
        while time.monotonic() < deadline and _outbox(work)["delivered"] < ALERTS:
            time.sleep(0.1)
        seconds = time.perf_counter() - started
        time.sleep(1.0)  # anything still in flight
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        receiver.server.shutdown()
    keys: dict[int, set[str]] = {}
    for alert_id, key in receiver.got:
        keys.setdefault(alert_id, set()).add(key)
    outbox = _outbox(work)
    return {
        "kills": kills,
        "outbox": outbox,
        "received": len(receiver.got),
        "distinct_alerts": len(keys),
        "lost": ALERTS - len(keys),
        "duplicates": len(receiver.got) - len(keys),
        "duplicates_share_key": all(len(k) == 1 for k in keys.values()),
        "seconds_to_all_delivered": round(seconds, 2),
    }


def run(work: Path, repeat: int, free_port: Any) -> dict[str, Any]:
    runs = [_one_run(work / f"run-{r}", free_port) for r in range(repeat)]
    lost = max(r["lost"] for r in runs)
    same_key = all(r["duplicates_share_key"] for r in runs)
    seconds = sorted(r["seconds_to_all_delivered"] for r in runs)
    return {
        "alerts": ALERTS,
        "kills_per_run": len(KILLS_AT),
        "receiver_delay_s": RECEIVER_DELAY_S,
        "max_lost": lost,
        "total_duplicates": sum(r["duplicates"] for r in runs),
        "every_duplicate_shares_its_key": same_key,
        "median_seconds_to_all_delivered": seconds[len(seconds) // 2],
        "runs": runs,
        "target": "0 lost; every duplicate carries the same idempotency key",
        "met": lost == 0 and same_key,
    }
