"""The adoption domain's detectors: where adoption decays and who stopped; workarounds.

Both are registered definitions like every detector (a stable id, frozen params, a documented
pure calculation over an :class:`~daytwo.detect.data.AnalysisData`); the adoption domain
contributes them to every analysis through the pipeline's ``register_detectors`` hook. They
read the analysis's interactions, what the events engine computes from the assist events
(:mod:`daytwo.adoption.frames`) and, for the workaround signals, the agents' messages, and
report one finding per group or per signal, never one per agent.
"""

from __future__ import annotations

from typing import Any

from daytwo.adoption.decline import (
    ACCEPTANCE,
    DECLINE_KIND,
    DeclineDetectorParams,
    detect_adoption_decline,
)
from daytwo.adoption.frames import FEATURE_DAYS, FIRST_OFFERS, SUGGESTION_EVENTS
from daytwo.adoption.workarounds import (
    WORKAROUND_KIND,
    SignalResult,
    WorkaroundParams,
    detect_adoption_workarounds,
    workaround_signals,
)
from daytwo.detect.registry import Detector, Needs

__all__ = [
    "ACCEPTANCE",
    "DECLINE_KIND",
    "DETECTORS",
    "WORKAROUND_KIND",
    "DeclineDetectorParams",
    "SignalResult",
    "WorkaroundParams",
    "detect_adoption_decline",
    "detect_adoption_workarounds",
    "workaround_signals",
]

# The definitions the adoption domain contributes to every analysis (``plugin.py``).
DETECTORS: tuple[Detector[Any], ...] = (
    Detector(
        DECLINE_KIND,
        "Adoption decline and who stopped",
        detect_adoption_decline,
        DeclineDetectorParams(),
        Needs(reads=(FEATURE_DAYS,)),
    ),
    Detector(
        "adoption_workarounds",
        "Workaround signals",
        detect_adoption_workarounds,
        WorkaroundParams(),
        # The suggestions come paired with the agent's next message by the engine: no turn.
        Needs(reads=(FEATURE_DAYS, FIRST_OFFERS, SUGGESTION_EVENTS)),
    ),
)
