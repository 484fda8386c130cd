"""What the adoption calculations find, in the words an owner reads: features, groups and
tenure bands named as people say them, and the one sentence that stands for a group's agents
who stopped (instead of a row per agent)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from daytwo.adoption.calc import GroupRise

FEATURE_LABELS: dict[str, str] = {
    "suggested_reply": "suggested replies",
    "knowledge_card": "knowledge cards",
    "summary": "summaries",
}


def feature_label(feature: str) -> str:
    """A feature id in words, plural: ``suggested_reply`` -> ``suggested replies``."""
    return FEATURE_LABELS.get(feature, feature.replace("_", " "))


_BAND = re.compile(r"^0\s*-\s*(\d+)\s*(m|mo|months?|y|yrs?|years?)$", re.IGNORECASE)


def newest_band_phrase(band: str) -> str:
    """``0-6m`` -> ``in their first 6 months``; any other band is named as it is."""
    m = _BAND.match(band.strip())
    if not m:
        return f"in tenure band {band}"
    k, unit = int(m.group(1)), m.group(2).lower()
    noun = "month" if unit.startswith("m") else "year"
    return f"in their first {k} {noun}{'s' if k != 1 else ''}"


def group_phrase(key: str, value: str) -> str:
    """Where a group is, in words: ``at porto``, ``in team porto-2``, ``with tenure 2y+``."""
    if key == "site":
        return f"at {value}"
    if key == "team":
        return f"in team {value}"
    if key == "tenure":
        return f"with tenure {value}"
    if key == "deployment":
        return f"on {value}"
    return f"with {key} {value}"


def stopped_sentence(rise: GroupRise, feature: str, days: int, newest_band: str | None) -> str:
    """The one sentence an owner reads instead of a row per agent.

    "23 agents at porto stopped or sharply cut their use of suggested replies in the last
    2 weeks (8 stopped altogether); 17 of them are in their first 6 months."
    """
    span = f"{days // 7} weeks" if days % 7 == 0 and days >= 14 else f"{days} days"
    who = f"{rise.flagged} agent{'s' if rise.flagged != 1 else ''}"
    if rise.stopped == rise.flagged:
        verb = f"stopped using {feature_label(feature)}"
        extra = ""
    else:
        verb = f"stopped or sharply cut their use of {feature_label(feature)}"
        extra = f" ({rise.stopped} stopped altogether)" if rise.stopped else ""
    text = f"{who} {group_phrase(rise.key, rise.value)} {verb} in the last {span}{extra}"
    if newest_band is not None and rise.newest:
        verb = "is" if rise.newest == 1 else "are"
        text += f"; {rise.newest} of them {verb} {newest_band_phrase(newest_band)}"
    return text + "."


# -- where adoption decays: a group's pooled use against its own recent past -----------------
