"""Who runs the demo's AI after go-live: its owners, routing rules, shipped changes and the
friction agents reported, declared from the same story as the manifest.

The changes are the manifest's own (the knowledge article that fixed lost-card containment, the
identity check that sent card-declined customers to agents, the chat model switch); each is
measured against control journeys as soon as the demo is built. The article closes the item it
was written for: measured as an improvement, the item is verified.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from daytwo.backlog import changes, feedback, owners, service
from daytwo.backlog.policy import BacklogPolicy
from daytwo.backlog.schemas import (
    ChangeCreate,
    FeedbackCreate,
    ItemCreate,
    OwnerCreate,
    RuleCreate,
    SignalIn,
)
from daytwo.demo.manifest import ASSIST, BOT
from daytwo.settings import Settings
from daytwo.store.events import open_event_store
from daytwo.store.ledger import Ledger

ACTOR = "demo"

OWNERS = (
    OwnerCreate(handle="dana.k", name="Dana Kowalski", kind="person", team="ai-performance",
                contact="dana.k@bank.example"),
    OwnerCreate(handle="conversation-design", name="Conversation design", kind="team",
                contact="#conv-design"),
    OwnerCreate(handle="cards-squad", name="Cards squad", kind="team", contact="#cards-squad"),
    OwnerCreate(handle="ai-platform", name="AI platform", kind="team", contact="#ai-platform"),
    OwnerCreate(handle="maria.s", name="Maria Santos", kind="person", team="porto-floor",
                contact="maria.s@bank.example"),
    OwnerCreate(handle="assist-product", name="Agent assist product", kind="team",
                contact="#assist-product"),
    OwnerCreate(handle="floor-ops", name="Contact-centre operations", kind="team",
                contact="#floor-ops"),
)  # fmt: skip

# (deployment, owner, journey, finding kind, segment): tried in this order, first match wins.
RULES: tuple[tuple[str, str, str | None, str | None, str | None], ...] = (
    (BOT, "ai-platform", None, "freshness_gap", None),
    (BOT, "ai-platform", None, "duplicate_deliveries", None),
    (BOT, "ai-platform", None, None, "channel:chat"),
    (BOT, "cards-squad", "card_declined", None, None),
    (BOT, "cards-squad", "card_lost_or_damaged", None, None),
    (BOT, "conversation-design", None, "knowledge_gap", None),
    (ASSIST, "ai-platform", None, "freshness_gap", None),
    (ASSIST, "maria.s", None, None, "site:porto"),
    # Who uses the tool and how is the floor's operations business, wherever it happens.
    (ASSIST, "floor-ops", None, "adoption_decline", None),
    (ASSIST, "floor-ops", None, "adoption_workaround", None),
)
DEFAULTS = {BOT: "conversation-design", ASSIST: "assist-product"}

# (days after the decay onset, agent, text, what was done or None)
FRICTION = (
    (2, "a-0317", "Suggested replies in Porto keep quoting the old card fee; I type my own.",
     "Fee article updated for Porto; suggestions refreshed on day 9."),
    (4, "a-0342", "The knowledge card covers the reply box so I switched it off.", None),
    (6, "a-0388", "Suggestions are slow on the afternoon shift, faster to answer myself.", None),
)  # fmt: skip


def _at(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def _problem(manifest: dict[str, Any], pid: str) -> dict[str, Any] | None:
    return next((p for p in manifest["problems"] if p["id"] == pid), None)


def seed_backlog(settings: Settings, manifest: dict[str, Any]) -> None:
    """Owners, rules, default owners, the story's changes (measured) and agent feedback."""
    ledger = Ledger(settings.resolved_ledger_url)
    policy = BacklogPolicy.from_settings(settings)
    try:
        seed_owners(ledger)
        if manifest["problems"]:
            _changes_and_feedback(settings, ledger, policy, manifest)
    finally:
        ledger.dispose()


