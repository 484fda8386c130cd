"""The pipeline's hooks: what a domain (or an outside package) may plug into an analysis.

The product's own consumers implement them exactly as an outside plugin does: a module with
functions marked ``@hookimpl``, listed in :data:`daytwo.pipeline.plugins.DEFAULT_CONSUMERS`
(the product's) or named by a ``daytwo`` entry point (anyone else's).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from daytwo.detect.registry import Detector
    from daytwo.pipeline.context import AnalysisContext

PROJECT = "daytwo"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_detectors() -> Iterable[Detector[Any]]:  # type: ignore[empty-body]
    """Detectors to run alongside the built-in ones.

    Return :class:`~daytwo.detect.registry.Detector` definitions (a stable id, a frozen params
    dataclass, a documented pure calculation). They join the one registry the runner, the API,
    the UI and the docs read, after the built-in detectors, and every analysis runs them.
    Called once, when the pipeline loads its plugins; an id already taken is an error.
    """


@hookspec
def after_analysis(ctx: AnalysisContext) -> None:
    """React to one recorded analysis run of one deployment.

    ``ctx`` is frozen: the settings and stores, the deployment, the run, its window, the
    findings and what the run changed in the ledger, and what triggered it. Consumers run in
    the pipeline's declared order, one at a time; one that raises is logged and the next one
    still runs (the findings are recorded before any consumer is called).
    """
