"""Notify's part in an analysis: after the backlog has absorbed the run's findings, raise,
update and resolve the deployment's alerts, and send what is due.

A pipeline plugin like the backlog's (listed after it in
:data:`daytwo.pipeline.plugins.DEFAULT_CONSUMERS`). The alerts are written to the outbox
first; the send that follows is an optimisation (``daytwo serve`` delivers every few seconds
anyway), so an unreachable receiver never slows or fails the analysis beyond its timeout.
"""

from __future__ import annotations

from daytwo.notify.alerts import sync_alerts
from daytwo.notify.events import sync_gates, sync_slas
from daytwo.notify.outbox import deliver_due
from daytwo.pipeline import AnalysisContext, hookimpl


@hookimpl
def after_analysis(ctx: AnalysisContext) -> None:
    """Alerts for the analysed deployment's P1/P2 problems, SLA clocks and plan gates
    (idempotent), then delivery."""
    queued = sync_alerts(
        ctx.ledger,
        ctx.settings,
        ctx.deployment_name,
        run_id=ctx.run_id,
        regressed=ctx.recorded.regressed_fingerprints,
    )
    queued += sync_slas(ctx.ledger, ctx.settings)
    # The plan evaluated the deployment's gates earlier in this pipeline (it runs before
    # notify and may not import it): its kept evaluations say what changed.
    queued += sync_gates(ctx.ledger, ctx.settings, ctx.deployment_name)
    # Replays and the demo's build deliver through `serve` or `daytwo notify deliver`.
    if queued and ctx.trigger in ("cli", "schedule", "api"):
        deliver_due(ctx.ledger, ctx.settings)
