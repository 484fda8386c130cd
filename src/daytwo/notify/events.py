"""The events beyond a problem's own: SLA clocks, plan gates and silent feeds.

Each is an alert of its own kind, keyed so that one subject has one alert (an item's SLA, a
gate, a deployment's feed), remembering the state it last told about (``Alert.state``): a
message goes out when the state changes, never twice for the same state. They are written to
the same outbox and routed by the same routes as problems (a route's ``event_kinds`` picks
them), so they are retried, logged and never lost like every other message.

- :func:`sync_slas` reads the backlog's SLA clocks (``sla.at_risk`` when a quarter of a clock
  is left, ``sla.breached`` when it has run out);
- :func:`sync_gates` reads the 90-day plan's latest gate evaluations after each analysis and
  publishes (:func:`publish_gate_change`) a gate that became ready or stopped holding;
- :func:`check_feeds` watches arrivals in the events store and raises ``feed.silent`` when a
  deployment sends nothing while data is due (``feed.resumed`` when it is back);
- the fast checks on live traffic (:func:`daytwo.notify.fast.check_traffic`) run with them in
  :func:`raise_due`.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from daytwo.backlog.calc import OPEN_STATUSES
from daytwo.backlog.models import Item
from daytwo.clock import aware
from daytwo.notify.alerts import evidence_lines, owner_handle, sync_all
from daytwo.notify.calc import (
    SILENCE_HISTORY_DAYS,
    SILENCE_MIN_HISTORY_DAYS,
    expected_arrivals,
    is_silent,
    silence_probability,
    sla_stage,
    usual_hourly,
)
from daytwo.notify.digest import send_digests
from daytwo.notify.fast import check_traffic
from daytwo.notify.live import (
    FEED_SOURCE,
    feed_finding,
    record_live,
)
from daytwo.notify.models import Alert
from daytwo.notify.tell import MERGED, fold, live_alert, own, subject_alert, tell, thread_of
from daytwo.notify.traffic import (
    BASELINES,
    WINDOW,
)
from daytwo.plan.ledger import latest_evaluations, phases_of, signoffs_by_phase
from daytwo.plan.models import Plan, PlanPhase
from daytwo.settings import Settings
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger
from daytwo.store.ledger.models import Deployment

GateState = Literal["ready", "not_holding"]


# -- SLA clocks --------------------------------------------------------------------------------


def _duration(td: timedelta) -> str:
    minutes = int(abs(td).total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes / 60:.0f} h"
    return f"{minutes / 1440:.0f} days"


def _worst_clock(item: Item, settings: Settings, now: datetime) -> tuple[str, str, datetime]:
    """(clock, stage, due) of the item's most urgent open clock; stage on_track if none is."""
    clocks: list[tuple[str, datetime, timedelta]] = []
    if item.triaged_at is None:
        hours = settings.backlog_sla_triage_hours.get(item.priority, 168.0)
        clocks.append(("triage", aware(item.triage_due), timedelta(hours=hours)))
    if item.fix_shipped_at is None:
        days = settings.backlog_sla_fix_days.get(item.priority, 90.0)
        clocks.append(("fix", aware(item.fix_due), timedelta(days=days)))
    rank = {"breached": 0, "at_risk": 1, "on_track": 2}
    judged = sorted(
        ((rank[sla_stage(due=due, length=length, now=now)], due, clock) for clock, due, length
         in clocks)
    )  # fmt: skip
    if not judged:
        return "fix", "on_track", now
    stage_rank, due, clock = judged[0]
    stage = next(s for s, r in rank.items() if r == stage_rank)
    return clock, stage, due


