"""The analysis pipeline: the one place that knows the order of an analysis.

It runs the detectors over each deployment (the built-in ones and any a plugin registers),
records their findings, then hands each recorded run to every consumer, in a declared order,
through one hook (``after_analysis``). The product's own consumers (the backlog first) are
plugins listed in :data:`DEFAULT_CONSUMERS`; an outside package registers the same way through
a ``daytwo`` entry point. A plugin may also hand the backlog's change impact what else moved
a metric in part of a deployment (``change_disturbances``, :mod:`daytwo.pipeline.disturbances`).
The command line, the schedule in ``daytwo serve``, the HTTP API and
the demo all analyse through :func:`analyze` (and cluster knowledge gaps through
:func:`cluster_gaps`), never through the detectors' runner.

A consumer::

    from daytwo.pipeline import AnalysisContext, hookimpl

    @hookimpl
    def after_analysis(ctx: AnalysisContext) -> None:
        print(ctx.deployment_name, ctx.recorded.new_fingerprints)

See ``docs/architecture.md`` for the layers, the hooks and a runnable example.
"""

from daytwo.pipeline.context import TRIGGERS, AnalysisContext, Trigger
from daytwo.pipeline.disturbances import Disturbance, contributed
from daytwo.pipeline.hookspecs import hookimpl
from daytwo.pipeline.plugins import DEFAULT_CONSUMERS, ENTRY_POINT_GROUP, plugin_manager
from daytwo.pipeline.run import (
    NO_DATA,
    LastLooks,
    RunOutcome,
    analyze,
    cluster_gaps,
    hand_over,
)

__all__ = [
    "DEFAULT_CONSUMERS",
    "ENTRY_POINT_GROUP",
    "NO_DATA",
    "TRIGGERS",
    "AnalysisContext",
    "Disturbance",
    "LastLooks",
    "RunOutcome",
    "Trigger",
    "analyze",
    "cluster_gaps",
    "contributed",
    "hand_over",
    "hookimpl",
    "plugin_manager",
]
