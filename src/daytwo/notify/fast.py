"""The fast checks on live traffic, told: a P1 alert per deployment (and journey, where the
volume allows) and signal whose last minutes are far off their usual level
(:mod:`daytwo.notify.traffic` judges them), each also a finding (:mod:`daytwo.notify.live`)
and told through its problem's alert when it has one (:mod:`daytwo.notify.tell`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from daytwo.backlog.models import Item
from daytwo.detect.findings import Finding
from daytwo.notify.calc import SPIKE_RECOVERED_P
from daytwo.notify.live import TRAFFIC_SOURCE, Owned, record_live, traffic_finding
from daytwo.notify.models import Alert
from daytwo.notify.tell import MERGED, fold, live_alert, own, tell, thread_of
from daytwo.notify.traffic import (
    BASELINE_DAYS,
    Baselines,
    Signal,
    TrafficWindow,
    Usual,
    traffic_windows,
)
from daytwo.settings import Settings
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger

# Per signal: the alert's key prefix, its event, its title and what its summary says.
_ALARMS: dict[tuple[str, str], tuple[str, str]] = {
    ("errors", "spike"): ("traffic.error_spike", "Error spike"),
    ("fallbacks", "spike"): ("traffic.fallback_spike", "Fallback spike"),
    ("latency", "spike"): ("traffic.latency_spike", "Slow answers"),
    ("volume", "drop"): ("traffic.volume_drop", "Traffic drop"),
    ("volume", "surge"): ("traffic.volume_surge", "Traffic surge"),
}
_WHAT = {  # (in the summary, in the evidence)
    "errors": ("had an error", "had an error turn"),
    "fallbacks": ("had a fallback answer", "had a fallback answer"),
}


def _describe(
    name: str, s: Signal, usual: Usual, journey: str | None = None
) -> tuple[str, list[str]]:
    """(summary, evidence) of one signal of one deployment's (or journey's) window."""
    span = f"{s.minutes} min"
    whose = f"{name}'s {journey}" if journey else f"{name}'s"
    chance = f"chance of this at the usual level: {s.p_value:.1e}"
    if s.name in _WHAT:
        summary = (
            f"{s.value:.0%} of {whose} conversations in the last {span} "
            f"{_WHAT[s.name][0]}; usually {s.usual:.1%}."
        )
        evidence = [
            f"{s.count} of {s.n} conversations in the last {span} {_WHAT[s.name][1]} "
            f"({s.value:.1%})",
            f"usually {s.usual:.1%} at this time of day ({usual.n:,} conversations over the "
            f"last {BASELINE_DAYS} days)",
            chance,
        ]
    elif s.name == "latency":
        summary = (
            f"{whose} answers in the last {span}: p95 {s.value:,.0f} ms; usually {s.usual:,.0f} ms."
        )
        evidence = [
            f"{s.count} of {s.n} answers in the last {span} took longer than the usual p95 "
            f"of {s.usual:,.0f} ms (5% usually do)",
            chance,
        ]
    else:
        summary = (
            f"{s.count:,} {journey + ' ' if journey else ''}conversations reached {name} in "
            f"the last {span}; usually {s.usual:,.0f}."
        )
        evidence = [
            f"{s.count:,} conversations arrived in the last {span}",
            f"usually {s.usual:,.1f} (spread {usual.volume_var**0.5:,.1f}) at this time of day, "
            f"from {usual.buckets} windows of the last {BASELINE_DAYS} days",
            chance,
        ]
    return summary, evidence


def _alarm_after(s: Signal, told: str | None, silent: bool) -> str | None:
    """The alarm a signal's alert is in after this minute: the signal's own, or the one it
    told about until the window is back to its usual level (a drop while the feed is silent
    is the silent feed's to tell)."""
    if s.alarm == "drop" and silent:
        return told if told in _ALARM_STATES else None
    if s.alarm is not None:
        return s.alarm
    if told in _ALARM_STATES and s.p_value <= SPIKE_RECOVERED_P:
        return told
    return None


_ALARM_STATES = ("spike", "drop", "surge")


def check_traffic(
    ledger: Ledger, events: EventStore, settings: Settings, *, now: datetime | None = None,
    baselines: Baselines | None = None, since: datetime | None = None,
) -> int:  # fmt: skip
    """Raise a P1 alert per deployment (and journey, where the volume allows:
    :func:`~daytwo.notify.traffic.traffic_windows`) and signal whose last minutes are far off
    their usual level (``traffic.error_spike``, ``…fallback_spike``, ``…latency_spike``,
    ``…volume_drop``, ``…volume_surge``), and ``traffic.recovered`` once it is back. Each
    alarm is also a finding (:mod:`daytwo.notify.live`), open while it lasts, whose backlog
    item names the alert's owner. Returns messages queued."""
    now = now or datetime.now(UTC)
    base = settings.notify_public_url.rstrip("/")
    window = timedelta(minutes=settings.notify_escalate_minutes)
    queued = 0
    windows = traffic_windows(events, now=now, baselines=baselines, since=since)
    with ledger.session() as session:
        told = {
            a.dedupe_key: a.state
            for a in session.scalars(select(Alert).where(Alert.kind == "traffic"))
        }
        silent = set(
            session.scalars(
                select(Alert.deployment).where(Alert.kind == "feed", Alert.state == "silent")
            )
        )
    by_deployment: dict[str, list[TrafficWindow]] = {}
    for w in windows.values():
        by_deployment.setdefault(w.deployment, []).append(w)
    for name, scoped in by_deployment.items():
        # Every window of the deployment (itself, then its journeys): one finding per alarm,
        # recorded together (a finding not alarming any more resolves).
        alarms: dict[str, tuple[Signal, str, Finding]] = {}
        for w in sorted(scoped, key=lambda w: w.journey or ""):  # the deployment's first
            for s in w.signals:
                key = _traffic_key(s.name, name, w.journey)
                alarm = _alarm_after(s, told.get(key), name in silent)
                if (
                    w.journey is not None
                    and _traffic_key(s.name, name, None) in alarms
                    and told.get(key) not in _ALARM_STATES
                ):
                    # The whole deployment's alarm of this signal tells it: its journeys'
                    # windows show the same problem, not one of their own.
                    continue
                if alarm is not None:
                    summary, _ = _describe(name, s, w.usual, w.journey)
                    alarms[key] = (s, alarm, traffic_finding(
                        name, s, alarm, w.usual, now=now, summary=summary, journey=w.journey,
                    ))  # fmt: skip
        owned = record_live(
            ledger, settings, name, TRAFFIC_SOURCE, [f for _, _, f in alarms.values()], now=now
        )
        with ledger.session() as session:
            for w in scoped:
                queued += _tell_window(
                    session, settings, w, alarms, owned, silent=name in silent, now=now,
                    window=window, base=base,
                )  # fmt: skip
    return queued


def _traffic_key(signal: str, deployment: str, journey: str | None) -> str:
    """The dedupe key of a signal's alert: per deployment, and per journey of it."""
    return f"{signal}:{deployment}" + (f":{journey}" if journey else "")


def _tell_window(
    session: Session, settings: Settings, w: TrafficWindow,
    alarms: dict[str, tuple[Signal, str, Finding]], owned: dict[str, Owned], *, silent: bool,
    now: datetime, window: timedelta, base: str,
) -> int:  # fmt: skip
    """Tell each signal of one window whose alarm began (through its problem's alert when it
    has one) or ended. Returns messages queued."""
    name, journey = w.deployment, w.journey
    where = f"{name} · {journey}" if journey else name
    url = f"{base}/conversations?deployment={quote(name)}"
    if journey:
        url += f"&journey={quote(journey)}"
    queued = 0
    for s in w.signals:
        if s.alarm == "drop" and silent:
            continue  # the silent feed's alert already tells it
        key = _traffic_key(s.name, name, journey)
        alert = session.scalar(select(Alert).where(Alert.dedupe_key == key))
        summary, evidence = _describe(name, s, w.usual, journey)
        state = alert.state if alert is not None else None
        if s.alarm is not None and state != s.alarm and key in alarms:
            event, title = _ALARMS[(s.name, s.alarm)]
            alert, new = live_alert(
                session, key, name, "traffic", f"{title} on {where}", now, window
            )
            item = own(session, alert, owned, alarms[key][2])
            thread = thread_of(session, alert)
            if thread is not None:
                fold(alert, thread, now=now, window=window)
            queued += tell(
                session, settings, alert, event=event, state=s.alarm, summary=summary,
                evidence=evidence, update=not new, now=now, url=url, item=item, via=thread,
            )  # fmt: skip
        elif alert is not None and state in _ALARM_STATES and key not in alarms:
            thread = thread_of(session, alert) if alert.status == MERGED else None
            if thread is None:
                alert.status = "resolved"
            alert.escalate_at = None
            back = {"errors": "Errors", "fallbacks": "Fallbacks",
                    "latency": "Answer times", "volume": "Traffic"}[s.name]  # fmt: skip
            item = session.get(Item, alert.item_id) if alert.item_id else None
            queued += tell(
                session, settings, alert, event="traffic.recovered", state="normal",
                summary=f"{back} on {where} back to the usual level.", evidence=evidence,
                update=True, now=now, url=url, item=item, via=thread,
            )  # fmt: skip
    return queued