def sync_slas(ledger: Ledger, settings: Settings, *, now: datetime | None = None) -> int:
    """Tell each owner when an open item's SLA clock is at risk and when it breaches, once per
    clock and stage; an SLA alert of an item that closed, or whose clocks are met, resolves
    silently. Returns how many messages were queued."""
    now = now or datetime.now(UTC)
    queued = 0
    with ledger.session() as session:
        alerts = {a.item_id: a for a in session.scalars(select(Alert).where(Alert.kind == "sla"))}
        items = session.scalars(select(Item).where(Item.status.in_(sorted(OPEN_STATUSES)))).all()
        open_ids = set()
        for item in items:
            open_ids.add(item.id)
            clock, stage, due = _worst_clock(item, settings, now)
            alert = alerts.get(item.id)
            state = f"{clock}.{stage}"
            if stage == "on_track" or (alert is not None and alert.state == state):
                continue
            if alert is None:
                alert, _ = subject_alert(
                    session, f"sla:{item.id}", deployment=item.deployment, kind="sla",
                    priority=item.priority, title=item.title,
                    owner=owner_handle(session, item), item_id=item.id, now=now,
                )  # fmt: skip
            elif alert.status == "resolved":
                alert.status = "open"
            what = "Triage" if clock == "triage" else "The fix"
            if stage == "at_risk":
                summary = (
                    f"{what} of {item.title} is due in {_duration(due - now)} ({item.priority})."
                )
            else:
                summary = (
                    f"{what} of {item.title} is {_duration(now - due)} late ({item.priority})."
                )
            evidence = [f"{clock} due {due:%Y-%m-%d %H:%M} UTC", *evidence_lines(session, item)]
            queued += tell(
                session, settings, alert, event=f"sla.{stage}", state=state, summary=summary,
                evidence=evidence, update=alert.events > 0, now=now, item=item,
            )  # fmt: skip
        for item_id, alert in alerts.items():
            if item_id not in open_ids and alert.status != "resolved":
                alert.status = "resolved"
                alert.updated_at = now
    return queued


# -- plan gates --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GateChange:
    """A gate of the 90-day plan that became ready, or that held and stopped holding.

    ``gate`` is the plan's stable key of the gate (the same key every time it changes);
    ``url`` the gate's page; ``evidence`` the numbers the plan judged it on."""

    deployment: str
    gate: str
    title: str
    state: GateState
    evidence: tuple[str, ...] = ()
    owner: str | None = None
    priority: str = "P2"
    url: str | None = None


def publish_gate_change(
    session: Session, settings: Settings, change: GateChange, *, now: datetime | None = None
) -> int:
    """Queue ``gate.ready`` or ``gate.stopped_holding`` in the caller's transaction (the plan's
    own, so its change and the message commit together). Publishing the state the gate's
    alert already told about queues nothing. Returns how many messages were queued."""
    now = now or datetime.now(UTC)
    alert, _ = subject_alert(
        session, f"gate:{change.deployment}:{change.gate}", deployment=change.deployment,
        kind="gate", priority=change.priority, title=change.title, owner=change.owner,
        item_id=None, now=now,
    )  # fmt: skip
    if alert.state == change.state:
        return 0
    alert.status = "open"
    alert.priority = change.priority
    alert.owner = change.owner
    if change.state == "ready":
        event, summary = "gate.ready", f"{change.title} is ready on {change.deployment}."
    else:
        event = "gate.stopped_holding"
        summary = f"{change.title} no longer holds on {change.deployment}."
    return tell(
        session, settings, alert, event=event, state=change.state, summary=summary,
        evidence=list(change.evidence), update=alert.events > 0, now=now, url=change.url,
    )  # fmt: skip


def _gate_states(session: Session, deployment: str) -> list[tuple[PlanPhase, str, list[str]]]:
    """(phase, state, evidence) of each gate of the deployment's plan, from its latest kept
    evaluations: a passed gate ``not_holding`` when a criterion met at its sign-off is not met
    now (else ``holding``); the current gate (the first not passed) ``ready`` when every
    criterion is met; any other ``waiting``."""
    plan = session.scalar(select(Plan).where(Plan.deployment == deployment))
    if plan is None:
        return []
    latest = latest_evaluations(session, deployment)
    passed = signoffs_by_phase(session, deployment)
    out: list[tuple[PlanPhase, str, list[str]]] = []
    current_seen = False
    for phase in phases_of(session, plan):
        result = latest.get(phase.key)
        is_current = phase.key not in passed and not current_seen
        current_seen |= phase.key not in passed
        if result is None:
            out.append((phase, "waiting", []))
            continue
        evidence = [f"{result.met} of {result.total} criteria met through {result.through}"]
        if phase.key in passed:
            snapshot = passed[phase.key].snapshot.get("criteria", [])
            held = {c["id"] for c in snapshot if c.get("verdict") == "met"}
            failing = [c for c in result.criteria if c.id in held and c.verdict == "not_met"]
            evidence += [f"{c.label}: {c.summary}" for c in failing]
            out.append((phase, "not_holding" if failing else "holding", evidence))
        elif is_current and result.ready:
            out.append((phase, "ready", evidence))
        else:
            out.append((phase, "waiting", evidence))
    return out


