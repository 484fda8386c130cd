"""Turns loaded for the detector that asks for the most days; each detector sees its own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from daytwo.detect import AnalysisData, Finding, Window, analysis_data
from daytwo.detect.registry import Detector, Needs
from daytwo.detect.runner import run_detectors

D0 = datetime(2026, 3, 2, tzinfo=UTC)
# Baseline: days 0-14; current: days 21-28.
WINDOW = Window(D0, D0 + timedelta(days=14), D0 + timedelta(days=21), D0 + timedelta(days=28))


@dataclass(frozen=True)
class NoParams:
    pass


def _data() -> AnalysisData:
    days = {"base": 3, "between": 16, "recent": 18, "current": 24}
    rows = [{"interaction_id": k, "started_at": D0 + timedelta(days=d)} for k, d in days.items()]
    turns = [{"interaction_id": k, "seq": 0, "role": "user", "text": k} for k in days]
    return analysis_data("bot", WINDOW, rows, turns)


def test_each_detector_sees_the_turns_of_the_days_it_asked_for() -> None:
    seen: dict[str, set[str]] = {}

    def recorder(name: str) -> Detector[NoParams]:
        def calculate(data: AnalysisData, params: NoParams) -> list[Finding]:
            seen[name] = set(data.turns["interaction_id"].to_pylist())
            return []

        days = {"windows": 0, "ten": 10, "fourteen": 14}[name]
        return Detector(name, name, calculate, NoParams(), Needs(("text",), turn_days=days))

    chosen = [recorder("windows"), recorder("ten"), recorder("fourteen")]
    run_detectors(_data(), chosen)
    assert seen["windows"] == {"base", "current"}  # the baseline and current windows only
    assert seen["ten"] == {"base", "recent", "current"}  # days 18 on
    assert seen["fourteen"] == {"base", "between", "recent", "current"}  # days 14 on
