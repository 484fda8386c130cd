"""Data quality of the feed: gaps, volume, schema and nulls, duplicate deliveries, clock skew."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from daytwo.detect.cells import in_window, ns, started_ns
from daytwo.detect.data import INTERACTIONS_OF_SPAN, AnalysisData, EngineRead
from daytwo.detect.findings import Finding, FindingScope, Measure, Severity, evidence_sample
from daytwo.detect.registry import Needs, detector
from daytwo.detect.stats import normal_sf, two_proportion_z

HOUR_NS = 3_600 * 10**9
WEEK_HOURS = 7 * 24


@dataclass(frozen=True, slots=True)
class FeedParams:
    """Thresholds for the feed checks (each is a probability or a share)."""

    # An empty run of hours is a gap when no data that long is this unlikely (Poisson).
    gap_log_p: float = -12.0
    min_gap_hours: int = 2
    # A day's volume is anomalous beyond this z (over-dispersed Poisson) and this relative move.
    volume_z: float = 6.0
    volume_change: float = 0.4
    # Columns watched for nulls and the rise in null share that matters.
    null_columns: tuple[str, ...] = ("journey", "channel", "outcome", "customer_ref", "ended_at")
    null_rise: float = 0.10
    # Duplicate deliveries: share of the period's interactions delivered more than once.
    duplicate_share: float = 0.005
    # Clock skew: an interaction that starts after it was received, or ends before it starts.
    skew_tolerance_s: float = 300.0
    skew_share: float = 0.01

    def __post_init__(self) -> None:
        # The deliveries read (:data:`DELIVERY_FACTS`) keeps the interactions that start after
        # their first delivery: exact for a tolerance of zero or more.
        if self.skew_tolerance_s < 0:
            raise ValueError("skew_tolerance_s is a tolerance: zero or more seconds")


def _dt(value_ns: int) -> datetime:
    return datetime.fromtimestamp(value_ns / 1e9, UTC)


def _delivery_facts_from_rows(data: AnalysisData) -> pa.Table:
    """:data:`DELIVERY_FACTS` from an analysis's raw rows (its deliveries log)."""
    d, t = data.deliveries, data.interactions
    per = d.group_by("interaction_id", use_threads=False).aggregate(
        [("batch_id", "count"), ("received_at", "min")]
    )
    row = pc.index_in(per["interaction_id"], t["interaction_id"])
    per = per.filter(pc.is_valid(row))
    started = t["started_at"].take(pc.drop_null(row))
    copies = pc.cast(per["batch_id_count"], pa.int64())
    first = pc.cast(per["received_at_min"], pa.timestamp("us", tz="UTC"))
    table = pa.table(
        {
            "interaction_id": pc.cast(per["interaction_id"], pa.string()),
            "started_at": pc.cast(started, pa.timestamp("us", tz="UTC")),
            "copies": copies,
            "first_received": first,
        }
    )
    keep = pc.or_(pc.greater(copies, 1), pc.greater(table["started_at"], first))
    return table.filter(keep).sort_by(
        [("started_at", "ascending"), ("interaction_id", "ascending")]
    )


DELIVERY_FACTS = EngineRead(
    "feed_delivery_facts",
    "SELECT i.interaction_id AS interaction_id, i.started_at AS started_at, "  # noqa: S608
    "d.copies AS copies, d.first_received AS first_received FROM (SELECT interaction_id AS "
    "delivered_id, CAST(count(batch_id) AS BIGINT) AS copies, min(received_at) AS "
    "first_received FROM deliveries WHERE deployment = ? AND interaction_id IN (SELECT "
    f"interaction_id FROM {INTERACTIONS_OF_SPAN} s) GROUP BY interaction_id) d "
    f"JOIN {INTERACTIONS_OF_SPAN} i ON d.delivered_id = i.interaction_id "
    "WHERE d.copies > 1 OR i.started_at > d.first_received "
    "ORDER BY started_at, interaction_id",
    "started_at",
    _delivery_facts_from_rows,
)
"""The analysed conversations the deliveries log says something odd about: delivered more than
once, or started after they were first received. Each with its start, its copies and its first
delivery; every other conversation was delivered once, at or after its start (a few rows
instead of the whole log)."""


@detector(
    "feed_quality",
    name="Feed data quality",
    params=FeedParams(),
    needs=Needs(reads=(DELIVERY_FACTS,)),
)
def detect_feed_quality(data: AnalysisData, params: FeedParams) -> list[Finding]:
    """Broken or stale feeds, from the interactions and the deliveries log alone.

    - *freshness gap*: hours of the current period with no interaction at all, where the same
      hours of the week carried traffic before: a run of empty hours is reported when its
      Poisson probability is below e^-12 (about one in 160,000);
    - *volume anomaly*: a day whose volume is more than 6 over-dispersed standard deviations
      and 40% away from the same weekday's median of the previous four weeks;
    - *schema and nulls*: a watched column (journey, channel, outcome, customer, end time)
      whose null share rose by 10 points or more versus the baseline, significantly;
    - *duplicate deliveries*: interactions delivered more than once (the deliveries log keeps
      every copy), on any day of the period where they are 0.5% or more of its interactions;
    - *clock skew*: interactions that end before they start, or start more than 5 minutes
      after they were received, above 1% of the period.
    """
    out: list[Finding] = []
    out += _gaps(data, params)
    out += _volume(data, params)
    out += _nulls(data, params)
    out += _duplicates(data, params)
    out += _skew(data, params)
    return out


