"""The backlog's part in an analysis: each finding of a recorded run opens or updates its item.

A pipeline plugin like any other (listed first in
:data:`daytwo.pipeline.plugins.DEFAULT_CONSUMERS`), so everything that reads the backlog after
an analysis sees its items up to date.
"""

from __future__ import annotations

from daytwo.backlog.intake import absorb_detected
from daytwo.backlog.policy import BacklogPolicy
from daytwo.pipeline import AnalysisContext, hookimpl


@hookimpl
def after_analysis(ctx: AnalysisContext) -> None:
    """Every finding the run recorded, changed or resolved into the backlog (idempotent)."""
    policy = BacklogPolicy.from_settings(ctx.settings)
    r = ctx.recorded
    changed = {
        *r.new_fingerprints,
        *r.updated_fingerprints,
        *r.resolved_fingerprints,
        *r.regressed_fingerprints,
    }
    absorb_detected(ctx.ledger, policy, deployment=ctx.deployment_name, only=changed)
