"""The demo's 90-day plans and rollouts, with the history a team would have made.

Both deployments start from the default plan of their kind, adapted the way a team adapts it
(the virtual agent's alert routes wait for the notification service, so they move to the scale
gate). The gates are then evaluated through the history as the daily analysis would have
(weekly, and daily around the end of stabilise), and the people of the story act on what they
see, on the evidence's own dates:

- **care-bot**: runbooks are written in the first four weeks; the stabilise gate is signed off
  by its owner on the first day after day 30 it is ready, which the duplicate deliveries of
  days 30-33 push past day 30; optimise is in progress, its unmet criteria named; when the chat
  model change (day 60) breaks the stabilise criteria the gate was passed on, the plan raises a
  finding. By call type: a pilot on two journeys, then live, then an expansion to two more, one
  of which the scorecard advises against taking further.
- **care-assist**: rolled out by site (the pilot site, then the next two); its stabilise gate is
  passed by an admin's override (a runbook still in review), with the reason kept; when Porto's
  adoption decays its rollout is paused, with the reason.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import yaml
from sqlalchemy import update

from daytwo.backlog import owners
from daytwo.backlog.models import RoutingRule
from daytwo.backlog.schemas import RuleCreate
from daytwo.demo.manifest import ASSIST, BOT, JOURNEY_NAMES, SITES
from daytwo.errors import ConflictError
from daytwo.governance.accounts import create_user, new_password
from daytwo.governance.models import Role
from daytwo.governance.policies import set_policy
from daytwo.plan import rollout, service, standing
from daytwo.plan.consumer import evaluate_gates
from daytwo.plan.ledger import EventsMemo
from daytwo.plan.schemas import RecordSpec, RolloutSet
from daytwo.plan.validate import parse_plan, template_text
from daytwo.settings import Settings
from daytwo.store.events import EventStore, open_event_store
from daytwo.store.ledger import Ledger

OWNER, ADMIN = "dana.k", "admin"  # the AI performance owner, and the demo's admin
# Journeys the conversation designers own by rule (cards are the cards squad's already);
# fraud and travel stay unowned: a gap the optimise gate names.
OWNED_JOURNEYS = ("balance_and_transactions", "payments", "credit_limit", "rewards", "applications")
# Journeys with a handover record by the end, and the day each was written.
HANDOVERS = {
    "balance_and_transactions": 72,
    "card_lost_or_damaged": 76,
    "card_declined": 80,
    "payments": 84,
}
# The assist runbook still in review when its stabilise gate was passed, and when it landed.
LATE_RUNBOOK, LATE_RUNBOOK_DAY = "travel_and_fees", 41
ASSIST_OVERRIDE_DAY = 33


@dataclass(frozen=True, slots=True)
class Move:
    day: int
    deployment: str
    state: str
    journey: str | None = None
    site: str | None = None
    reason: str = ""


MOVES = (
    Move(
        2,
        BOT,
        "pilot",
        "balance_and_transactions",
        reason="Highest volume and the most predictable outcomes: the first call type.",
    ),
    Move(
        2,
        BOT,
        "pilot",
        "card_lost_or_damaged",
        reason="Predictable and costly to hand over: the second call type.",
    ),
    Move(0, ASSIST, "pilot", site=SITES[0], reason="Volunteers at the first site."),
    Move(14, ASSIST, "live", site=SITES[0]),
    Move(14, ASSIST, "pilot", site=SITES[1]),
    Move(21, BOT, "live", "balance_and_transactions", reason="Pilot held its targets for 3 weeks."),
    Move(21, BOT, "live", "card_lost_or_damaged", reason="Pilot held its targets for 3 weeks."),
    Move(28, ASSIST, "live", site=SITES[1]),
    Move(28, ASSIST, "pilot", site=SITES[2]),
    Move(38, BOT, "pilot", "payments", reason="Next by volume, as recommended."),
    Move(38, BOT, "pilot", "credit_limit", reason="Next by value, as recommended."),
    Move(42, ASSIST, "live", site=SITES[2]),
    Move(52, BOT, "live", "credit_limit", reason="Two clean weeks in pilot."),
    Move(62, BOT, "expanding", "balance_and_transactions", reason="Adding the phone line."),
    Move(
        66,
        ASSIST,
        "paused",
        site=SITES[2],
        reason="Acceptance fell to a third of its level; coaching before anything else.",
    ),
)


def _plan_data(kind: str, deployment: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(template_text(kind))
    data["deployment"] = deployment
    if kind == "virtual_agent":
        # The notification service arrives with the scale phase: its criterion moves there.
        stabilise, scale = data["phases"][0], data["phases"][2]
        moved = [c for c in stabilise["gate"] if c.get("check") == "alert_routes"]
        stabilise["gate"] = [c for c in stabilise["gate"] if c.get("check") != "alert_routes"]
        scale["gate"].extend(moved)
    return data


def _at(start: date, day: int, hour: int = 9) -> datetime:
    return datetime.combine(start + timedelta(days=day), time(hour), tzinfo=UTC)


def _owners_and_records(ledger: Ledger, events: EventStore, start: date, last: int) -> None:
    """Journey owners (set up at go-live), runbooks and handovers on the days they were
    written (those after the end of a shorter history are not written yet)."""
    for journey in OWNED_JOURNEYS:
        owners.add_rule(
            ledger,
            RuleCreate(deployment=BOT, owner="conversation-design", journey=journey),
            actor="demo",
        )
    # The routing was the team's set-up at go-live.
    with ledger.session() as session:
        session.execute(update(RoutingRule).values(created_at=_at(start, 0, 8)))
    for k, journey in enumerate(JOURNEY_NAMES):
        written = _at(start, 6 + 2 * k)
        for deployment in (BOT, ASSIST):
            day = LATE_RUNBOOK_DAY if (deployment, journey) == (ASSIST, LATE_RUNBOOK) else None
            service.add_record(
                ledger,
                events,
                deployment,
                RecordSpec(
                    journey=journey,
                    kind="runbook",
                    title=f"Runbook: {journey}",
                    location=f"https://wiki.bank.example/ai/{deployment}/{journey}",
                ),
                actor="demo",
                at=_at(start, day) if day else written,
            )
    for journey, day in HANDOVERS.items():
        if day > last:
            continue
        service.add_record(
            ledger,
            events,
            BOT,
            RecordSpec(
                journey=journey,
                kind="handover",
                title=f"Handover: {journey}",
                location=f"https://wiki.bank.example/ai/handover/{journey}",
                owner="conversation-design",
            ),
            actor="demo",
            at=_at(start, day),
        )
    set_policy(ledger, BOT, text_retention_days=90, interaction_retention_days=400, actor="demo")


def _days(last: int) -> list[int]:
    """The days the gates are evaluated: weekly, and daily from day 30 to 45."""
    days = set(range(13, last + 1, 7)) | set(range(30, min(45, last) + 1)) | {last}
    return sorted(d for d in days if d <= last)


def seed_plan(settings: Settings, manifest: dict[str, Any]) -> None:
    """Plans, records, rollout moves, sign-offs and daily gate evaluations, on their dates."""
    if not manifest["problems"]:
        return
    start = date.fromisoformat(manifest["start"])
    last = (date.fromisoformat(manifest["end"]) - start).days
    ledger = Ledger(settings.resolved_ledger_url)
    try:
        create_user(ledger, OWNER, new_password(), Role.owner, actor="demo")
        with open_event_store(settings.resolved_events_url) as events:
            for name, kind in ((BOT, "virtual_agent"), (ASSIST, "agent_assist")):
                service.apply_plan(
                    ledger,
                    events,
                    parse_plan(_plan_data(kind, name)),
                    actor="user:dana.k",
                    at=_at(start, 0, 8),
                )
            _owners_and_records(ledger, events, start, last)
            _history(ledger, events, start, last, settings)
    finally:
        ledger.dispose()


def _history(
    ledger: Ledger, events: EventStore, start: date, last: int, settings: Settings
) -> None:
    # The gates' findings go to the backlog under the demo's settings (read once, not again
    # for every finding a gate raises).
    moves = sorted(MOVES, key=lambda m: m.day)
    evaluated = _days(last)
    # Nothing here writes the events store: its reads (the span, the baselines, a window read
    # by an earlier day or gate) are shared by every evaluation of the history.
    reads: EventsMemo = {}
    for day in range(last + 1):
        for m in (m for m in moves if m.day == day):
            rollout.set_state(
                ledger,
                events,
                m.deployment,
                RolloutSet(
                    journey=m.journey,
                    group={"site": m.site} if m.site else None,
                    state=m.state,
                    reason=m.reason,
                ),
                actor=f"user:{OWNER}",
                at=_at(start, day),
                through=start + timedelta(days=day),
            )
        if day not in evaluated:
            continue
        through = start + timedelta(days=day)
        for deployment in (BOT, ASSIST):
            if day == last:  # every gate, on the ledger as it stands
                evaluate_gates(ledger, events, deployment, settings=settings, reads=reads)
            else:
                evaluate_gates(
                    ledger, events, deployment, through=through, upcoming=False,
                    settings=settings, reads=reads,
                )  # fmt: skip
        if day >= 30:  # the weekly review after the phase's last day
            _sign_off(ledger, events, start, day, reads)


def _sign_off(ledger: Ledger, events: EventStore, start: date, day: int, reads: EventsMemo) -> None:
    """The owner signs off a ready stabilise gate; the admin overrides the assist one."""
    through = start + timedelta(days=day)
    plan = standing.get_plan(ledger, events, BOT, through=through)
    stabilise = plan.phases[0]
    if stabilise.signoff is None and stabilise.evaluation and stabilise.evaluation.ready:
        service.signoff(
            ledger,
            events,
            BOT,
            "stabilise",
            actor=f"user:{OWNER}",
            role=Role.owner,
            reason="Every criterion met; the feed is clean again after the duplicate deliveries.",
            through=through,
            at=_at(start, day + 1, 10),
            reads=reads,
        )
    if day != ASSIST_OVERRIDE_DAY:
        return
    assist = standing.get_plan(ledger, events, ASSIST, through=through).phases[0]
    if assist.signoff is not None:
        return
    unmet = [
        c.summary
        for c in (assist.evaluation.criteria if assist.evaluation else [])
        if c.verdict != "met"
    ]
    reason = (
        f"Moving on with {len(unmet)} criteria not met ({'; '.join(unmet)}). The "
        f"{LATE_RUNBOOK} runbook is in legal review and the floor works from the interim guide; "
        "the rest is followed up in optimise."
    )
    with contextlib.suppress(ConflictError):  # passed on its own already
        service.signoff(
            ledger,
            events,
            ASSIST,
            "stabilise",
            actor=f"user:{ADMIN}",
            role=Role.admin,
            override=True,
            through=through,
            at=_at(start, day + 1, 16),
            reason=reason,
            reads=reads,
        )
