"""The pipeline's hooks: what a domain (or an outside package) may plug into an analysis.

The product's own consumers implement them exactly as an outside plugin does: a module with
functions marked ``@hookimpl``, listed in :data:`daytwo.pipeline.plugins.DEFAULT_CONSUMERS`
(the product's) or named by a ``daytwo`` entry point (anyone else's).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from daytwo.detect.registry import Detector
    from daytwo.pipeline.context import AnalysisContext
    from daytwo.pipeline.disturbances import Disturbance

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


@hookspec
def change_disturbances(  # type: ignore[empty-body]
    session: Session, deployment: str, start: datetime, end: datetime
) -> Iterable[Disturbance]:
    """What else moved metrics in part of ``deployment`` during ``[start, end)``, for the
    backlog's change impact to leave out of a change's default control.

    Return :class:`~daytwo.pipeline.disturbances.Disturbance` records (the segment key and
    values reached, from when to when, and a label that says what it was); read them in
    ``session``, the ledger transaction measuring the change. Called each time a change is
    measured; every implementation's records count.
    """
