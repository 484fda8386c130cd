"""Turns loaded for the detector that asks for the most days; each detector sees its own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa

from daytwo.detect import AnalysisData, Finding, Window, analysis_data
from daytwo.detect.registry import Detector, Needs
from daytwo.detect.runner import _turns_of_days, run_detectors

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


def test_turns_chosen_by_their_start_times_are_those_chosen_by_interaction() -> None:
    # A look cut out of a history knows when each turn's interaction started: the turns of
    # each detector's days are chosen by comparing those times, the same turns as looking
    # their interactions up.
    day_of = {"base": 3, "between": 16, "recent": 18, "current": 24, "current2": 26.5}
    rows = [{"interaction_id": k, "started_at": D0 + timedelta(days=d)} for k, d in day_of.items()]
    turns = [
        {"interaction_id": k, "seq": seq, "role": role, "text": f"{k} {seq}"}
        for k in sorted(day_of)
        for seq, role in enumerate(("user", "assistant", "user"))
    ]
    data = analysis_data("bot", WINDOW, rows, turns)
    started = dict(
        zip(
            data.interactions["interaction_id"].to_pylist(),
            data.interactions["started_at"].cast(pa.int64()).to_pylist(),
            strict=True,
        )
    )
    turn_started = np.array([started[i] for i in data.turns["interaction_id"].to_pylist()])
    for days in (0, 10, 14, 30):
        by_interaction = _turns_of_days(data, days)
        by_time = _turns_of_days(data, days, turn_started)
        assert by_time.turns.equals(by_interaction.turns), days
