"""Small, exact agent-assist histories for the adoption detectors' golden cases."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from daytwo.detect.data import AnalysisData, DeploymentInfo, Window, analysis_data

D0 = datetime(2026, 3, 1, tzinfo=UTC)
DAYS = 50
# Baseline: days 0-13; current: the last 7 days (43-49), as of the start of day 50.
WINDOW = Window(
    D0, D0 + timedelta(days=14), D0 + timedelta(days=DAYS - 7), D0 + timedelta(days=DAYS)
)
ANSWER = "I have blocked the card and ordered a replacement; it arrives in 5 working days."
RETYPED = "ok so i've blocked the card and ordered a replacement, it arrives in 5 working days"
OTHER = "Let me check that for you."


@dataclass
class History:
    """Rows written by hand: conversations, their suggestions and the agents' messages."""

    interactions: list[dict[str, Any]] = field(default_factory=list)
    assist: list[dict[str, Any]] = field(default_factory=list)
    turns: list[dict[str, Any]] = field(default_factory=list)

    def conversation(
        self,
        agent: str,
        day: int,
        *,
        site: str,
        team: str,
        tenure: str = "1-2y",
        suggestions: list[tuple[str, str | None]] = (),  # type: ignore[assignment]
        journey: str = "cards",
        ai_used: bool | None = None,
        minute: int = 0,
    ) -> None:
        """One conversation; ``suggestions`` are (action after shown, agent's next message):
        action ``accepted``, ``edited``, ``dismissed`` or ``ignored``."""
        iid = f"{agent}-{day}-{minute}-{len(self.interactions)}"
        start = D0 + timedelta(days=day, hours=10, minutes=minute)
        used = sum(a in ("accepted", "edited") for a, _ in suggestions)
        self.interactions.append(
            {
                "interaction_id": iid, "started_at": start, "agent_ref": agent,
                "journey": journey,
                "segments": [("site", site), ("team", team), ("tenure", tenure)],
                "n_assist_shown": len(suggestions), "n_assist_accepted": sum(
                    a == "accepted" for a, _ in suggestions),
                "n_assist_edited": sum(a == "edited" for a, _ in suggestions),
                "n_assist_dismissed": sum(a == "dismissed" for a, _ in suggestions),
                "ai_used": (used > 0) if ai_used is None else ai_used,
            }
        )  # fmt: skip
        seq = 0
        for k, (action, message) in enumerate(suggestions):
            at = start + timedelta(seconds=60 * k)
            self.assist.append(
                {"interaction_id": iid, "seq": seq, "ts": at, "agent_ref": agent,
                 "feature": "suggested_reply", "action": "shown",
                 "attributes": '{"text": "' + ANSWER + '"}'}
            )  # fmt: skip
            seq += 1
            if action != "ignored":
                self.assist.append(
                    {"interaction_id": iid, "seq": seq, "ts": at + timedelta(seconds=5),
                     "agent_ref": agent, "feature": "suggested_reply", "action": action}
                )  # fmt: skip
                seq += 1
            if message is not None:
                self.turns.append(
                    {"interaction_id": iid, "seq": k, "ts": at + timedelta(seconds=20),
                     "role": "agent", "text": message}
                )  # fmt: skip

    def data(self) -> AnalysisData:
        return analysis_data(
            DeploymentInfo("desk", "agent_assist"),
            WINDOW,
            self.interactions,
            self.turns,
            assist_events=self.assist,
        )


def uses(n_used: int, n_shown: int) -> list[tuple[str, str | None]]:
    """``n_shown`` suggestions of which the first ``n_used`` were accepted (sent as is)."""
    return [("accepted", ANSWER)] * n_used + [("dismissed", OTHER)] * (n_shown - n_used)


SITES = {"porto": "porto-1", "leeds": "leeds-1"}


def stopped_site(fall_from: int | None, n_agents: int = 8) -> History:
    """8 agents a site, 2 conversations a day of 5 suggestions each, 3 used (60%). From day
    ``fall_from`` Porto's agents use none (they stopped); Leeds carries on."""
    h = History()
    for site, team in SITES.items():
        for a in range(n_agents):
            agent = f"{site[0]}{a}"
            tenure = "0-6m" if a < 3 else "2y+"
            for day in range(DAYS):
                stop = site == "porto" and fall_from is not None and day >= fall_from
                for m in range(2):
                    h.conversation(
                        agent, day, site=site, team=team, tenure=tenure, minute=m,
                        suggestions=uses(0 if stop else 3, 5),
                    )  # fmt: skip
    return h


def workaround_floor() -> History:
    """10 agents at one site. Agents r0 and r1 dismiss 8 suggested replies in the last week
    and type 6 of them themselves; w0 and w1 accept 8 and send something else each time; l0
    and l1 take 10 conversations without the AI though they had it before; the rest accept
    4 and dismiss 4 (sending their own words after a dismissal)."""
    h = History()
    last = DAYS - 7
    for a in range(10):
        agent = ["r0", "r1", "w0", "w1", "l0", "l1", "n0", "n1", "n2", "n3"][a]
        h.conversation(agent, 1, site="cork", team="cork-1", suggestions=uses(2, 2))
        for day in range(last, DAYS):
            if agent.startswith("r"):
                s = [("dismissed", RETYPED)] * 6 + [("dismissed", OTHER)] * 2
            elif agent.startswith("w"):
                s = [("accepted", OTHER)] * 8
            elif agent.startswith("l"):
                h.conversation(agent, day, site="cork", team="cork-1", ai_used=False,
                               suggestions=[("ignored", None)])  # fmt: skip
                h.conversation(agent, day, site="cork", team="cork-1", ai_used=False, minute=30,
                               suggestions=[("ignored", None)])  # fmt: skip
                continue
            else:
                s = uses(4, 8)
            h.conversation(agent, day, site="cork", team="cork-1", suggestions=s)
            h.conversation(agent, day, site="cork", team="cork-1", minute=30,
                           suggestions=uses(1, 1))  # fmt: skip
    return h
