"""Where a deployment stands in its plan, for every page that shows time: the phases and gates
drawn on trend charts, and the banner on the overview.

The plan domain sits above the pages that draw charts (metrics, findings, changes), so it
answers through a provider registered here (:func:`register`) rather than being imported by
them. Without a provider, or for a deployment without a plan, :func:`timeline_of` says None
and charts fall back to the calendar's days 0/30/60/90 from go-live.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from daytwo.store.ledger import Ledger


@dataclass(frozen=True, slots=True)
class Mark:
    """A dated line on a trend chart: a phase that starts, a gate passed or overridden."""

    day: date
    label: str
    kind: Literal["phase", "passed", "overridden"] = "phase"


@dataclass(frozen=True, slots=True)
class PlanBanner:
    """The phase and the next gate's status, in a line."""

    day: int | None
    days_total: int
    phase: str | None  # the current phase's name (None: every phase passed)
    calendar_ahead: bool
    lead: str  # "Day 47 of 90, still in stabilise: 2 of 7 criteria not met."
    gate_met: int | None
    gate_total: int | None
    gate_ready: bool | None
    overridden: tuple[str, ...] = ()  # phases passed by an admin's override
    href: str = "/plan"


@dataclass(frozen=True, slots=True)
class Timeline:
    marks: list[Mark] = field(default_factory=list)
    banner: PlanBanner | None = None


Provider = Callable[[Ledger, str], Timeline | None]
_PROVIDERS: list[Provider] = []


def register(provider: Provider) -> None:
    if provider not in _PROVIDERS:
        _PROVIDERS.append(provider)


def timeline_of(ledger: Ledger, deployment: str) -> Timeline | None:
    """The first provider's answer for ``deployment`` (None without a plan)."""
    for provider in _PROVIDERS:
        found = provider(ledger, deployment)
        if found is not None:
            return found
    return None