def seed_owners(ledger: Ledger) -> None:
    """The owners, their routing rules and each deployment's default owner."""
    for spec in OWNERS:
        owners.create_owner(ledger, spec, actor=ACTOR)
    for deployment, owner, journey, kind, segment in RULES:
        owners.add_rule(
            ledger,
            RuleCreate(deployment=deployment, owner=owner, journey=journey,
                       finding_kind=kind, segment=segment),
            actor=ACTOR,
        )  # fmt: skip
    for deployment, owner in DEFAULTS.items():
        owners.set_default_owner(ledger, deployment, owner, actor=ACTOR)


def story_changes(
    manifest: dict[str, Any], *, lost_card_item: int | None = None
) -> list[ChangeCreate]:
    """The changes the story ships, in order: the lost-card article (linked to
    ``lost_card_item`` when given), the card-declined flow change, the chat model switch;
    those whose problem the manifest does not hold are left out."""
    fix = _problem(manifest, "containment-fix")
    flow = _problem(manifest, "flow-change-escalations")
    model = _problem(manifest, "model-regression")
    controls: list[str] = list(fix["expected"]["control_journeys"]) if fix else []
    specs: list[ChangeCreate] = []
    if fix:
        specs.append(
            ChangeCreate(
                deployment=BOT, kind="knowledge", author="conversation-design",
                title="Knowledge article: lost and damaged cards",
                rationale="Customers asking about lost cards were handed over for want of an "
                "answer about replacement times.",
                shipped_at=_at(fix["onset"]), journeys=[fix["scope"]["journey"]],
                control_journeys=controls, metric="containment_rate",
                items=[lost_card_item] if lost_card_item is not None else [],
            )
        )  # fmt: skip
    if flow:
        specs.append(
            ChangeCreate(
                deployment=BOT, kind="flow", author="cards-squad",
                title="Identity check added to the card-declined flow",
                rationale="Fraud team request after a spike in social-engineering attempts.",
                shipped_at=_at(flow["onset"]), journeys=[flow["scope"]["journey"]],
                control_journeys=controls, metric="escalation_rate",
            )
        )  # fmt: skip
    if model:
        specs.append(
            ChangeCreate(
                deployment=BOT, kind="model", author="ai-platform",
                title=f"Chat moved to {model['expected']['model_after']}",
                rationale="Vendor deprecation notice for the previous model.",
                shipped_at=_at(model["onset"]), journeys=[], metric="containment_rate",
            )
        )  # fmt: skip
    return specs


def _changes_and_feedback(
    settings: Settings, ledger: Ledger, policy: BacklogPolicy, manifest: dict[str, Any]
) -> None:
    fix = _problem(manifest, "containment-fix")
    decay = _problem(manifest, "adoption-decay-porto")
    specs: list[ChangeCreate] = []
    if fix:
        # The item the article was written for: raised by hand by the cards squad (lost-card
        # questions went to agents for want of an answer), closed by the change's measured
        # impact: the loop from item to owner to change to verified, on the demo's own data.
        item = service.create_item(
            ledger,
            ItemCreate(
                deployment=BOT, journey=fix["scope"]["journey"], owner="cards-squad",
                title="Lost-card questions go to agents: no answer about replacement times",
                description="Customers who lost or damaged a card ask when the new one comes; "
                "the bot has no article for it and hands them over.",
                signal=SignalIn(volume_per_week=60, severity=2, cost_key="escalation"),
            ),
            policy, actor="cards-squad",
        )  # fmt: skip
        specs.append(story_changes(manifest, lost_card_item=item.id)[0])
    specs.extend(spec for spec in story_changes(manifest) if spec.kind != "knowledge")
    with open_event_store(settings.resolved_events_url) as events:
        for spec in specs:
            change = changes.record_change(ledger, events, spec, policy, actor=ACTOR)
            changes.measure_impact(ledger, events, change.id, policy, actor=ACTOR)
        if decay is None:
            return
        onset = _at(decay["onset"])
        for days, agent, text, done in FRICTION:
            row = feedback.add_feedback(
                ledger,
                events,
                FeedbackCreate(deployment=ASSIST, source="agent", kind="friction", text=text,
                               author=agent, received_at=onset + timedelta(days=days)),
                policy,
                actor=f"agent:{agent}",
            )  # fmt: skip
            if done:
                feedback.close_feedback(ledger, row.id, done, actor="maria.s")
