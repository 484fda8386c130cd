"""What a page marks on its trend charts (the recorded changes), and the problems a journey's
page lists (its open findings and items).

Every trend chart marks the changes shipped to what it shows (see
``metrics.charts.change_layers``). The changes are the backlog's; the pages ask for them
through the app, which the backlog's ``change_marks`` is given to when the app is assembled,
so nothing below the backlog imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from starlette.requests import Request


@dataclass(frozen=True, slots=True)
class ChangeMark:
    """A recorded change, as every trend chart marks it: the day it shipped and what it was."""

    day: date
    label: str  # "#3 flow: Identity check added"
    href: str  # the change's page


# ``change_marks(ledger, deployment, journey) -> marks``: set on ``app.state`` at assembly.
ChangeMarks = Callable[[Any, str, str | None], list[ChangeMark]]


def change_marks(request: Request, deployment: str, journey: str | None = None) -> list[ChangeMark]:
    """The recorded changes of ``deployment`` (to ``journey`` or to all of it), for the marks
    on a trend chart."""
    marks: ChangeMarks | None = getattr(request.app.state, "change_marks", None)
    if marks is None:
        return []
    return marks(request.app.state.ledger, deployment, journey)


@dataclass(frozen=True, slots=True)
class ProblemLink:
    """An open finding or backlog item about a journey, as the journey's page lists it."""

    kind: str  # "finding" or "item"
    label: str  # its title
    href: str  # its page
    level: str  # the finding's severity or the item's priority
    note: str  # first seen, or status and owner


# ``journey_problems(ledger, deployment, journey) -> links``: set on ``app.state`` at assembly.
JourneyProblems = Callable[[Any, str, str], list[ProblemLink]]


def journey_problems(request: Request, deployment: str, journey: str) -> list[ProblemLink]:
    """The open findings and items about ``journey`` of ``deployment`` (none when the app was
    assembled without the backlog)."""
    found: JourneyProblems | None = getattr(request.app.state, "journey_problems", None)
    if found is None:
        return []
    return found(request.app.state.ledger, deployment, journey)