def sync_gates(
    ledger: Ledger, settings: Settings, deployment: str, *, now: datetime | None = None
) -> int:
    """Publish the plan's gate changes after an analysis (the plan evaluates its gates in the
    same pipeline, before notify): ``gate.ready`` when the current gate's criteria are all
    met, ``gate.stopped_holding`` when a passed gate's no longer are, each once per state. A
    gate that leaves the state it was told in (signed off, or holding again) resolves its
    alert without a message. Returns messages queued."""
    now = now or datetime.now(UTC)
    base = settings.notify_public_url.rstrip("/")
    queued = 0
    with ledger.session() as session:
        for phase, state, evidence in _gate_states(session, deployment):
            if state in ("ready", "not_holding"):
                change = GateChange(
                    deployment=deployment, gate=phase.key, title=f"The {phase.name} gate",
                    state="ready" if state == "ready" else "not_holding",
                    evidence=tuple(evidence),
                    url=f"{base}/plan?deployment={quote(deployment)}",
                )  # fmt: skip
                queued += publish_gate_change(session, settings, change, now=now)
                continue
            key = f"gate:{deployment}:{phase.key}"
            alert = session.scalar(select(Alert).where(Alert.dedupe_key == key))
            if alert is not None and alert.state != state:
                alert.state = state
                alert.status = "resolved"
                alert.updated_at = now
    return queued


# -- silent feeds ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedState:
    """What the arrivals of one deployment say at ``now``."""

    deployment: str
    last_arrival: datetime | None
    history_days: int
    expected: float  # deliveries (batches) the usual rates promised since the last one
    silent: bool


_HourlyCounts = dict[str, dict[tuple[date, int], int]]
# The hourly deliveries of the complete days, per events store: read once a day, not every
# minute (the days they count do not change; a backfill of them counts from the next day).
_hourly_lock = threading.Lock()
_hourly_kept: weakref.WeakKeyDictionary[EventStore, tuple[date, _HourlyCounts]] = (
    weakref.WeakKeyDictionary()
)


def _hourly_deliveries(events: EventStore, today: date, start: datetime) -> _HourlyCounts:
    with _hourly_lock:
        kept = _hourly_kept.get(events)
        if kept is not None and kept[0] == today:
            return kept[1]
    counts: _HourlyCounts = {}
    for r in events.query(
        "SELECT deployment, date_trunc('hour', received_at) AS hour, "
        "COUNT(DISTINCT batch_id) AS n "
        "FROM deliveries WHERE received_at >= ? AND received_at < ? GROUP BY deployment, hour",
        [start, datetime.combine(today, datetime.min.time(), UTC)],
    ).to_pylist():
        hour = aware(r["hour"])
        counts.setdefault(r["deployment"], {})[(hour.date(), hour.hour)] = int(r["n"])
    with _hourly_lock:
        _hourly_kept[events] = (today, counts)
    return counts


def feed_states(
    events: EventStore, deployments: list[str], *, now: datetime, since: datetime | None = None
) -> dict[str, FeedState]:
    """Judge each deployment's feed from the hourly deliveries of the last complete days.

    A delivery is one batch (one ingest request, one import): conversations arrive together
    in them, so a sender that posts every 10 s has 360 chances an hour to be heard from, not
    one per conversation, and only the gaps between its batches can be judged. ``since``:
    when this server began to listen; a gap is judged from then at the earliest (what no
    server was up to receive is not the feed's silence)."""
    today = now.astimezone(UTC).date()
    start = datetime.combine(today - timedelta(days=SILENCE_HISTORY_DAYS), datetime.min.time(), UTC)
    spans = {
        r["deployment"]: (r["first"], r["last"])
        for r in events.query(
            "SELECT deployment, MIN(received_at) AS first, MAX(received_at) AS last "
            "FROM deliveries GROUP BY deployment"
        ).to_pylist()
    }
    counts = _hourly_deliveries(events, today, start)
    states = {}
    for name in deployments:
        first, last = spans.get(name, (None, None))
        if first is None or last is None:
            states[name] = FeedState(name, None, 0, 0.0, False)
            continue
        first_day = max(aware(first).date() + timedelta(days=1), start.date())
        days = [first_day + timedelta(days=n) for n in range((today - first_day).days)]
        mine = counts.get(name, {})
        history = [[mine.get((day, hour), 0) for hour in range(24)] for day in days]
        expected = 0.0
        if len(days) >= SILENCE_MIN_HISTORY_DAYS:
            heard = aware(last) if since is None else max(aware(last), since)
            expected = expected_arrivals(usual_hourly(history), heard, now)
        silent = len(days) >= SILENCE_MIN_HISTORY_DAYS and is_silent(expected)
        states[name] = FeedState(name, aware(last), len(days), expected, silent)
    return states


