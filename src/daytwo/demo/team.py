"""The demo's people acting on its backlog day by day, as a real team would, while the demo's
history is replayed through the scheduled analysis (``daytwo demo --history``).

Each look of the replay runs inside :meth:`DemoTeam.around`: the clock is the look's day
(:func:`daytwo.clock.frozen_at`), so what the analysis records carries the day it happened on;
before the look, what the story says happened by then is recorded at its own time (the
changes at their manifest dates, the lost-card item raised by hand, the agents' friction
reports); after it, the owners act on the backlog in the morning:

- each owner triages a new item a set number of days after it was created, and the two
  squads start work on theirs two days later; the agent-assist product team is behind and
  triages nothing, so its items run past their SLA;
- a shipped change is measured once its impact window has closed (an improvement verifies the
  item it fixed);
- the cards squad ships a fix for the card-declined escalations twelve days after the flow
  change; measured without an improvement, its item is reopened with the verdict;
- conversation design closes one item as ``wont_fix``, with the reason (an off-topic
  knowledge gap, else its least urgent P4 that is not a gap);
- Maria answers the agents' friction reports five days after each arrives.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from daytwo import clock
from daytwo.backlog import changes, feedback, service
from daytwo.backlog.policy import BacklogPolicy
from daytwo.backlog.schemas import ChangeCreate, FeedbackCreate, ItemCreate, ItemPublic, SignalIn
from daytwo.demo.backlog import ACTOR, FRICTION, seed_owners, story_changes
from daytwo.demo.manifest import ASSIST, BOT
from daytwo.errors import InputError
from daytwo.settings import Settings
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger

# Days from an item's creation to its owner's triage; an owner missing here is behind.
TRIAGE_DAYS = {
    "cards-squad": 1, "ai-platform": 1, "conversation-design": 2, "maria.s": 3, "floor-ops": 2,
}  # fmt: skip
BEHIND = "assist-product"
TRIAGED = "read the evidence; ours"  # what an owner notes when triaging
# Days from triage to work started, for the owners who start work on what they triage.
START_DAYS = {"cards-squad": 2, "ai-platform": 2, "maria.s": 4}
# The owners act in the morning after the night's analysis.
MORNING = timedelta(hours=9)
FIX_AFTER = timedelta(days=12)  # the cards squad's fix, after the flow change
FIX_WINDOW_DAYS = 14  # measured on two weeks either side, so its verdict lands in the history
REPLY_AFTER = timedelta(days=5)  # Maria's answers to the friction reports
RAISED_BEFORE = timedelta(days=10)  # the lost-card item, raised by hand before its article


def _at(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


@dataclass
class _Planned:
    """A change of the story, recorded on its ship date and measured when its window closes."""

    spec: ChangeCreate
    fixes_lost_card: bool = False
    change_id: int | None = None
    measured: bool = False


@dataclass
class DemoTeam:
    settings: Settings
    ledger: Ledger
    events: EventStore
    manifest: dict[str, Any]
    end: datetime
    policy: BacklogPolicy = field(init=False)
    planned: list[_Planned] = field(default_factory=list)
    friction: list[tuple[datetime, str, str, str | None]] = field(default_factory=list)
    lost_card: tuple[datetime, str] | None = None
    lost_card_item: int | None = None
    fix_at: datetime | None = None
    fix: _Planned | None = None
    wont_fix_done: bool = False
    replies: list[tuple[datetime, int, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.policy = BacklogPolicy.from_settings(self.settings)
        problems = {p["id"]: p for p in self.manifest["problems"]}
        fix, flow = problems.get("containment-fix"), problems.get("flow-change-escalations")
        decay = problems.get("adoption-decay-porto")
        if fix:
            self.lost_card = (_at(fix["onset"]) - RAISED_BEFORE, fix["scope"]["journey"])
        # The story's changes as the one-shot demo records them; the article is linked to the
        # lost-card item when it ships (the item is raised during the replay).
        self.planned.extend(
            _Planned(spec, fixes_lost_card=spec.kind == "knowledge")
            for spec in story_changes(self.manifest)
        )
        if flow:
            self.fix_at = _at(flow["onset"]) + FIX_AFTER
        if decay:
            onset = _at(decay["onset"])
            self.friction = [(onset + timedelta(days=d), a, t, done) for d, a, t, done in FRICTION]

    def start(self, at: datetime) -> None:
        """The owners, their routing rules and the default owners, in place from ``at``."""
        with clock.frozen_at(at):
            seed_owners(self.ledger)

    @contextmanager
    def around(self, deployment: str, at: datetime) -> Iterator[None]:
        """One look of the replay: the story up to ``at`` recorded, the look at ``at``, then
        the owners' morning."""
        with clock.frozen_at(at):
            self._before(deployment, at)
            yield
        morning = min(at + MORNING, self.end)
        with clock.frozen_at(morning):
            self._after(deployment, at, morning)

    def _before(self, deployment: str, at: datetime) -> None:
        if deployment == BOT:
            if self.lost_card and self.lost_card_item is None and self.lost_card[0] <= at:
                self._raise_lost_card(*self.lost_card)
            for p in self.planned:
                if p.change_id is None and p.spec.shipped_at <= at:
                    self._record(p)
        if deployment == ASSIST:
            while self.friction and self.friction[0][0] <= at:
                when, agent, text, done = self.friction.pop(0)
                try:
                    with clock.frozen_at(when):
                        row = feedback.add_feedback(
                            self.ledger, self.events,
                            FeedbackCreate(deployment=ASSIST, source="agent", kind="friction",
                                           text=text, author=agent, received_at=when),
                            self.policy, actor=f"agent:{agent}",
                        )  # fmt: skip
                except InputError:
                    continue  # a demo too small to hold this agent's conversations
                if done:
                    self.replies.append((when + REPLY_AFTER, row.id, done))

    def _raise_lost_card(self, when: datetime, journey: str) -> None:
        # Raised by hand by the cards squad: lost-card questions went to agents for want of an
        # answer; the article's measured impact closes it.
        with clock.frozen_at(when):
            item = service.create_item(
                self.ledger,
                ItemCreate(
                    deployment=BOT, journey=journey, owner="cards-squad",
                    title="Lost-card questions go to agents: no answer about replacement times",
                    description="Customers who lost or damaged a card ask when the new one "
                    "comes; the bot has no article for it and hands them over.",
                    signal=SignalIn(volume_per_week=60, severity=2, cost_key="escalation"),
                ),
                self.policy, actor="cards-squad",
            )  # fmt: skip
        self.lost_card_item = item.id

    def _record(self, p: _Planned) -> None:
        spec = p.spec
        if p.fixes_lost_card and self.lost_card_item is not None:
            spec = spec.model_copy(update={"items": [self.lost_card_item]})
        with clock.frozen_at(spec.shipped_at):
            change = changes.record_change(
                self.ledger, self.events, spec, self.policy, actor=spec.author
            )
        p.change_id = change.id

    def _after(self, deployment: str, at: datetime, morning: datetime) -> None:
        for p in [*self.planned, *([self.fix] if self.fix else [])]:
            if p.change_id is None or p.measured or p.spec.deployment != deployment:
                continue
            if _window_closed(
                p.spec.shipped_at, p.spec.window_days or self.policy.impact_window_days, at
            ):
                done = changes.measure_impact(
                    self.ledger, self.events, p.change_id, self.policy, actor=ACTOR
                )
                p.measured = True
                if p is self.fix and done.verdict != "improved":
                    self._reopen_fix(done.verdict)
        items = service.list_items(self.ledger, deployment=deployment, include_closed=False)
        for item in items:
            self._act_on(item, at)
        if deployment == BOT and self.fix is None and self.fix_at and self.fix_at <= morning:
            self._ship_fix(items, morning)
        if deployment == BOT and not self.wont_fix_done:
            self._wont_fix(items)
        while self.replies and self.replies[0][0] <= morning:
            _, row_id, text = self.replies.pop(0)
            feedback.close_feedback(self.ledger, row_id, text, actor="maria.s")

    def _act_on(self, item: ItemPublic, day: datetime) -> None:
        """Triage on the morning of the owner's day after creation; work started likewise."""
        owner = item.owner or ""
        if item.status == "new" and owner in TRIAGE_DAYS:
            if _day(item.created_at) + timedelta(days=TRIAGE_DAYS[owner]) <= day:
                service.move_item(
                    self.ledger, item.id, "triaged", self.policy, actor=owner,
                    reason=TRIAGED,
                )  # fmt: skip
        elif (
            item.status == "triaged"
            and owner in START_DAYS
            and item.triaged_at is not None
            and _day(item.triaged_at) + timedelta(days=START_DAYS[owner]) <= day
        ):
            service.move_item(
                self.ledger, item.id, "in_progress", self.policy, actor=owner,
                reason="picked up this sprint",
            )  # fmt: skip

    def _ship_fix(self, items: list[ItemPublic], morning: datetime) -> None:
        """The cards squad's fix for the card-declined escalations (it does not work)."""
        # The escalation problem of the flow, not a knowledge gap that happens to sit in it.
        escalations = [
            i for i in items
            if i.journey == "card_declined" and i.status != "fix_shipped"
            and i.finding_kind != "knowledge_gap"
        ]  # fmt: skip
        if not escalations:
            return
        target = max(escalations, key=lambda i: ("scalation" in i.title, i.score))
        spec = ChangeCreate(
            deployment=BOT, kind="flow", author="cards-squad",
            title="Identity check skipped for recognised devices",
            rationale="Most card-declined customers who escalate fail the new identity check "
            "on a device we already know.",
            shipped_at=morning, journeys=["card_declined"],
            control_journeys=[j for j in self._controls() if j != "card_declined"],
            metric="escalation_rate", items=[target.id], window_days=FIX_WINDOW_DAYS,
        )  # fmt: skip
        self.fix = _Planned(spec)
        self._record(self.fix)

    def _controls(self) -> list[str]:
        for p in self.planned:
            if p.spec.control_journeys:
                return list(p.spec.control_journeys)
        return []

    def _reopen_fix(self, verdict: str) -> None:
        if self.fix is None or self.fix.change_id is None:
            return
        change = changes.get_change(self.ledger, self.fix.change_id)
        for item_id in change.items:
            item = service.get_item(self.ledger, item_id)
            if item.status == "fix_shipped":
                service.move_item(
                    self.ledger, item_id, "reopened", self.policy, actor="cards-squad",
                    reason=f"change {change.id} measured {verdict}: escalations did not come "
                    "down; back to the flow",
                )  # fmt: skip

    def _wont_fix(self, items: list[ItemPublic]) -> None:
        """Conversation design closes one triaged item with a reason: an off-topic knowledge
        gap (questions the assistant is not for), else its least urgent P4 that is not a gap."""
        mine = [i for i in items if i.owner == "conversation-design" and i.status == "triaged"]
        off_topic = [
            i for i in mine if i.finding_kind == "knowledge_gap" and "off-topic" in i.title
        ]
        minor = [i for i in mine if i.priority == "P4" and i.finding_kind != "knowledge_gap"]
        if off_topic:
            least = min(off_topic, key=lambda i: i.score)
            reason = (
                "Out of what the bank's assistant is for; handed to the FAQ page owners "
                "instead of a new intent."
            )
        elif minor:
            least = min(minor, key=lambda i: i.score)
            reason = (
                "Read the conversations: customers still get their answer; not worth a "
                "change to the flows this quarter."
            )
        else:
            return
        service.move_item(
            self.ledger, least.id, "wont_fix", self.policy, actor="conversation-design",
            reason=reason,
        )  # fmt: skip
        self.wont_fix_done = True


def _day(at: datetime) -> datetime:
    return at.replace(hour=0, minute=0, second=0, microsecond=0)


def _window_closed(shipped: datetime, window_days: int, at: datetime) -> bool:
    """Whether the days after ``shipped`` that its impact is measured on are all in by ``at``."""
    day0 = shipped.replace(hour=0, minute=0, second=0, microsecond=0)
    day1 = day0 if shipped == day0 else day0 + timedelta(days=1)
    return day1 + timedelta(days=window_days) <= at
