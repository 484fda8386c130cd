"""The events beyond a problem's own: SLA clocks, plan gates and silent feeds.

Each is an alert of its own kind, keyed so that one subject has one alert (an item's SLA, a
gate, a deployment's feed), remembering the state it last told about (``Alert.state``): a
message goes out when the state changes, never twice for the same state. They are written to
the same outbox and routed by the same routes as problems (a route's ``event_kinds`` picks
them), so they are retried, logged and never lost like every other message.

- :func:`sync_slas` reads the backlog's SLA clocks (``sla.at_risk`` when a quarter of a clock
  is left, ``sla.breached`` when it has run out);
- :func:`publish_gate_change` is what the 90-day plan calls, in its own transaction, when a
  gate becomes ready or stops holding;
- :func:`check_feeds` watches arrivals in the events store and raises ``feed.silent`` when a
  deployment sends nothing while data is due (``feed.resumed`` when it is back).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from daytwo.backlog.calc import OPEN_STATUSES
from daytwo.backlog.models import Item
from daytwo.notify.alerts import aware, evidence_lines, owner_handle, sync_all
from daytwo.notify.calc import (
    SILENCE_HISTORY_DAYS,
    SILENCE_MIN_HISTORY_DAYS,
    SPIKE_MIN_BASELINE,
    SPIKE_RECOVERED_P,
    excess_p,
    expected_arrivals,
    is_silent,
    is_spike,
    silence_probability,
    sla_stage,
    usual_hourly,
)
from daytwo.notify.digest import send_digests
from daytwo.notify.enqueue import EventSpec, enqueue
from daytwo.notify.models import Alert
from daytwo.settings import Settings
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger
from daytwo.store.ledger.models import Deployment

GateState = Literal["ready", "not_holding"]


def _alert(
    session: Session, key: str, *, deployment: str, kind: str, priority: str, title: str,
    owner: str | None, item_id: int | None, now: datetime,
) -> tuple[Alert, bool]:  # fmt: skip
    """The subject's alert, created (open, unescalated) when it has none yet; True if new."""
    alert = session.scalar(select(Alert).where(Alert.dedupe_key == key))
    if alert is not None:
        return alert, False
    alert = Alert(
        dedupe_key=key, deployment=deployment, item_id=item_id, kind=kind, priority=priority,
        title=title[:300], owner=owner, status="open", events=0, escalation_level=0,
        created_at=now, updated_at=now,
    )  # fmt: skip
    session.add(alert)
    session.flush()
    return alert, True


