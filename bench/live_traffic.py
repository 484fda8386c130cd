"""Calm live traffic for the notification benchmarks: what a deployment sends when nothing is
wrong, and a history of it written straight into a fresh events store.

Calm is not flat. Per deployment and minute, the number of conversations is Poisson around a
daily curve (``diurnal``: a quarter of the peak at night); per deployment and hour of each day,
the share of conversations with an error turn, the share with a fallback answer and the
answers' median latency each drift by a random factor (log-normal), so hours differ from each
other more than chance alone would make them, as real traffic does. Each seed gives other
traffic; the history and the live replay of a benchmark come from different seeds.

The history (a week or more before the replay) is written in bulk: one conversation per
deployment through the store's own door (the template, so every column is the product's), then
copied per generated conversation in DuckDB with its own id, times, error, fallback and
latency, arriving in batches every ``post_every_s`` seconds as a sender posting at that cadence
would. Only the live part of a benchmark goes through the HTTP API.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

ERROR_SHARE = 0.02
FALLBACK_SHARE = 0.08
LATENCY_MEDIAN_MS = 700.0
LATENCY_SIGMA = 0.35  # of an answer's log latency
HOURLY_DRIFT = 0.25  # sigma of an hour's log factor on the shares (about +-25%)
HOURLY_LATENCY_DRIFT = 0.08  # sigma of an hour's log factor on the median latency


@dataclass(frozen=True, slots=True)
class Calm:
    """Calm traffic of ``deployments`` deployments peaking at ``peak_per_minute`` each."""

    deployments: list[str]
    peak_per_minute: float
    seed: int
    diurnal: bool = True
    # The journeys a deployment's conversations spread over, and each one's share: one journey
    # draws nothing, so one-journey traffic is the same stream as before journeys were drawn.
    journeys: tuple[str, ...] = ("card_lost",)
    journey_shares: tuple[float, ...] = (1.0,)

    def rate(self, at: datetime) -> float:
        """Conversations a minute per deployment at ``at`` (UTC): peak at 14:00, a quarter of
        it at 02:00."""
        if not self.diurnal:
            return self.peak_per_minute
        hours = at.hour + at.minute / 60
        shape = 0.625 + 0.375 * math.cos((hours - 14) / 24 * 2 * math.pi)
        return self.peak_per_minute * shape

    def _hour(self, dep: int, at: datetime) -> tuple[float, float, float]:
        """The (error share, fallback share, median latency) of one deployment's hour."""
        key = int(at.replace(minute=0, second=0, microsecond=0).timestamp() // 3600)
        rng = np.random.default_rng([self.seed, dep, key])
        e, f, lat = rng.normal(0, [HOURLY_DRIFT, HOURLY_DRIFT, HOURLY_LATENCY_DRIFT])
        return (
            ERROR_SHARE * math.exp(e - HOURLY_DRIFT**2 / 2),
            FALLBACK_SHARE * math.exp(f - HOURLY_DRIFT**2 / 2),
            LATENCY_MEDIAN_MS * math.exp(lat),
        )

    def minute(
        self, rng: np.random.Generator, dep: int, at: datetime, error_share: float | None = None,
        seconds: float = 60.0,
    ) -> dict[str, np.ndarray]:  # fmt: skip
        """One deployment's conversations of the ``seconds`` starting at ``at``: offsets (s),
        error and fallback flags, latency (ms), journey (an index into ``journeys``);
        ``error_share`` overrides the calm share (an injected spike)."""
        e_share, f_share, median = self._hour(dep, at)
        n = int(rng.poisson(self.rate(at) * seconds / 60))
        minute = {
            "offset": np.sort(rng.uniform(0, seconds, n)),
            "error": rng.random(n) < (e_share if error_share is None else error_share),
            "fallback": rng.random(n) < f_share,
            "latency": np.round(median * np.exp(rng.normal(0, LATENCY_SIGMA, n))),
            "journey": np.zeros(n, dtype=np.int64),
        }
        if len(self.journeys) > 1:
            minute["journey"] = rng.choice(len(self.journeys), n, p=self.journey_shares)
        return minute


def record(
    dep: str,
    ident: str,
    at: datetime,
    *,
    error: bool,
    fallback: bool,
    latency: float,
    journey: str = "card_lost",
) -> dict[str, Any]:
    """One conversation in the wire format: a question and an answer."""
    answer: dict[str, Any] = {
        "seq": 1, "ts": at.isoformat(), "role": "assistant", "text": "Let me check.",
        "latency_ms": latency, "fallback": fallback,
    }  # fmt: skip
    if error:
        answer["error"] = "upstream timeout"
    return {
        "id": ident, "deployment": dep, "started_at": at.isoformat(),
        "ended_at": (at + timedelta(seconds=40)).isoformat(), "channel": "chat",
        "journey": journey, "outcome": "contained",
        "turns": [{"seq": 0, "ts": at.isoformat(), "role": "user", "text": "where is my card"},
                  answer],
    }  # fmt: skip


def seed_history(
    data: Path, calm: Calm, spans: list[tuple[datetime, datetime]], *, post_every_s: float
) -> int:
    """Write ``calm``'s traffic over each ``(start, end)`` into ``data``'s events store, as
    arrivals in batches every ``post_every_s`` seconds. Returns conversations written."""
    import duckdb

    import daytwo.store.events.duckdb as duck
    from daytwo.ingest.decode import decode_json
    from daytwo.settings import Settings
    from daytwo.store.events import open_event_store

    settings = Settings(data_dir=data)
    store = open_event_store(settings.resolved_events_url)
    try:
        first = spans[0][0] - timedelta(days=1)
        templates = [
            record(dep, f"template-{dep}", first, error=False, fallback=False, latency=1.0)
            for dep in calm.deployments
        ]
        decoded = decode_json(orjson.dumps(templates))
        assert not decoded.errors, decoded.errors[:3]
        real_clock = getattr(duck, "utc_now")  # noqa: B009 (the name the store reads)
        setattr(duck, "utc_now", lambda: first)  # noqa: B010 (it arrived before the history)
        try:
            store.write(decoded.batch, source="bench", batch_id="template")
        finally:
            setattr(duck, "utc_now", real_clock)  # noqa: B010
        path = str(getattr(store, "path"))  # noqa: B009 (the DuckDB store's file)
    finally:
        store.close()
    rng = np.random.default_rng([calm.seed, 1])
    cols: dict[str, list[np.ndarray]] = {
        k: [] for k in ("dep", "at", "err", "fb", "lat", "journey")
    }
    for start, end in spans:
        at = start
        while at < end:
            for d in range(len(calm.deployments)):
                m = calm.minute(rng, d, at)
                cols["dep"].append(np.full(len(m["offset"]), d))
                cols["at"].append(at.timestamp() + m["offset"])
                cols["err"].append(m["error"])
                cols["fb"].append(m["fallback"])
                cols["lat"].append(m["latency"])
                cols["journey"].append(m["journey"])
            at += timedelta(minutes=1)
    names = np.array(calm.deployments)
    journeys = np.array(calm.journeys)
    epoch_us = (np.concatenate(cols["at"]) * 1e6).astype("int64")
    table = pa.table(
        {
            "dep": pa.array(names[np.concatenate(cols["dep"])], pa.string()),
            "t0": pa.array(epoch_us, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            "err": pa.array(np.concatenate(cols["err"]), pa.bool_()),
            "fb": pa.array(np.concatenate(cols["fb"]), pa.bool_()),
            "lat": pa.array(np.concatenate(cols["lat"]), pa.float64()),
            "journey": pa.array(journeys[np.concatenate(cols["journey"])], pa.string()),
        }
    )
    con = duckdb.connect(path)
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("h0", table)
        con.execute(
            "CREATE TEMP TABLE h AS SELECT *, 'h-' || dep || '-' || row_number() OVER () AS id, "
            f"to_timestamp(floor(epoch(t0) / {post_every_s}) * {post_every_s} + "
            f"{post_every_s} - 0.001) AS received FROM h0"
        )
        con.execute("BEGIN TRANSACTION")
        con.execute(
            "INSERT INTO interactions SELECT i.* REPLACE (h.id AS interaction_id, "
            "h.t0 AS started_at, h.t0 + INTERVAL 40 SECOND AS ended_at, h.journey AS journey) "
            "FROM h JOIN interactions i ON i.deployment = h.dep "
            "AND i.interaction_id = 'template-' || h.dep"
        )
        con.execute(
            "INSERT INTO turns SELECT t.* REPLACE (h.id AS interaction_id, h.t0 AS ts, "
            "CASE WHEN t.role = 'assistant' AND h.err THEN 'upstream timeout' END AS error, "
            "CASE WHEN t.role = 'assistant' THEN h.fb END AS fallback, "
            "CASE WHEN t.role = 'assistant' THEN h.lat END AS latency_ms) "
            "FROM h JOIN turns t ON t.deployment = h.dep "
            "AND t.interaction_id = 'template-' || h.dep"
        )
        con.execute(
            "INSERT INTO deliveries SELECT h.id, h.dep, "
            f"'history-' || CAST(floor(epoch(h.t0) / {post_every_s}) AS BIGINT), 'bench', "
            "h.received FROM h"
        )
        con.execute("COMMIT")
    finally:
        con.close()
    # A deployment with this history has had its derived tables (rollups) built long ago:
    # build them now, not in the first minutes of the measured server.
    store = open_event_store(settings.resolved_events_url)
    try:
        store.refresh_derived()
    finally:
        store.close()
    return int(table.num_rows)


def hours_around(now: datetime, before: timedelta, after: timedelta) -> tuple[datetime, datetime]:
    """The whole UTC hours covering ``[now - before, now + after]``."""
    start = (now - before).replace(minute=0, second=0, microsecond=0)
    end = (now + after).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return start.astimezone(UTC), end.astimezone(UTC)


SECRET = "bench-signing-secret-of-enough-length"


class Receiver:
    """A local webhook receiver keeping every payload with the time it arrived."""

    def __init__(self) -> None:
        self.got: list[tuple[float, dict[str, Any]]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver.lock:
                    receiver.got.append((time.time(), orjson.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def snapshot(self) -> list[tuple[float, dict[str, Any]]]:
        with self.lock:
            return list(self.got)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def setup_ledger(data: Path, deployments: list[str], hook_url: str | None) -> None:
    """A migrated ledger with ``deployments`` and, given ``hook_url``, a webhook channel and a
    route that takes every event kind to it."""
    from daytwo.deployments.schemas import DeploymentCreate
    from daytwo.deployments.service import create_deployment
    from daytwo.notify import service
    from daytwo.notify.schemas import ChannelCreate, RouteCreate
    from daytwo.settings import Settings
    from daytwo.store.ledger import DeploymentKind, Ledger, upgrade

    settings = Settings(data_dir=data)
    upgrade(settings.resolved_ledger_url)
    ledger = Ledger(settings.resolved_ledger_url)
    try:
        for name in deployments:
            create_deployment(
                ledger, DeploymentCreate(name=name, kind=DeploymentKind.virtual_agent)
            )
        if hook_url is not None:
            service.create_channel(
                ledger, ChannelCreate(name="hook", kind="webhook", url=hook_url, secret=SECRET),
                server_key=settings.session_key(), actor="bench",
            )  # fmt: skip
            service.add_route(ledger, RouteCreate(channel="hook", max_priority="P4"), actor="bench")
    finally:
        ledger.dispose()
