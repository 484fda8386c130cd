"""What a consumer of an analysis receives: one frozen :class:`AnalysisContext` per run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from daytwo.deployments.schemas import DeploymentPublic
from daytwo.detect.data import Window
from daytwo.detect.findings import Finding
from daytwo.detect.service import Recorded
from daytwo.settings import Settings
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger

# Who asked for the analysis: `daytwo analyze` and friends, the schedule in `daytwo serve`,
# the HTTP API, or the demo's build.
Trigger = Literal["cli", "schedule", "api", "demo"]
TRIGGERS: tuple[Trigger, ...] = ("cli", "schedule", "api", "demo")


@dataclass(frozen=True, slots=True)
class AnalysisContext:
    """One recorded run of the detectors over one deployment, as handed to every consumer.

    - ``deployment_name``: the deployment analysed; ``deployment`` is its registration (None
      for data whose deployment was never registered);
    - ``run_id``: the analysis run in the ledger (``GET /api/v1/findings/runs``);
    - ``as_of``: the end of the analysed data; ``window``: its baseline and current periods;
      ``since``: the first day of a replay (``daytwo analyze --since``), else None;
    - ``findings``: what the detectors found in this run, roots attached, less the segment
      findings a repeated look holds until a later look confirms them;
    - ``recorded``: what the run changed in the ledger: new, updated, resolved and regressed
      findings, counted and by fingerprint, and the fingerprints held;
    - ``trigger``: ``cli``, ``schedule``, ``api`` or ``demo``.
    """

    settings: Settings
    ledger: Ledger
    events: EventStore
    deployment_name: str
    deployment: DeploymentPublic | None
    run_id: int
    as_of: datetime
    window: Window
    findings: tuple[Finding, ...]
    recorded: Recorded
    trigger: Trigger
    since: datetime | None = None
