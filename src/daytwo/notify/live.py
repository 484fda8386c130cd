"""The fast checks' findings: what live traffic alarms on is a problem someone owns.

An alarm of the fast checks (an error, fallback or latency spike, a volume drop or surge, a
silent feed) is recorded in the findings ledger like the daily analysis' findings (detector
:data:`TRAFFIC_SOURCE` or :data:`FEED_SOURCE`), and taken into the backlog the normal way, so
it opens an owned, prioritised item, or joins the open item of the same problem: a finding of
the daily analysis about the same metric of the deployment (``error_rate``,
``fallback_rate_conversation``, ``latency_p95``, ``contact_volume``), or about the same
journey. The finding stays open while its alarm does, and resolves when the traffic is back to
its usual level (the item stays, with its evidence, for its owner to find the cause).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from daytwo.backlog.intake import absorb_finding, facts_from_detect
from daytwo.backlog.models import Item, ItemFinding, Owner
from daytwo.backlog.policy import BacklogPolicy
from daytwo.clock import aware
from daytwo.detect.findings import Finding, FindingScope, Impact, Measure, Severity
from daytwo.detect.schemas import FindingFilter
from daytwo.detect.service import list_findings, record_raised
from daytwo.notify.calc import worth_recording
from daytwo.notify.traffic import Signal, Usual
from daytwo.settings import Settings
from daytwo.store.ledger import Ledger

TRAFFIC_SOURCE = "live_traffic"
FEED_SOURCE = "live_feed"
WEEK = timedelta(days=7)

# (signal, alarm) -> (finding kind, the metric it is about, what it says)
KINDS: dict[tuple[str, str], tuple[str, str, str]] = {
    ("errors", "spike"): ("error_spike", "error_rate", "Error spike"),
    ("fallbacks", "spike"): ("fallback_spike", "fallback_rate_conversation", "Fallback spike"),
    ("latency", "spike"): ("latency_spike", "latency_p95", "Slow answers"),
    ("volume", "drop"): ("volume_drop", "contact_volume", "Traffic drop"),
    ("volume", "surge"): ("volume_surge", "contact_volume", "Traffic surge"),
}
FEED_KIND = "feed_silent"


@dataclass(frozen=True, slots=True)
class Owned:
    """The backlog item a live finding belongs to."""

    item_id: int
    owner: str | None


def _per_week(count: float, minutes: int) -> float:
    """``count`` in a window of ``minutes``, as a weekly rate (were it to go on)."""
    return round(max(count, 0.0) * WEEK / timedelta(minutes=max(minutes, 1)), 2)


def traffic_finding(
    deployment: str, signal: Signal, alarm: str, usual: Usual, *, now: datetime,
    journey: str | None = None, summary: str,
) -> Finding:  # fmt: skip
    """The finding of one alarming signal: its window against the usual level. What it is
    worth per week, were it to go on: the window's bad conversations for a share (the backlog
    counts the part above the usual share), the slow answers beyond the usual 5% for latency,
    the missing or extra conversations for volume."""
    kind, metric, title = KINDS[(signal.name, alarm)]
    where = f"{deployment} · {journey}" if journey else deployment
    if signal.name in ("errors", "fallbacks"):
        excess = float(signal.count)
    elif signal.name == "latency":
        excess = signal.count - 0.05 * signal.n
    else:
        excess = abs(signal.count - signal.usual)
    return Finding(
        detector=TRAFFIC_SOURCE,
        kind=kind,
        title=f"{title} on {where}: {summary}"[:500],
        scope=FindingScope(deployment, journey=journey, metric=metric),
        severity=Severity.critical if kind == "error_spike" else Severity.high,
        first_seen=now - timedelta(minutes=signal.minutes),
        last_seen=now,
        baseline=Measure(signal.usual, usual.n),
        current=Measure(signal.value, signal.n),
        evidence=signal.evidence,
        impact=Impact(interactions_per_week=_per_week(excess, signal.minutes)),
        details={
            "signal": signal.name,
            "alarm": alarm,
            "window_minutes": signal.minutes,
            "count": signal.count,
            "p_value": signal.p_value,
        },
    )


def feed_finding(
    deployment: str, *, last_arrival: datetime, expected: float, chance: float,
    usual_per_window: float | None, window: timedelta, now: datetime, summary: str,
) -> Finding:  # fmt: skip
    """The finding of a silent feed: every conversation the usual traffic would bring is
    missing while it lasts."""
    missing = _per_week(usual_per_window or 0.0, int(window.total_seconds() // 60))
    return Finding(
        detector=FEED_SOURCE,
        kind=FEED_KIND,
        title=f"No data from {deployment}: {summary}"[:500],
        scope=FindingScope(deployment, metric="contact_volume"),
        severity=Severity.critical,
        first_seen=last_arrival,
        last_seen=now,
        baseline=Measure(round(expected, 1), 0),
        current=Measure(0.0, 0),
        impact=Impact(interactions_per_week=missing),
        details={"expected_deliveries": round(expected, 2), "p_value": chance},
    )


def _unchanged(ledger: Ledger, deployment: str, source: str, findings: list[Finding],
               now: datetime) -> set[str]:  # fmt: skip
    """The fingerprints of ``findings`` already open in the ledger with nothing worth
    rewriting (:func:`~daytwo.notify.calc.worth_recording`): a continuing alarm."""
    if not findings:
        return set()
    recorded = {
        f.fingerprint: f
        for f in list_findings(ledger, FindingFilter(deployment=deployment, detector=source))
        if f.status in ("open", "regressed")
    }
    kept = set()
    for f in findings:
        was = recorded.get(f.fingerprint)
        if was is not None and not worth_recording(
            recorded_value=was.current.value if was.current else None,
            recorded_severity=was.severity_level, recorded_at=aware(was.last_seen),
            value=f.current.value if f.current else None, severity=int(f.severity), now=now,
        ):  # fmt: skip
            kept.add(f.fingerprint)
    return kept


def record_live(
    ledger: Ledger, settings: Settings, deployment: str, source: str, findings: list[Finding],
    *, now: datetime,
) -> dict[str, Owned]:  # fmt: skip
    """Record the ``source``'s alarming findings of ``deployment`` now (its others resolve),
    take what changed into the backlog, and return the item of each finding by fingerprint.
    A finding still open whose alarm changed nothing that matters is left as it was written
    (:func:`_unchanged`): a continuing alarm does not rewrite it every minute."""
    kept = _unchanged(ledger, deployment, source, findings, now)
    fresh = [f for f in findings if f.fingerprint not in kept]
    recorded = record_raised(ledger, deployment, source, fresh, at=now, keep=kept)
    changed = {
        *recorded.new_fingerprints,
        *recorded.regressed_fingerprints,
        *recorded.resolved_fingerprints,
    }
    if changed:
        policy = BacklogPolicy.from_settings(settings)
        for f in list_findings(ledger, FindingFilter(deployment=deployment, detector=source)):
            if f.fingerprint in changed:
                absorb_finding(ledger, facts_from_detect(f), policy, actor=source)
    if not findings:
        return {}
    with ledger.session() as session:
        rows = session.execute(
            select(ItemFinding.fingerprint, Item.id, Owner.handle)
            .join(Item, Item.id == ItemFinding.item_id)
            .outerjoin(Owner, Owner.id == Item.owner_id)
            .where(ItemFinding.fingerprint.in_([f.fingerprint for f in findings]))
        ).all()
    return {fp: Owned(item_id, owner) for fp, item_id, owner in rows}
