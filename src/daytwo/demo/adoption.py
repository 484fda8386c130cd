"""The people side of the demo in the ledger: the pilot and the rollout as cohorts, the two
champions, and the two changes the adoption story turns on (the move of Porto's suggestion
service, which slowed suggestions there, and a refresher training for one team), each recorded
with the segment it touched and measured on suggestion acceptance.

Declared from the manifest's ``adoption`` section (``people.py``), so the ledger and the rows
tell the same story.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from daytwo.adoption.champions import add_champion
from daytwo.adoption.cohorts import agents_of, create_cohort
from daytwo.adoption.schemas import ChampionCreate, CohortCreate
from daytwo.backlog import changes
from daytwo.backlog.policy import BacklogPolicy
from daytwo.backlog.schemas import ChangeCreate
from daytwo.demo.manifest import ASSIST
from daytwo.settings import Settings
from daytwo.store.events import open_event_store
from daytwo.store.ledger import Ledger

ACTOR = "demo"
ACCEPTANCE = "suggestion_acceptance_rate"


def _at(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def seed_adoption(settings: Settings, manifest: dict[str, Any]) -> None:
    """Cohorts always; champions and the two changes where the problems are injected."""
    truth = manifest.get("adoption")
    if not truth:
        return
    ledger = Ledger(settings.resolved_ledger_url)
    policy = BacklogPolicy.from_settings(settings)
    try:
        with open_event_store(settings.resolved_events_url) as events:
            for role in ("pilot", "rollout"):
                create_cohort(
                    ledger,
                    events,
                    CohortCreate(
                        deployment=ASSIST, name=role, role=role, segment=f"cohort={role}",
                        description="The volunteers who had the tool first, for "
                        f"{truth['pilot_vs_rollout']['days']} days."
                        if role == "pilot" else "Every other agent, from the rollout on.",
                    ),
                    actor=ACTOR,
                )  # fmt: skip
            named = agents_of(events, ASSIST)
            for c in truth.get("champions", []):
                if c["agent"] not in named:
                    # At a low volume a champion can go the whole history without a
                    # conversation; daytwo refuses to mark someone the data never names.
                    continue
                add_champion(
                    ledger,
                    events,
                    ChampionCreate(
                        deployment=ASSIST, agent_ref=c["agent"], started_at=_at(c["started_at"]),
                        team=c["team"], site=c["site"],
                        note="Trained in depth; the first person their team asks.",
                    ),
                    actor="maria.s",
                )  # fmt: skip
            decay = next((p for p in manifest["problems"] if p["kind"] == "adoption_decay"), None)
            cause = decay.get("cause") if decay else None
            training = truth.get("training")
            # (kind, author, title, rationale, when, segments) of the two changes in the story.
            story = [
                (c["kind"], "ai-platform", c["change"],
                 "Consolidating the suggestion service's regions.", c["shipped_at"],
                 c["segments"])
                for c in [cause] if c
            ] + [
                (t["kind"], "maria.s", t["title"],
                 "Refresher per call type, tied to how the team uses the tool.",
                 t["shipped_at"], t["segments"])
                for t in [training] if t
            ]  # fmt: skip
            specs = [
                ChangeCreate(
                    deployment=ASSIST, kind=kind, author=author, title=title, rationale=why,
                    shipped_at=_at(when), segments=segments, metric=ACCEPTANCE,
                )
                for kind, author, title, why, when, segments in story
            ]  # fmt: skip
            for spec in specs:
                change = changes.record_change(ledger, events, spec, policy, actor=ACTOR)
                changes.measure_impact(ledger, events, change.id, policy, actor=ACTOR)
    finally:
        ledger.dispose()