def check_feeds(
    ledger: Ledger, events: EventStore, settings: Settings, *, now: datetime | None = None,
    since: datetime | None = None,
) -> int:  # fmt: skip
    """Raise ``feed.silent`` for each deployment whose data stopped while data is due (P1:
    it breaks quiet hours and escalates), and ``feed.resumed`` when it comes back. A
    deployment with under a week of arrivals is not judged. Returns messages queued."""
    now = now or datetime.now(UTC)
    with ledger.session() as session:
        names = list(session.scalars(select(Deployment.name).order_by(Deployment.name)))
    states = feed_states(events, names, now=now, since=since)
    base = settings.notify_public_url.rstrip("/")
    queued = 0
    window = timedelta(minutes=settings.notify_escalate_minutes)
    usual = BASELINES.get(events, now) if any(f.silent for f in states.values()) else {}
    for name, feed in states.items():
        quiet = now - feed.last_arrival if feed.last_arrival else timedelta(0)
        summary = (
            f"{name} has sent nothing for {_duration(quiet)}; about "
            f"{feed.expected:.0f} deliveries were due in that time."
        )
        findings = []
        if feed.silent and feed.last_arrival is not None:
            level = usual.get((name, None))
            findings.append(feed_finding(
                name, last_arrival=feed.last_arrival, expected=feed.expected,
                chance=silence_probability(feed.expected),
                usual_per_window=level.volume_mean if level and level.buckets else None,
                window=WINDOW, now=now, summary=summary,
            ))  # fmt: skip
        owned = record_live(ledger, settings, name, FEED_SOURCE, findings, now=now)
        key = f"feed:{name}"
        url = f"{base}/conversations?deployment={quote(name)}"
        with ledger.session() as session:
            alert = session.scalar(select(Alert).where(Alert.dedupe_key == key))
            if feed.silent and (alert is None or alert.state != "silent"):
                alert, new = live_alert(
                    session, key, name, "feed", f"No data from {name}", now, window
                )
                assert feed.last_arrival is not None
                evidence = [
                    f"last arrival {feed.last_arrival:%Y-%m-%d %H:%M} UTC",
                    f"expected {feed.expected:.1f} deliveries from the usual rate of each hour "
                    f"({feed.history_days} days of arrivals)",
                    f"chance of none at the usual rate: {silence_probability(feed.expected):.1e}",
                ]
                item = own(session, alert, owned, findings[0])
                thread = thread_of(session, alert)
                if thread is not None:
                    fold(alert, thread, now=now, window=window)
                queued += tell(
                    session, settings, alert, event="feed.silent", state="silent",
                    summary=summary, evidence=evidence, update=not new, now=now, url=url,
                    item=item, via=thread,
                )  # fmt: skip
            elif alert is not None and alert.state == "silent" and not feed.silent:
                thread = thread_of(session, alert) if alert.status == MERGED else None
                if thread is None:
                    alert.status = "resolved"
                alert.escalate_at = None
                last = feed.last_arrival
                evidence = [f"last arrival {last:%Y-%m-%d %H:%M} UTC"] if last else []
                item = session.get(Item, alert.item_id) if alert.item_id else None
                queued += tell(
                    session, settings, alert, event="feed.resumed", state="flowing",
                    summary=f"{name} is sending data again.", evidence=evidence, update=True,
                    now=now, url=url, item=item, via=thread,
                )  # fmt: skip
    return queued


# -- one pass ----------------------------------------------------------------------------------


def raise_due(
    ledger: Ledger, settings: Settings, events: EventStore | None, *, now: datetime | None = None,
    since: datetime | None = None,
) -> int:  # fmt: skip
    """Every check that raises alerts on its own clock: problems opened outside an analysis,
    SLA clocks, silent feeds and the fast checks of live traffic (when the events store is at
    hand), owners' digests. ``since``: when the server running them began to listen (arrivals
    are not judged missing from before it). Returns messages queued."""
    queued = sync_all(ledger, settings, now=now)
    queued += sync_slas(ledger, settings, now=now)
    if events is not None:
        queued += check_feeds(ledger, events, settings, now=now, since=since)
        queued += check_traffic(ledger, events, settings, now=now, since=since)
    queued += send_digests(ledger, settings, now=now)
    return queued
