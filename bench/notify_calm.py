"""False alerts on calm traffic: simulated deployment-days of calm live traffic posted through
the HTTP API, with the fast checks judging every simulated minute, every alert counted at a
local webhook receiver that takes every event kind.

Four deployments (about 24 conversations a minute at 14:00 UTC, a quarter of that at night,
over three journeys of 50%, 30% and 20% of it, so the per-journey checks judge scopes of
several sizes; errors, fallbacks and latency drifting hour by hour, ``bench.live_traffic``)
have a week of history from one seed; the replayed day comes from another seed, so what is
judged was not what the usual level was learnt from. Nothing is injected: every
``traffic.*`` alarm and every ``feed.silent`` is a false alert.

The replay runs on a simulated clock so a day takes minutes: the server runs in this process
(uvicorn, real HTTP on a loopback port) with the events store's arrival clock set to the
simulated minute; each simulated minute posts that minute's conversations (one request),
then runs the fast checks of ``daytwo serve`` (silent feeds, then the traffic signals) at that
minute, then delivers what they queued.
"""

from __future__ import annotations

import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from bench.live_traffic import Calm, Receiver, record, seed_history, setup_ledger

DEPLOYMENTS = [f"calm-{d}" for d in range(4)]
PEAK_PER_MINUTE = 24
DAYS = 1  # simulated days replayed (each deployment: one deployment-day per day)
HISTORY_SEED, LIVE_SEED = 21, 22
JOURNEYS = ("card_lost", "billing", "address_change")
SHARES = (0.5, 0.3, 0.2)
FOLLOW_UPS = ("traffic.recovered", "feed.resumed")


def _setup(data: Path, url: str, start: datetime) -> int:
    setup_ledger(data, DEPLOYMENTS, url)
    history = Calm(DEPLOYMENTS, PEAK_PER_MINUTE, HISTORY_SEED, True, JOURNEYS, SHARES)
    return seed_history(data, history, [(start - timedelta(days=8), start)], post_every_s=60.0)


def run(work: Path, repeat: int, free_port: Any, admin_key: Any) -> dict[str, Any]:
    del repeat  # one replay of DAYS simulated days
    import httpx
    import uvicorn

    import daytwo.store.events.duckdb as duck
    from daytwo.notify.events import check_feeds
    from daytwo.notify.fast import check_traffic
    from daytwo.notify.outbox import deliver_due
    from daytwo.server import create_app
    from daytwo.settings import Settings
    from daytwo.store.ledger import Ledger

    data = work / "run"
    receiver = Receiver()
    start = (datetime.now(UTC) - timedelta(days=DAYS + 1)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    history = _setup(data, receiver.url, start)
    key = admin_key(data)
    settings = Settings(data_dir=data)
    clock = [start]
    real_clock = getattr(duck, "utc_now")  # noqa: B009 (the name the store reads)
    setattr(duck, "utc_now", lambda: clock[0])  # noqa: B010
    port = free_port()
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    ledger = Ledger(settings.resolved_ledger_url)
    client = httpx.Client(
        base_url=f"http://127.0.0.1:{port}", timeout=120,
        headers={"authorization": f"Bearer {key}", "content-type": "application/x-ndjson"},
    )  # fmt: skip
    calm = Calm(DEPLOYMENTS, PEAK_PER_MINUTE, LIVE_SEED, True, JOURNEYS, SHARES)
    rng = np.random.default_rng(LIVE_SEED)
    began = time.time()
    sent, failed, checks, queued = 0, 0, 0, 0
    check_s: list[float] = []
    try:
        while not server.started:
            time.sleep(0.1)
        events = app.state.events
        n = 0
        for minute in range(DAYS * 1440):
            at = start + timedelta(minutes=minute)
            lines = []
            for d, dep in enumerate(DEPLOYMENTS):
                m = calm.minute(rng, d, at)
                for off, e, f, lat, j in zip(
                    m["offset"],
                    m["error"],
                    m["fallback"],
                    m["latency"],
                    m["journey"],
                    strict=True,
                ):
                    when = at + timedelta(seconds=float(off))
                    lines.append(orjson.dumps(record(
                        dep, f"{dep}-{n}", when, error=bool(e), fallback=bool(f),
                        latency=float(lat), journey=JOURNEYS[int(j)])))  # fmt: skip
                    n += 1
            clock[0] = at + timedelta(seconds=59)  # the minute's batch arrives at its end
            if lines:
                r = client.post("/api/v1/ingest", content=b"\n".join(lines) + b"\n")
                failed += r.status_code != 200
                sent += len(lines)
            now = at + timedelta(minutes=1)
            t0 = time.perf_counter()
            queued += check_feeds(ledger, events, settings, now=now, since=start)
            queued += check_traffic(ledger, events, settings, now=now, since=start)
            check_s.append(time.perf_counter() - t0)
            checks += 1
            if queued:
                deliver_due(ledger, settings)
            if minute % 60 == 59:
                print(f"  simulated {at:%Y-%m-%d %H:%M}: {sent:,} conversations, "
                      f"{len(receiver.got)} messages, {time.time() - began:.0f} s",
                      file=sys.stderr, flush=True)  # fmt: skip
    finally:
        setattr(duck, "utc_now", real_clock)  # noqa: B010
        client.close()
        deliver_due(ledger, settings)
        ledger.dispose()
        server.should_exit = True
        thread.join(timeout=60)
        receiver.server.shutdown()
    got = [p for _, p in receiver.snapshot()]
    alarms = [p for p in got if p["event"] not in FOLLOW_UPS]
    deployment_days = len(DEPLOYMENTS) * DAYS
    per_day = len(alarms) / deployment_days
    return {
        "deployments": len(DEPLOYMENTS),
        "simulated_days": DAYS,
        "deployment_days": deployment_days,
        "peak_per_minute_each": PEAK_PER_MINUTE,
        "history_conversations": history,
        "replayed_conversations": sent,
        "failed_posts": failed,
        "check_passes": checks,
        "check_pass_median_s": round(float(np.median(check_s)), 3),
        "messages_received": len(got),
        "false_alerts": len(alarms),
        "false_alerts_list": [f"{p['deployment']}: {p['event']} ({p['summary']})" for p in alarms],
        "false_alerts_per_deployment_day": round(per_day, 3),
        "wall_s": round(time.time() - began),
        "target": "<= 1 false alert per deployment-day on calm replays",
        "met": per_day <= 1 and failed == 0,
    }
