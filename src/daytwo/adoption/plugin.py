"""The adoption domain's part in an analysis: its detectors, contributed through the pipeline.

A pipeline plugin like any other (listed in
:data:`daytwo.pipeline.plugins.DEFAULT_CONSUMERS`, after the backlog): it hands the pipeline
the adoption detectors (where adoption decays and who stopped; the workaround signals), which
join the one registry every analysis, the findings API and page and the detector docs read.
Their findings reach the backlog, routed to their owners, like every other finding.

After an analysis of an agent-assist deployment that reached the end of its data (not a replay
of an earlier day) it stores the pilot-vs-rollout comparison with the run
(:mod:`daytwo.adoption.pilot_runs`) and, where an app in the same process serves readers from
the events store, computes the adoption page's default answers
(:func:`daytwo.adoption.served.warm`), so that the first reader after new data waits for none
of them. A one-shot analysis (``daytwo analyze`` with no server, the demo build) stores the
comparison, which later servers read, and prepares no answers: nobody would read them (a server
started later prepares its own, :class:`daytwo.adoption.served.PrepareAfterStart`).

It also hands the backlog's change impact the champions (``change_disturbances``): a champion
lifts their team's use over their first weeks, so a change's stored verdict leaves their team
out of its control while those weeks meet its windows, as the adoption views do.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from daytwo.adoption import memo, pilot_runs, served, service
from daytwo.adoption.causes import champion_lifts
from daytwo.adoption.detectors import DETECTORS
from daytwo.backlog.policy import BacklogPolicy
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
    """The run's pilot comparison stored, and the adoption page's answers ready where a
    server in this process reads them."""
    if ctx.deployment is None or str(ctx.deployment.kind) != "agent_assist":
        return
    if ctx.since is not None:
        return  # a replay: the days it analyses are history, not what the page shows
    period = service.period_of(ctx.events, ctx.deployment_name, None, None)
    if pilot_runs.run_period(ctx.as_of).end < period.end:
        return  # as of an earlier day than the data reaches
    pilot_runs.record(ctx.ledger, ctx.events, ctx.deployment_name, ctx.run_id, ctx.as_of)
    if not memo.has_readers(ctx.events):
        return  # a one-shot analysis: nobody reads answers kept in this process
    served.warm(
        ctx.ledger, ctx.events, ctx.deployment_name, BacklogPolicy.from_settings(ctx.settings)
    )
