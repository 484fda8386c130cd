"""What live traffic says, per deployment, minute by minute: the last minutes of arrivals
against the usual level of the same time of day.

The fast checks of ``daytwo serve`` (:func:`daytwo.notify.fast.check_traffic`) judge four
signals of the conversations that arrived in the last :data:`WINDOW` (by arrival time):

- the share with an error turn, and the share with a fallback answer (binomial tail against
  the usual share);
- the p95 of the answers' latency (how many answers were slower than the usual p95, where 5%
  is usual: binomial tail; and the p95 itself well above the usual one);
- the number of conversations (negative binomial tail against the usual 5-minute counts,
  whose spread says how bursty this deployment's traffic is).

"Usual" is the same time of day (:data:`BAND` either side of now) over the last
:data:`BASELINE_DAYS` days. Each journey of a deployment is judged the same way, on its own
conversations against its own usual level, where the volume allows: the shares and the
latency once its usual level rests on :data:`~daytwo.notify.calc.SPIKE_MIN_BASELINE`
conversations (answers), the volume once its usual 5-minute count is
:data:`JOURNEY_MIN_PER_WINDOW` or more. The usual level changes slowly, so it is computed for every
deployment at once and kept for :data:`BASELINE_TTL` (:class:`Baselines`); each minute's own
query reads only the window's arrivals.
"""

# The SQL is assembled from this module's constants only; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from daytwo.clock import aware
from daytwo.detect.findings import evidence_sample
from daytwo.notify.calc import (
    LATENCY_QUANTILE,
    SPIKE_MIN_BASELINE,
    VolumeShift,
    excess_p,
    is_latency_spike,
    is_spike,
    latency_p,
    overdispersion,
    volume_shift,
    volume_tails,
)
from daytwo.store.events import EventStore

WINDOW = timedelta(minutes=5)  # the arrivals judged
SHORT_WINDOW = timedelta(minutes=1)  # and their last minute, for the shares
BAND = timedelta(minutes=60)  # either side of the same time on each earlier day
BASELINE_DAYS = 7
BASELINE_TTL = timedelta(minutes=10)
JOURNEY_MIN_PER_WINDOW = 10.0  # a journey's usual 5-minute count before its volume is judged

# What a window is about: a deployment as a whole (journey None), or one of its journeys.
Scope = tuple[str, str | None]

# Each conversation that arrived in the intervals (its latest arrival), with whether it had an
# error turn and a fallback answer.
_CONVERSATIONS = """
    WITH d AS (SELECT deployment, interaction_id, MAX(received_at) AS r FROM deliveries
               WHERE {arrived} GROUP BY deployment, interaction_id),
         c AS (SELECT deployment, interaction_id,
                      MAX(CASE WHEN error IS NOT NULL THEN 1 ELSE 0 END) AS err,
                      MAX(CASE WHEN fallback AND role = 'assistant' THEN 1 ELSE 0 END) AS fb
               FROM turns WHERE (deployment, interaction_id) IN (
                   SELECT deployment, interaction_id FROM d)
               GROUP BY deployment, interaction_id),
         j AS ({journeys})
    SELECT d.deployment AS deployment, d.interaction_id AS interaction_id, d.r AS r,
           c.err AS err, c.fb AS fb, j.journey AS journey
    FROM d JOIN c ON c.deployment = d.deployment AND c.interaction_id = d.interaction_id
    LEFT JOIN j ON j.deployment = d.deployment AND j.interaction_id = d.interaction_id
"""
# The journey of each conversation that arrived in the intervals.
_JOURNEYS = """SELECT deployment, interaction_id, MAX(journey) AS journey FROM interactions
               WHERE journey IS NOT NULL AND (deployment, interaction_id) IN ({among})
               GROUP BY deployment, interaction_id"""
_LATENCIES = """
    WITH j AS ({journeys})
    SELECT t.deployment AS deployment, t.interaction_id AS interaction_id,
           t.latency_ms AS latency_ms, j.journey AS journey
    FROM turns t
    LEFT JOIN j ON j.deployment = t.deployment AND j.interaction_id = t.interaction_id
    WHERE t.role = 'assistant' AND t.latency_ms IS NOT NULL
      AND (t.deployment, t.interaction_id) IN (
        SELECT deployment, interaction_id FROM deliveries WHERE {arrived})
"""


def _conversations(arrived: str) -> str:
    """The conversations that arrived (its parameters: the clause's once)."""
    among = "SELECT deployment, interaction_id FROM d"
    return _CONVERSATIONS.format(arrived=arrived, journeys=_JOURNEYS.format(among=among))


def _latencies(arrived: str) -> str:
    """The answers of the conversations that arrived (its parameters: the clause's twice)."""
    among = f"SELECT deployment, interaction_id FROM deliveries WHERE {arrived}"
    return _LATENCIES.format(arrived=arrived, journeys=_JOURNEYS.format(among=among))


