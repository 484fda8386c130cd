"""The adoption domain's part in an analysis: its detectors, contributed through the pipeline.

A pipeline plugin like any other (listed in
:data:`daytwo.pipeline.plugins.DEFAULT_CONSUMERS`, after the backlog): it hands the pipeline
the adoption detectors (where adoption decays and who stopped; the workaround signals), which
join the one registry every analysis, the findings API and page and the detector docs read.
Their findings reach the backlog, routed to their owners, like every other finding.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from daytwo.adoption.detectors import DETECTORS
from daytwo.detect.registry import Detector
from daytwo.pipeline import hookimpl


@hookimpl
def register_detectors() -> Iterable[Detector[Any]]:
    """Adoption's detectors, run after the built-in ones."""
    return DETECTORS