def _tell(
    session: Session, settings: Settings, alert: Alert, *, event: str, state: str, summary: str,
    evidence: list[str], update: bool, now: datetime, item: Item | None = None,
    url: str | None = None,
) -> int:  # fmt: skip
    alert.events += 1
    alert.state = state
    alert.updated_at = now
    spec = EventSpec(
        alert=alert, event=event, idempotency_key=f"{alert.kind}-{alert.id}.{alert.events}",
        summary=summary, evidence=evidence, update=update,
        journey=item.journey if item else None,
        finding_kind=item.finding_kind if item else None,
        item_status=item.status if item else None, url=url,
    )  # fmt: skip
    return enqueue(session, settings, spec, now=now)


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
                alert, _ = _alert(
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
            queued += _tell(
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
    alert, _ = _alert(
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
    return _tell(
        session, settings, alert, event=event, state=change.state, summary=summary,
        evidence=list(change.evidence), update=alert.events > 0, now=now, url=change.url,
    )  # fmt: skip


# -- silent feeds ------------------------------------------------------------------------------


def _live_alert(
    session: Session, key: str, deployment: str, kind: str, title: str, now: datetime,
    window: timedelta,
) -> tuple[Alert, bool]:  # fmt: skip
    """A deployment's P1 alert from live traffic, (re)opened with its escalation clock."""
    alert, new = _alert(
        session, key, deployment=deployment, kind=kind, priority="P1", title=title,
        owner=None, item_id=None, now=now,
    )  # fmt: skip
    alert.status = "open"
    alert.escalation_level = 0
    alert.escalate_at = now + window
    return alert, new


@dataclass(frozen=True, slots=True)
class FeedState:
    """What the arrivals of one deployment say at ``now``."""

    deployment: str
    last_arrival: datetime | None
    history_days: int
    expected: float  # deliveries (batches) the usual rates promised since the last one
    silent: bool


def feed_states(
    events: EventStore, deployments: list[str], *, now: datetime
) -> dict[str, FeedState]:
    """Judge each deployment's feed from the hourly deliveries of the last complete days.

    A delivery is one batch (one ingest request, one import): conversations arrive together
    in them, so a sender that posts every 10 s has 360 chances an hour to be heard from, not
    one per conversation, and only the gaps between its batches can be judged."""
    today = now.astimezone(UTC).date()
    start = datetime.combine(today - timedelta(days=SILENCE_HISTORY_DAYS), datetime.min.time(), UTC)
    spans = {
        r["deployment"]: (r["first"], r["last"])
        for r in events.query(
            "SELECT deployment, MIN(received_at) AS first, MAX(received_at) AS last "
            "FROM deliveries GROUP BY deployment"
        ).to_pylist()
    }
    counts: dict[str, dict[tuple[date, int], int]] = {}
    for r in events.query(
        "SELECT deployment, date_trunc('hour', received_at) AS hour, "
        "COUNT(DISTINCT batch_id) AS n "
        "FROM deliveries WHERE received_at >= ? AND received_at < ? GROUP BY deployment, hour",
        [start, datetime.combine(today, datetime.min.time(), UTC)],
    ).to_pylist():
        hour = aware(r["hour"])
        counts.setdefault(r["deployment"], {})[(hour.date(), hour.hour)] = int(r["n"])
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
            expected = expected_arrivals(usual_hourly(history), aware(last), now)
        silent = len(days) >= SILENCE_MIN_HISTORY_DAYS and is_silent(expected)
        states[name] = FeedState(name, aware(last), len(days), expected, silent)
    return states


def check_feeds(
    ledger: Ledger, events: EventStore, settings: Settings, *, now: datetime | None = None
) -> int:
    """Raise ``feed.silent`` for each deployment whose data stopped while data is due (P1:
    it breaks quiet hours and escalates), and ``feed.resumed`` when it comes back. A
    deployment with under a week of arrivals is not judged. Returns messages queued."""
    now = now or datetime.now(UTC)
    with ledger.session() as session:
        names = list(session.scalars(select(Deployment.name).order_by(Deployment.name)))
    states = feed_states(events, names, now=now)
    base = settings.notify_public_url.rstrip("/")
    queued = 0
    window = timedelta(minutes=settings.notify_escalate_minutes)
    with ledger.session() as session:
        for name, feed in states.items():
            key = f"feed:{name}"
            alert = session.scalar(select(Alert).where(Alert.dedupe_key == key))
            url = f"{base}/conversations?deployment={quote(name)}"
            if feed.silent and (alert is None or alert.state != "silent"):
                alert, new = _live_alert(
                    session, key, name, "feed", f"No data from {name}", now, window
                )
                assert feed.last_arrival is not None
                quiet = now - feed.last_arrival
                summary = (
                    f"{name} has sent nothing for {_duration(quiet)}; about "
                    f"{feed.expected:.0f} deliveries were due in that time."
                )
                evidence = [
                    f"last arrival {feed.last_arrival:%Y-%m-%d %H:%M} UTC",
                    f"expected {feed.expected:.1f} deliveries from the usual rate of each hour "
                    f"({feed.history_days} days of arrivals)",
                    f"chance of none at the usual rate: {silence_probability(feed.expected):.1e}",
                ]
                queued += _tell(
                    session, settings, alert, event="feed.silent", state="silent",
                    summary=summary, evidence=evidence, update=not new, now=now, url=url,
                )  # fmt: skip
            elif alert is not None and alert.state == "silent" and not feed.silent:
                alert.status = "resolved"
                alert.escalate_at = None
                last = feed.last_arrival
                summary = f"{name} is sending data again."
                evidence = [f"last arrival {last:%Y-%m-%d %H:%M} UTC"] if last else []
                queued += _tell(
                    session, settings, alert, event="feed.resumed", state="flowing",
                    summary=summary, evidence=evidence, update=True, now=now, url=url,
                )  # fmt: skip
    return queued


# -- error spikes on live traffic --------------------------------------------------------------

SPIKE_WINDOW = timedelta(minutes=5)  # the arrivals judged
BASELINE_DAYS = 7


@dataclass(frozen=True, slots=True)
class ErrorWindow:
    """One deployment's last minutes of arrivals against its usual share of error turns."""

    deployment: str
    n: int
    errors: int
    usual: float  # share of conversations with an error turn, usually
    baseline_n: int
    spike: bool
    p_value: float


def error_windows(events: EventStore, *, now: datetime) -> dict[str, ErrorWindow]:
    """The share of conversations with an error turn among those that arrived in the last
    :data:`SPIKE_WINDOW`, per deployment, against the same hours of the day (the hour before,
    of and after ``now``) over the last week (the whole week when those hours saw too few)."""
    hour = now.astimezone(UTC).hour
    rows = events.query(
        """
        WITH d AS (SELECT deployment, interaction_id, received_at FROM deliveries
                   WHERE received_at >= ?),
             e AS (SELECT DISTINCT deployment, interaction_id FROM turns
                   WHERE error IS NOT NULL)
        SELECT d.deployment AS deployment,
               count_if(d.received_at >= ?) AS n_win,
               count_if(d.received_at >= ? AND e.interaction_id IS NOT NULL) AS e_win,
               count_if(d.received_at < ? AND EXTRACT(hour FROM d.received_at) IN (?, ?, ?))
                 AS n_band,
               count_if(d.received_at < ? AND EXTRACT(hour FROM d.received_at) IN (?, ?, ?)
                        AND e.interaction_id IS NOT NULL) AS e_band,
               count_if(d.received_at < ?) AS n_week,
               count_if(d.received_at < ? AND e.interaction_id IS NOT NULL) AS e_week
        FROM d LEFT JOIN e ON e.deployment = d.deployment AND e.interaction_id = d.interaction_id
        GROUP BY d.deployment
        """,
        [
            now - timedelta(days=BASELINE_DAYS), now - SPIKE_WINDOW, now - SPIKE_WINDOW,
            now - timedelta(hours=1), (hour - 1) % 24, hour, (hour + 1) % 24,
            now - timedelta(hours=1), (hour - 1) % 24, hour, (hour + 1) % 24,
            now - timedelta(hours=1), now - timedelta(hours=1),
        ],
    ).to_pylist()  # fmt: skip
    windows = {}
    for r in rows:
        n_base, e_base = int(r["n_band"]), int(r["e_band"])
        if n_base < SPIKE_MIN_BASELINE:
            n_base, e_base = int(r["n_week"]), int(r["e_week"])
        n, errors = int(r["n_win"]), int(r["e_win"])
        if n_base < SPIKE_MIN_BASELINE:
            continue  # too little history to know what is usual
        usual = e_base / n_base
        p = excess_p(errors, n, usual)
        windows[r["deployment"]] = ErrorWindow(
            r["deployment"], n, errors, usual, n_base, is_spike(errors, n, usual), p
        )
    return windows


def check_errors(
    ledger: Ledger, events: EventStore, settings: Settings, *, now: datetime | None = None
) -> int:
    """Raise ``traffic.error_spike`` (P1) when the share of conversations with an error in
    the last minutes is far above the usual share for those hours, and
    ``traffic.recovered`` once it is back to it. Returns messages queued."""
    now = now or datetime.now(UTC)
    base = settings.notify_public_url.rstrip("/")
    window = timedelta(minutes=settings.notify_escalate_minutes)
    queued = 0
    with ledger.session() as session:
        for name, w in error_windows(events, now=now).items():
            key = f"errors:{name}"
            alert = session.scalar(select(Alert).where(Alert.dedupe_key == key))
            url = f"{base}/conversations?deployment={quote(name)}"
            share = w.errors / w.n if w.n else 0.0
            evidence = [
                f"{w.errors} of {w.n} conversations in the last "
                f"{SPIKE_WINDOW.total_seconds() / 60:.0f} min had an error turn ({share:.1%})",
                f"usually {w.usual:.1%} at this time of day ({w.baseline_n:,} conversations "
                f"over the last {BASELINE_DAYS} days)",
                f"chance of this many at the usual share: {w.p_value:.1e}",
            ]
            if w.spike and (alert is None or alert.state != "spike"):
                title = f"Error spike on {name}"
                alert, new = _live_alert(session, key, name, "traffic", title, now, window)
                summary = (
                    f"{share:.0%} of {name}'s conversations in the last "
                    f"{SPIKE_WINDOW.total_seconds() / 60:.0f} min had an error; usually "
                    f"{w.usual:.1%}."
                )
                queued += _tell(
                    session, settings, alert, event="traffic.error_spike", state="spike",
                    summary=summary, evidence=evidence, update=not new, now=now, url=url,
                )  # fmt: skip
            elif alert is not None and alert.state == "spike" and w.p_value > SPIKE_RECOVERED_P:
                alert.status = "resolved"
                alert.escalate_at = None
                queued += _tell(
                    session, settings, alert, event="traffic.recovered", state="normal",
                    summary=f"Errors on {name} are back to their usual level.",
                    evidence=evidence, update=True, now=now, url=url,
                )  # fmt: skip
    return queued


# -- one pass ----------------------------------------------------------------------------------


def raise_due(
    ledger: Ledger, settings: Settings, events: EventStore | None, *, now: datetime | None = None
) -> int:
    """Every check that raises alerts on its own clock: problems opened outside an analysis,
    SLA clocks, silent feeds and error spikes (when the events store is at hand), owners'
    digests. Returns
    messages queued."""
    queued = sync_all(ledger, settings, now=now)
    queued += sync_slas(ledger, settings, now=now)
    if events is not None:
        queued += check_feeds(ledger, events, settings, now=now)
        queued += check_errors(ledger, events, settings, now=now)
    queued += send_digests(ledger, settings, now=now)
    return queued
