"""The registry accepts well-formed definitions only, and findings fingerprint their problem."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa
import pytest

import daytwo.detect as detect
from daytwo.detect import (
    AnalysisData,
    Detector,
    Finding,
    FindingScope,
    Severity,
    evidence_sample,
    fingerprint,
    weekly_impact,
)
from daytwo.detect.registry import _REGISTRY, register

T0 = datetime(2026, 3, 2, tzinfo=UTC)


@dataclass(frozen=True)
class Frozen:
    threshold: float = 0.5


@dataclass
class Loose:
    threshold: float = 0.5


def _calc(data: AnalysisData, params: Frozen) -> list[Finding]:
    """Finds nothing, on purpose."""
    return []


def _undocumented(data: AnalysisData, params: Frozen) -> list[Finding]:
    return []


def test_public_names() -> None:
    assert sorted(detect.__all__) == detect.__all__
    for name in detect.__all__:
        assert hasattr(detect, name)


def test_register_and_look_up() -> None:
    try:
        d = register(Detector("test_nothing", "Nothing", _calc, Frozen()))
        assert detect.get_detector("test_nothing") is d
        assert d.summary == "Finds nothing, on purpose."
        assert d.param_values() == {"threshold": 0.5}
        assert d in detect.detectors()
        # Registering the same calculation again is harmless (module re-import).
        register(Detector("test_nothing", "Nothing", _calc, Frozen()))
    finally:
        _REGISTRY.pop("test_nothing", None)


@pytest.mark.parametrize(
    ("definition", "error"),
    [
        (Detector("Bad-Id", "x", _calc, Frozen()), "lower_snake_case"),
        (Detector("test_loose", "x", _calc, Loose()), "frozen dataclass"),  # type: ignore[arg-type]
        (Detector("test_cls", "x", _calc, Frozen), "dataclass instance"),  # type: ignore[arg-type]
        (Detector("test_nodoc", "x", _undocumented, Frozen()), "docstring"),
    ],
)
def test_register_refuses(definition: Detector[object], error: str) -> None:
    with pytest.raises((ValueError, TypeError), match=error):
        register(definition)
    assert definition.id not in _REGISTRY


def test_duplicate_id_refused() -> None:
    try:
        register(Detector("test_dup", "x", _calc, Frozen()))
        with pytest.raises(ValueError, match="already registered"):
            register(Detector("test_dup", "x", _undocumented_but_documented, Frozen()))
    finally:
        _REGISTRY.pop("test_dup", None)


def _undocumented_but_documented(data: AnalysisData, params: Frozen) -> list[Finding]:
    """Another calculation under a taken id."""
    return []


def test_unknown_detector_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="unknown detector 'nope'"):
        detect.get_detector("nope")


def test_fingerprint_ignores_values_and_dates() -> None:
    scope = FindingScope("bot", journey="payments", segment=("site", "porto"))
    a = Finding("d", "degradation", "t", scope, Severity.high, T0, T0, key=("x",))
    b = Finding("d", "degradation", "other title", scope, Severity.low, T0, T0, key=("x",))
    assert a.fingerprint == b.fingerprint == fingerprint("degradation", scope, ("x",))
    assert a.fingerprint != fingerprint("degradation", scope, ("y",))
    assert a.fingerprint != fingerprint("degradation", FindingScope("bot", journey="payments"))
    assert scope.level == "segment"
    assert FindingScope("bot", metric="csat").level == "metric"


def test_evidence_sample_spans_the_period() -> None:
    ids = [f"c{i}" for i in range(100)]
    sample = evidence_sample(ids, 5)
    assert sample == ("c0", "c25", "c50", "c74", "c99")
    assert evidence_sample(pa.array(["a", None, "b"])) == ("a", "b")


def test_weekly_impact() -> None:
    rows = pa.table(
        {
            "customer_ref": ["u1", "u1", "u2", None],
            "agent_ref": [None, "a1", "a1", "a2"],
        }
    )
    impact = weekly_impact(rows, days=14)
    assert impact.interactions_per_week == 2.0
    assert impact.customers_per_week == 1.0
    assert impact.agents_per_week == 1.0
