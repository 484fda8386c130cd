"""Detectors: what got worse, where and why, as findings with evidence.

Each detector is a registered definition (``registry.py``) with a pure calculation over one
deployment's data (``data.py``) that returns :class:`Finding` values (``findings.py``). The
runner (``runner.py``) loads the data, runs every detector and records the findings in the
ledger (``models.py``, ``service.py``) by fingerprint. Nothing here knows what happens to the
findings next: the analysis pipeline (:mod:`daytwo.pipeline`) calls the runner and hands each
recorded run to its consumers.
"""

from daytwo.detect.data import AnalysisData, DeploymentInfo, Window, analysis_data
from daytwo.detect.findings import (
    Finding,
    FindingScope,
    Impact,
    Measure,
    Severity,
    evidence_sample,
    fingerprint,
    weekly_impact,
)
from daytwo.detect.registry import (
    Detector,
    Needs,
    detector,
    detectors,
    get_detector,
    load_detectors,
    register,
)

__all__ = [
    "AnalysisData",
    "DeploymentInfo",
    "Detector",
    "Finding",
    "FindingScope",
    "Impact",
    "Measure",
    "Needs",
    "Severity",
    "Window",
    "analysis_data",
    "detector",
    "detectors",
    "evidence_sample",
    "fingerprint",
    "get_detector",
    "load_detectors",
    "register",
    "weekly_impact",
]
