"""Every registered detector on tiny, hand-checkable data; a meta-test keeps the table complete.

Each case builds an :class:`AnalysisData` from a few rows (repeated where a test needs a
sample), runs one detector with its registered params, and checks the findings by hand: the
comment on each case shows the arithmetic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from daytwo.detect import AnalysisData, DeploymentInfo, Finding, Window, analysis_data, detectors

D0 = datetime(2026, 3, 1, tzinfo=UTC)
# Baseline: days 0-13; current: days 21-27 (as of the start of day 28).
WINDOW = Window(D0, D0 + timedelta(days=14), D0 + timedelta(days=21), D0 + timedelta(days=28))


def at(day: float, hour: float = 10) -> datetime:
    return D0 + timedelta(days=day, hours=hour)


def inter(i: str, day: float, **kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "interaction_id": i,
        "started_at": at(day),
        "ended_at": at(day) + timedelta(minutes=3),
        "channel": "chat",
        "journey": "billing",
        "customer_ref": f"u{i}",
        "outcome": "contained",
        "n_turns": 2,
        "n_user_turns": 1,
        "n_assistant_turns": 1,
        "n_fallback_turns": 0,
        "n_error_turns": 0,
        "n_repeats": 0,
    }
    base.update(kw)
    return base


@dataclass(frozen=True)
class Case:
    detector: str
    name: str
    build: Callable[[], AnalysisData]
    check: Callable[[list[Finding]], None]


def escalations(share_before: float, share_after: float, n: int = 400) -> AnalysisData:
    """``n`` billing conversations a window, the given share of them escalated."""
    rows = []
    for k in range(n):
        rows.append(
            inter(f"b{k}", (k % 14), outcome="escalated" if k < share_before * n else "contained")
        )
        rows.append(
            inter(
                f"c{k}", 21 + (k % 7), outcome="escalated" if k < share_after * n else "contained"
            )
        )
    return analysis_data("bot", WINDOW, rows)


def _check_escalation(findings: list[Finding]) -> None:
    # Baseline 10% (40/400), current 30% (120/400): +20 points. Pooled p = 0.2, se =
    # sqrt(0.2*0.8*(2/400)) = 0.0283, z = 0.2/0.0283 = 7.07 in the 7-day window. Containment
    # falls from 90% to 70% too (same z). Journey billing and channel chat are the whole
    # deployment, so each finding is the deployment's or one of those identical cells.
    by_metric = {f.scope.metric: f for f in findings}
    esc = by_metric["escalation_rate"]
    assert esc.kind == "degradation"
    assert esc.baseline is not None
    assert esc.current is not None
    assert esc.baseline.value == pytest.approx(0.10)
    assert esc.current.value == pytest.approx(0.30)
    assert esc.details["z"] == pytest.approx(7.071, abs=0.01)
    assert esc.details["window_days"] == 7
    assert len(esc.evidence) == 20
    assert all(e.startswith("c") for e in esc.evidence)
    assert esc.impact.interactions_per_week == pytest.approx(120.0)
    assert by_metric["containment_rate"].current.value == pytest.approx(0.70)  # type: ignore[union-attr]


def _check_nothing(findings: list[Finding]) -> None:
    assert findings == []


def slo_data(contained_share: float) -> AnalysisData:
    rows = [
        inter(
            f"c{k}", 21 + (k % 7), outcome="contained" if k < contained_share * 700 else "escalated"
        )
        for k in range(700)
    ]
    info = DeploymentInfo("bot", targets={"containment_rate": 0.6, "not_monitored": 1.0})
    return analysis_data(info, WINDOW, rows)


def _check_slo(findings: list[Finding]) -> None:
    # 40% contained (280/700) vs a 60% target: 33% below it, Wilson upper bound 0.437 < 0.6,
    # every one of the 7 days too (40 of 100 each): breached since day 21, high severity.
    (f,) = findings
    assert f.kind == "slo_breach"
    assert f.scope.metric == "containment_rate"
    assert f.current is not None
    assert f.current.value == pytest.approx(0.4)
    assert f.current.n == 700
    assert f.first_seen == D0 + timedelta(days=21)
    assert f.severity.name == "high"


def feed_data(outage: bool, duplicates: int = 0) -> AnalysisData:
    """Ten interactions every hour for four weeks of history and the current week."""
    rows, deliveries = [], []
    for day in range(28):
        for hour in range(24):
            if outage and day == 24 and 9 <= hour < 14:
                continue
            for k in range(10):
                i = f"d{day}h{hour}k{k}"
                start = at(day, hour + k / 10)
                rows.append(inter(i, day, started_at=start, ended_at=start + timedelta(minutes=2)))
                received = at(day, hour + 1)
                deliveries.append({"interaction_id": i, "batch_id": f"b{day}", "source": "api",
                                   "received_at": received})  # fmt: skip
                if day == 25 and hour == 0 and k < duplicates:
                    deliveries.append({"interaction_id": i, "batch_id": "again", "source": "api",
                                       "received_at": received})  # fmt: skip
    return analysis_data("bot", WINDOW, rows, deliveries=deliveries)


def _check_outage(findings: list[Finding]) -> None:
    # Five empty hours (09-14 on day 24) where 10 an hour arrived every week before: 50
    # expected, P(0) = e^-50, far below e^-12. Nothing else is wrong.
    (f,) = findings
    assert f.kind == "freshness_gap"
    assert f.first_seen == at(24, 9)
    assert f.last_seen == at(24, 14)
    assert f.baseline is not None
    assert f.baseline.value == pytest.approx(50.0)
    assert f.details["hours"] == 5


def _check_duplicates(findings: list[Finding]) -> None:
    # 10 of the 1,690 interactions delivered in the current week (7 days x 24 h x 10, plus
    # the 10 of the hour before it, delivered at its start) came twice: 0.59% >= 0.5%.
    (f,) = findings
    assert f.kind == "duplicate_deliveries"
    assert f.details == {"duplicated": 10, "deliveries": 1690}
    assert len(f.evidence) == 10


CASES = [
    Case("degradation", "escalation triples", lambda: escalations(0.10, 0.30), _check_escalation),
    Case("degradation", "stable rates find nothing", lambda: escalations(0.10, 0.11),
         _check_nothing),
    Case("degradation", "an improvement is not a degradation", lambda: escalations(0.3, 0.1),
         lambda fs: _check_nothing([f for f in fs if f.scope.metric == "escalation_rate"])),
    Case("slo_breach", "containment far below target", lambda: slo_data(0.4), _check_slo),
    Case("slo_breach", "on target", lambda: slo_data(0.65), _check_nothing),
    Case("feed_quality", "a five-hour outage", lambda: feed_data(True), _check_outage),
    Case("feed_quality", "a steady feed", lambda: feed_data(False), _check_nothing),
    Case("feed_quality", "duplicate deliveries", lambda: feed_data(False, 10),
         _check_duplicates),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.detector}: {c.name}")
def test_golden(case: Case) -> None:
    from daytwo.detect import get_detector

    d = get_detector(case.detector)
    found = d.run(case.build())
    assert all(f.detector == case.detector for f in found)
    case.check(found)


def test_every_detector_has_golden_cases() -> None:
    covered = {c.detector for c in CASES}
    missing = [d.id for d in detectors() if d.id not in covered]
    assert not missing, f"detectors without golden cases: {missing}"