def _hourly(starts: np.ndarray, start_ns: int, hours: int) -> np.ndarray:
    idx = (starts - start_ns) // HOUR_NS
    idx = idx[(idx >= 0) & (idx < hours)]
    return np.bincount(idx.astype(np.int64), minlength=hours)


def _gaps(data: AnalysisData, params: FeedParams) -> list[Finding]:
    w = data.window
    starts = started_ns(data.interactions)
    cur0 = ns(w.current_start)
    hours = int((ns(w.current_end) - cur0) // HOUR_NS)
    history_weeks = 4
    hist0 = cur0 - history_weeks * WEEK_HOURS * HOUR_NS
    if hours <= 0 or not (starts < cur0).any():
        return []
    current = _hourly(starts, cur0, hours)
    past = _hourly(starts, hist0, history_weeks * WEEK_HOURS).reshape(history_weeks, WEEK_HOURS)
    weeks_with_data = past.sum(axis=1) > 0
    if not weeks_with_data.any():
        return []
    typical = past[weeks_with_data].mean(axis=0)  # expected count per hour of week
    expected = np.array([typical[h % WEEK_HOURS] for h in range(hours)])
    out = []
    h = 0
    while h < hours:
        if current[h] != 0:
            h += 1
            continue
        end = h
        while end < hours and current[end] == 0:
            end += 1
        lam = float(expected[h:end].sum())
        # The last hours may simply not have arrived yet: only a gap followed by data counts.
        followed = end < hours
        if followed and end - h >= params.min_gap_hours and -lam <= params.gap_log_p:
            first, last = cur0 + h * HOUR_NS, cur0 + end * HOUR_NS
            out.append(
                Finding(
                    detector="feed_quality",
                    kind="freshness_gap",
                    title=f"No data for {end - h} hours from {_dt(first):%Y-%m-%d %H:00} UTC "
                    f"(about {lam:,.0f} interactions expected)",
                    scope=FindingScope(data.deployment.name),
                    severity=Severity.high if lam >= 100 else Severity.medium,
                    first_seen=_dt(first),
                    last_seen=_dt(last),
                    baseline=Measure(round(lam, 1), history_weeks),
                    current=Measure(0.0, end - h),
                    key=(_dt(first).strftime("%Y-%m-%dT%H"),),
                    details={"hours": end - h, "expected": round(lam, 1), "log_p": -lam},
                )
            )
        h = end
    return out


def _volume(data: AnalysisData, params: FeedParams) -> list[Finding]:
    w = data.window
    starts = started_ns(data.interactions)
    day_ns = 24 * HOUR_NS
    cur0 = ns(w.current_start)
    n_days = int((ns(w.current_end) - cur0) // day_ns)  # whole days only
    out = []
    for d in range(n_days):
        d0 = cur0 + d * day_ns
        count = int(((starts >= d0) & (starts < d0 + day_ns)).sum())
        past = [
            int(((starts >= d0 - k * 7 * day_ns) & (starts < d0 - k * 7 * day_ns + day_ns)).sum())
            for k in range(1, 5)
        ]
        past = [p for p in past if p > 0]
        if len(past) < 3:
            continue
        med = float(np.median(past))
        spread = float(np.std(past, ddof=1)) if len(past) > 1 else 0.0
        sd = max(np.sqrt(med), spread, 0.05 * med)
        z = (count - med) / sd if sd > 0 else 0.0
        change = (count - med) / med if med else 0.0
        if abs(z) >= params.volume_z and abs(change) >= params.volume_change:
            day = _dt(d0)
            out.append(
                Finding(
                    detector="feed_quality",
                    kind="volume_anomaly",
                    title=f"Volume on {day:%Y-%m-%d} {'fell' if change < 0 else 'rose'} "
                    f"{abs(change):.0%} vs the same weekday ({count:,} vs {med:,.0f})",
                    scope=FindingScope(data.deployment.name, metric="contact_volume"),
                    severity=Severity.medium,
                    first_seen=day,
                    last_seen=day + timedelta(days=1),
                    baseline=Measure(med, len(past)),
                    current=Measure(float(count), 1),
                    key=(f"{day:%Y-%m-%d}",),
                    details={"z": round(z, 2), "change": round(change, 3)},
                )
            )
    return out


def _nulls(data: AnalysisData, params: FeedParams) -> list[Finding]:
    t = data.interactions
    w = data.window
    starts = started_ns(t)
    base = in_window(starts, w.baseline_start, w.baseline_end)
    cur = in_window(starts, w.current_start, w.current_end)
    nb, nc = int(base.sum()), int(cur.sum())
    if nb < 100 or nc < 100:
        return []
    out = []
    for column in params.null_columns:
        if column not in t.column_names:
            continue
        null = np.asarray(pc.is_null(t[column]).to_numpy(zero_copy_only=False), dtype=bool)
        kb, kc = int(null[base].sum()), int(null[cur].sum())
        rise = kc / nc - kb / nb
        z = two_proportion_z(kb, nb, kc, nc)
        if rise >= params.null_rise and normal_sf(z) < 1e-6:
            rows = np.flatnonzero(null & cur)
            out.append(
                Finding(
                    detector="feed_quality",
                    kind="null_rate",
                    title=f"{column} is missing in {kc / nc:.0%} of interactions "
                    f"(baseline {kb / nb:.0%})",
                    scope=FindingScope(data.deployment.name),
                    severity=Severity.medium,
                    first_seen=w.current_start,
                    last_seen=w.current_end,
                    baseline=Measure(kb / nb, nb),
                    current=Measure(kc / nc, nc),
                    evidence=evidence_sample(t["interaction_id"].take(pa.array(rows))),
                    key=(column,),
                    details={"column": column, "z": round(z, 2)},
                )
            )
    return out


def _duplicates(data: AnalysisData, params: FeedParams) -> list[Finding]:
    """Per day of the current period: the share of its interactions delivered more than once."""
    facts = data.read(DELIVERY_FACTS)
    t = data.interactions
    w = data.window
    dup_ids = facts.filter(pc.greater(facts["copies"], 1))["interaction_id"]
    if len(dup_ids) == 0:
        return []
    starts = started_ns(t)
    cur = in_window(starts, w.current_start, w.current_end)
    n = int(cur.sum())
    if n == 0:
        return []
    dup = cur & np.asarray(
        pc.is_in(t["interaction_id"], dup_ids).to_numpy(zero_copy_only=False), dtype=bool
    )
    day = (starts - ns(w.current_start)) // (24 * HOUR_NS)
    days = int(day[cur].max()) + 1
    per_day = np.bincount(day[cur], minlength=days)
    dup_day = np.bincount(day[dup], minlength=days)
    share = np.divide(dup_day, per_day, out=np.zeros(days), where=per_day > 0)
    bad_days = np.flatnonzero(share >= params.duplicate_share)
    if len(bad_days) == 0:
        return []
    rows = np.flatnonzero(dup & np.isin(day, bad_days))
    n_dup, n_days = len(rows), int(per_day[bad_days].sum())
    return [
        Finding(
            detector="feed_quality",
            kind="duplicate_deliveries",
            title=f"{n_dup:,} interactions delivered more than once ({n_dup / n_days:.1%} of "
            f"those started on the {len(bad_days)} day(s) affected)",
            scope=FindingScope(data.deployment.name),
            severity=Severity.low,
            first_seen=_dt(int(starts[rows].min())),
            last_seen=_dt(int(starts[rows].max())),
            current=Measure(n_dup / n_days, n_days),
            evidence=evidence_sample(t["interaction_id"].take(pa.array(rows, type=pa.int64()))),
            details={"duplicated": n_dup, "interactions": n_days, "days": len(bad_days)},
        )
    ]


def _skew(data: AnalysisData, params: FeedParams) -> list[Finding]:
    t = data.interactions
    w = data.window
    starts = started_ns(t)
    cur = in_window(starts, w.current_start, w.current_end)
    if cur.sum() < 50:
        return []
    ended = t["ended_at"].to_numpy(zero_copy_only=False).astype("datetime64[ns]").astype(np.int64)
    has_end = np.asarray(pc.is_valid(t["ended_at"]).to_numpy(zero_copy_only=False), dtype=bool)
    tol = int(params.skew_tolerance_s * 1e9)
    backwards = has_end & (ended < starts - tol)
    skewed = backwards & cur
    first = data.read(DELIVERY_FACTS)
    if first.num_rows:
        # Only the conversations started after their first delivery can start too late.
        idx = pc.index_in(t["interaction_id"], first["interaction_id"])
        rec = first["first_received"].take(pc.fill_null(idx, 0))
        rec_ns = rec.to_numpy(zero_copy_only=False).astype("datetime64[ns]").astype(np.int64)
        known = np.asarray(pc.is_valid(idx).to_numpy(zero_copy_only=False), dtype=bool)
        skewed |= cur & known & (starts > rec_ns + tol)
    k, n = int(skewed.sum()), int(cur.sum())
    if k / n < params.skew_share:
        return []
    rows = np.flatnonzero(skewed)
    return [
        Finding(
            detector="feed_quality",
            kind="clock_skew",
            title=f"{k:,} interactions carry impossible times ({k / n:.1%}): they end before "
            "they start or start after they were received",
            scope=FindingScope(data.deployment.name),
            severity=Severity.medium,
            first_seen=_dt(int(starts[rows].min())),
            last_seen=_dt(int(starts[rows].max())),
            current=Measure(k / n, n),
            evidence=evidence_sample(t["interaction_id"].take(pa.array(rows))),
            details={"tolerance_s": params.skew_tolerance_s},
        )
    ]