def _scopes(deployment: str, journey: str | None) -> tuple[Scope, ...]:
    """The scopes one conversation counts in: its deployment, and its journey if it has one."""
    return ((deployment, None), (deployment, journey)) if journey else ((deployment, None),)


@dataclass(frozen=True, slots=True)
class Usual:
    """One deployment's usual level at this time of day."""

    n: int  # conversations behind the shares
    error_share: float
    fallback_share: float
    error_rho: float  # how much each share varies between hours (beta-binomial)
    fallback_rho: float
    p95_ms: float | None  # None: too few answers with a latency
    volume_mean: float  # conversations per window
    volume_var: float
    buckets: int  # windows behind the volume (0: the week is not covered)


@dataclass(frozen=True, slots=True)
class Signal:
    """One signal of one deployment's window, judged."""

    name: str  # errors | fallbacks | latency | volume
    minutes: int  # the window judged: the last minutes of arrivals
    value: float  # the window's share, p95 (ms) or count
    usual: float
    count: int  # errors, fallbacks, slow answers or conversations in the window
    n: int  # conversations (answers, for latency) in the window
    p_value: float  # the chance of the window at the usual level, in the alarming direction
    alarm: str | None  # spike | drop | surge, or None
    # Conversations behind ``count`` (a sample spread over the window, in arrival order).
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TrafficWindow:
    deployment: str
    usual: Usual
    signals: tuple[Signal, ...]
    journey: str | None = None  # None: the deployment as a whole


def _arrived(starts: list[datetime], length: timedelta) -> tuple[str, list[datetime]]:
    """A WHERE clause for arrivals in any of the intervals ``[start, start + length)``."""
    clause = " OR ".join("(received_at >= ? AND received_at < ?)" for _ in starts)
    params: list[datetime] = []
    for start in starts:
        params += [start, start + length]
    return f"({clause})", params


def usual_levels(events: EventStore, *, now: datetime) -> dict[Scope, Usual]:
    """Every deployment's (and journey's) usual level at ``now``'s time of day, from the last
    week's arrivals within :data:`BAND` of it (the whole week when those hours saw under
    :data:`~daytwo.notify.calc.SPIKE_MIN_BASELINE` conversations, for the shares)."""
    now = now.astimezone(UTC).replace(second=0, microsecond=0)  # minutes fall in one band
    days = range(1, BASELINE_DAYS + 1)
    starts = [now - timedelta(days=d) - BAND for d in days]
    band, band_params = _arrived(starts, 2 * BAND)
    week_start = now - timedelta(days=BASELINE_DAYS)
    slots = int(2 * BAND / WINDOW)

    def slot_of(at: datetime) -> tuple[int, int]:
        day = next(d for d, s in zip(days, starts, strict=True) if s <= at < s + 2 * BAND)
        return day, int((at - starts[day - 1]) / WINDOW)

    shares: dict[Scope, tuple[int, int, int]] = {}
    hours: dict[Scope, dict[datetime, list[int]]] = {}
    journey_counts: dict[Scope, dict[tuple[int, int], int]] = {}
    for r in events.query(
        f"SELECT deployment, journey, date_trunc('minute', r) AS m, COUNT(*) AS n, "
        f"SUM(err) AS e, SUM(fb) AS f FROM ({_conversations(band)}) c "
        f"GROUP BY deployment, journey, m",
        band_params,
    ).to_pylist():
        at = aware(r["m"])
        n, e, f = int(r["n"]), int(r["e"] or 0), int(r["f"] or 0)
        for scope in _scopes(r["deployment"], r["journey"]):
            group = hours.setdefault(scope, {}).setdefault(at.replace(minute=0), [0, 0, 0])
            group[0] += n
            group[1] += e
            group[2] += f
        if r["journey"]:
            mine = journey_counts.setdefault((r["deployment"], r["journey"]), {})
            key = slot_of(at)
            mine[key] = mine.get(key, 0) + n
    for scope, groups in hours.items():
        shares[scope] = (sum(g[0] for g in groups.values()), sum(g[1] for g in groups.values()),
                         sum(g[2] for g in groups.values()))  # fmt: skip
    week = _conversations("(received_at >= ? AND received_at < ?)")
    week_shares: dict[Scope, list[int]] = {}
    for r in events.query(
        f"SELECT deployment, journey, COUNT(*) AS n, SUM(err) AS e, SUM(fb) AS f "
        f"FROM ({week}) c GROUP BY deployment, journey",
        [week_start, now - BAND],
    ).to_pylist():
        for scope in _scopes(r["deployment"], r["journey"]):
            total = week_shares.setdefault(scope, [0, 0, 0])
            total[0] += int(r["n"])
            total[1] += int(r["e"] or 0)
            total[2] += int(r["f"] or 0)
    for scope, (n, e, f) in week_shares.items():
        if scope not in shares or shares[scope][0] < SPIKE_MIN_BASELINE:
            shares[scope] = (n, e, f)
    p95s = _p95_by_scope(events.query(_latencies(band), band_params * 2))
    minutes = events.query(
        f"SELECT deployment, date_trunc('minute', received_at) AS m, "
        f"COUNT(DISTINCT interaction_id) AS n "
        f"FROM deliveries WHERE {band} GROUP BY deployment, m",
        band_params,
    ).to_pylist()
    firsts = {
        r["deployment"]: aware(r["first"])
        for r in events.query(
            "SELECT deployment, MIN(received_at) AS first FROM deliveries GROUP BY deployment"
        ).to_pylist()
    }
    counts: dict[Scope, dict[tuple[int, int], int]] = dict(journey_counts)
    for r in minutes:
        key = slot_of(aware(r["m"]))
        mine = counts.setdefault((r["deployment"], None), {})
        mine[key] = mine.get(key, 0) + int(r["n"])
    out = {}
    for scope, (n, errors, fallbacks) in shares.items():
        first = firsts.get(scope[0])
        covered = [d for d, s in zip(days, starts, strict=True) if first and first <= s]
        buckets = len(covered) * slots
        mine = counts.get(scope, {})
        values = np.zeros(buckets)
        for i, key in enumerate((d, s) for d in covered for s in range(slots)):
            values[i] = mine.get(key, 0)
        hourly = list(hours.get(scope, {}).values())
        out[scope] = Usual(
            n=n, error_share=errors / n if n else 0.0, fallback_share=fallbacks / n if n else 0.0,
            error_rho=overdispersion([(g[0], g[1]) for g in hourly]),
            fallback_rho=overdispersion([(g[0], g[2]) for g in hourly]),
            p95_ms=p95s.get(scope),
            volume_mean=float(values.mean()) if buckets else 0.0,
            volume_var=float(values.var(ddof=1)) if buckets > 1 else 0.0,
            buckets=buckets,
        )  # fmt: skip
    return out


