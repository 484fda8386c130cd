"""The adoption domain's part in an analysis: its detectors, contributed through the pipeline.

A pipeline plugin like any other (listed in
:data:`daytwo.pipeline.plugins.DEFAULT_CONSUMERS`, after the backlog): it hands the pipeline
the adoption detectors (where adoption decays and who stopped; the workaround signals), which
join the one registry every analysis, the findings API and page and the detector docs read.
Their findings reach the backlog, routed to their owners, like every other finding.

After an analysis of an agent-assist deployment it also tests every agent against their own
baseline as of the end of the data, so that the adoption page (which reads the same answer
while the events stay unchanged, :mod:`daytwo.adoption.memo`) finds it ready.

It also hands the backlog's change impact the champions (``change_disturbances``): a champion
lifts their team's use over their first weeks, so a change's stored verdict leaves their team
out of its control while those weeks meet its windows, as the adoption views do.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from daytwo.adoption import service
from daytwo.adoption.causes import champion_lifts
from daytwo.adoption.detectors import DETECTORS
from daytwo.adoption.stopped import who_stopped
from daytwo.detect.registry import Detector
from daytwo.pipeline import AnalysisContext, Disturbance, hookimpl


@hookimpl
def register_detectors() -> Iterable[Detector[Any]]:
    """Adoption's detectors, run after the built-in ones."""
    return DETECTORS


@hookimpl
def change_disturbances(
    session: Session, deployment: str, start: datetime, end: datetime
) -> list[Disturbance]:
    """The champions whose first weeks meet ``[start, end)``: a change's measured impact leaves
    their teams out of its control, as the adoption views do."""
    return [d for d in champion_lifts(session, deployment) if d.start < end and d.end >= start]


@hookimpl
def after_analysis(ctx: AnalysisContext) -> None:
    """Who stopped, as the adoption page's default period asks for it, kept for its readers."""
    if ctx.deployment is None or str(ctx.deployment.kind) != "agent_assist":
        return
    period = service.period_of(ctx.events, ctx.deployment_name, None, None)
    who_stopped(ctx.events, ctx.deployment_name, period.end)
