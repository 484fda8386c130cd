"""What else moved a metric in part of a deployment for a while, as the domains above the
backlog know it, handed to the backlog's change-impact control.

A change's measured impact compares where it reached with a control, by default every other
journey or segment value; the backlog itself leaves out of that control what its other changes
reached in the same windows. Other domains know of more that moves a metric in part of a
deployment (the adoption domain: a champion who started in a team lifts that team's use over
their first weeks), but the backlog may not import them. So they contribute these
*disturbances* through the pipeline's ``change_disturbances`` hook, as they contribute
detectors; :func:`contributed` gathers them for one deployment and period, in the pipeline's
declared plugin order, and every stored verdict leaves out what they reached, each listed with
the reason among what the control left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from daytwo.pipeline.plugins import consumers, plugin_manager

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


@dataclass(frozen=True, slots=True)
class Disturbance:
    """Something known to move the metric in part of a deployment for a while: another change,
    or an event another domain records (a champion starting in a team). ``key`` and
    ``values`` name the segment it reached; ``label`` says what it was, in words a reader of the
    change's impact understands; it matters to a change whose windows it meets."""

    label: str
    key: str
    values: frozenset[str]
    start: datetime
    end: datetime


def contributed(
    session: Session, deployment: str, start: datetime, end: datetime
) -> list[Disturbance]:
    """Every plugin's disturbances of ``deployment`` that meet ``[start, end)``, read in
    ``session`` (the caller's transaction)."""
    out: list[Disturbance] = []
    for impl in consumers(plugin_manager(), "change_disturbances"):
        found: Any = impl.function(session=session, deployment=deployment, start=start, end=end)
        for d in found or ():
            if not isinstance(d, Disturbance):
                raise TypeError(
                    f"plugin {impl.plugin_name!r}: change_disturbances must return Disturbance "
                    f"records, not {type(d).__name__}"
                )
            if d.start < end and d.end >= start:
                out.append(d)
    return out