def _p95_by_scope(answers: pa.Table) -> dict[Scope, float]:
    """The p95 latency of each deployment's and journey's answers (``answers``: deployment,
    journey, latency_ms), where :data:`~daytwo.notify.calc.SPIKE_MIN_BASELINE` answers or more
    say it. Computed on the columns (a week of answers is hundreds of thousands of rows)."""
    if answers.num_rows == 0:
        return {}
    ms = answers.column("latency_ms").to_numpy().astype(float)
    deps = pc.dictionary_encode(answers.column("deployment")).combine_chunks()
    journeys = pc.dictionary_encode(pc.fill_null(answers.column("journey"), "")).combine_chunks()
    dep_of, journey_of = deps.indices.to_numpy(), journeys.indices.to_numpy()
    dep_names, journey_names = deps.dictionary.to_pylist(), journeys.dictionary.to_pylist()
    out: dict[Scope, float] = {}
    for d, dep in enumerate(dep_names):
        mine = dep_of == d
        groups: list[tuple[Scope, np.ndarray]] = [((dep, None), mine)]
        groups += [((dep, j), mine & (journey_of == k)) for k, j in enumerate(journey_names) if j]
        for scope, chosen in groups:
            if int(chosen.sum()) >= SPIKE_MIN_BASELINE:
                out[scope] = float(np.quantile(ms[chosen], LATENCY_QUANTILE))
    return out


class Baselines:
    """The usual levels, recomputed when older than :data:`BASELINE_TTL` (per events store)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: weakref.WeakKeyDictionary[EventStore, tuple[datetime, dict[Scope, Usual]]]
        self._kept = weakref.WeakKeyDictionary()

    def get(self, events: EventStore, now: datetime) -> dict[Scope, Usual]:
        with self._lock:
            kept = self._kept.get(events)
            if kept is not None and timedelta(0) <= now - kept[0] < BASELINE_TTL:
                return kept[1]
        levels = usual_levels(events, now=now)
        with self._lock:
            self._kept[events] = (now, levels)
        return levels


BASELINES = Baselines()


# One conversation of a window: when it arrived, whether it had an error turn and a fallback
# answer, its id.
Arrival = tuple[datetime, bool, bool, str]
# One answer of a window: its latency (ms) and its conversation's id.
Answer = tuple[float, str]


def _share(name: str, arrivals: list[tuple[datetime, bool, str]], now: datetime, usual: float,
           rho: float) -> Signal:  # fmt: skip
    """The share judged over the whole window and over its last minute (a sudden spike shows
    there first, before it weighs on five minutes); the one that alarms, else the window."""
    judged = []
    for span in (WINDOW, SHORT_WINDOW):
        within = [(flag, cid) for at, flag, cid in arrivals if at > now - span]
        n, count = len(within), sum(flag for flag, _ in within)
        p = excess_p(count, n, usual, rho)
        alarm = "spike" if is_spike(count, n, usual, rho) else None
        minutes = int(span.total_seconds() // 60)
        ids = evidence_sample([cid for flag, cid in within if flag]) if alarm else ()
        judged.append(
            Signal(name, minutes, count / n if n else 0.0, usual, count, n, p, alarm, ids)
        )
    return next((s for s in judged if s.alarm), judged[0])


def _latency(answers: list[Answer], usual_p95: float | None) -> Signal | None:
    if usual_p95 is None:
        return None
    ms = [v for v, _ in answers]
    slow = sum(1 for v in ms if v > usual_p95)
    p95 = float(np.quantile(ms, LATENCY_QUANTILE)) if ms else 0.0
    alarm = "spike" if is_latency_spike(slow, len(ms), p95, usual_p95) else None
    minutes = int(WINDOW.total_seconds() // 60)
    ids = evidence_sample([cid for v, cid in answers if v > usual_p95]) if alarm else ()
    return Signal(
        "latency", minutes, p95, usual_p95, slow, len(ms), latency_p(slow, len(ms)), alarm, ids
    )


def _volume(arrivals: list[Arrival], usual: Usual) -> Signal | None:
    if not usual.buckets:
        return None
    count = len(arrivals)
    shift: VolumeShift | None = volume_shift(
        count, usual.volume_mean, usual.volume_var, usual.buckets
    )
    low, high = volume_tails(count, usual.volume_mean, usual.volume_var)
    p = low if count < usual.volume_mean else high
    minutes = int(WINDOW.total_seconds() // 60)
    ids = evidence_sample([a[3] for a in sorted(arrivals)]) if shift else ()
    return Signal("volume", minutes, count, usual.volume_mean, count, count, p, shift, ids)


def traffic_windows(
    events: EventStore, *, now: datetime, baselines: Baselines | None = None,
    since: datetime | None = None,
) -> dict[Scope, TrafficWindow]:  # fmt: skip
    """Each deployment's (and journey's) last :data:`WINDOW` of arrivals, every signal judged
    against its usual level; a scope without enough history to know it is left out, and a
    journey's volume is judged only from :data:`JOURNEY_MIN_PER_WINDOW` conversations a
    window. ``since``: when this server began to listen; the volume is not judged on a window
    that began before (what no server was up to receive is not missing traffic)."""
    now = now.astimezone(UTC)
    levels = (baselines or BASELINES).get(events, now)
    arrived, params = _arrived([now - WINDOW], WINDOW)
    params[-1] = now + timedelta(microseconds=1)  # the window ends at now, included
    rows = events.query(_conversations(arrived), params).to_pydict()
    latencies = events.query(_latencies(arrived), params * 2).to_pydict()
    by_scope: dict[Scope, list[Answer]] = {}
    for dep, cid, ms, journey in zip(latencies["deployment"], latencies["interaction_id"],
                                     latencies["latency_ms"], latencies["journey"],
                                     strict=True):  # fmt: skip
        for scope in _scopes(dep, journey):
            by_scope.setdefault(scope, []).append((float(ms), str(cid)))
    window: dict[Scope, list[Arrival]] = {}
    for dep, cid, at, err, fb, journey in zip(rows["deployment"], rows["interaction_id"],
                                              rows["r"], rows["err"], rows["fb"],
                                              rows["journey"], strict=True):  # fmt: skip
        for scope in _scopes(dep, journey):
            window.setdefault(scope, []).append((aware(at), bool(err), bool(fb), str(cid)))
    listening = since is None or since <= now - WINDOW
    out = {}
    for scope, usual in levels.items():
        if usual.n < SPIKE_MIN_BASELINE:
            continue  # too little history to know what is usual
        dep, journey = scope
        mine = window.get(scope, [])
        signals = [
            _share("errors", [(a, e, c) for a, e, _, c in mine], now, usual.error_share,
                   usual.error_rho),
            _share("fallbacks", [(a, f, c) for a, _, f, c in mine], now, usual.fallback_share,
                   usual.fallback_rho),
        ]  # fmt: skip
        latency = _latency(by_scope.get(scope, []), usual.p95_ms)
        busy = journey is None or usual.volume_mean >= JOURNEY_MIN_PER_WINDOW
        volume = _volume(mine, usual) if listening and busy else None
        signals += [s for s in (latency, volume) if s is not None]
        out[scope] = TrafficWindow(dep, usual, tuple(signals), journey)
    return out
