"""The stored pilot comparisons are pruned as each run stores its own: the latest, the history
line's runs and each month's last (the monthly review's) stay; nothing else does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from daytwo.adoption import compare, pilot_runs
from daytwo.adoption.models import PilotRun as PilotRunRow
from daytwo.adoption.schemas import Comparison
from daytwo.store.ledger import Ledger

DEP = "care-assist"


def _comparison(gap: float) -> Comparison:
    row = compare._gap_row(pilot_runs.HEADLINE_KPI, "Suggestion acceptance", "share", None, "", "")
    kpi = row.model_copy(update={"naive": gap + 0.05, "adjusted": gap, "lo": gap - 0.02,
                                 "hi": gap + 0.02})  # fmt: skip
    return Comparison(focus="pilot", other="rollout", basis="same_age", strata=[], window="",
                      kpis=[kpi])  # fmt: skip


def _ids(ledger: Ledger, deployment: str = DEP) -> list[int]:
    with ledger.session() as session:
        rows = session.scalars(
            select(PilotRunRow.run_id)
            .where(PilotRunRow.deployment == deployment)
            .order_by(PilotRunRow.id)
        )
        return list(rows)


def test_storing_a_run_prunes_what_nothing_reads(
    ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = Ledger(ledger_url)
    answer: list[tuple[Comparison | None, str]] = []  # what the next comparison finds

    def compare_now(_ledger: Any, _events: Any, _dep: str, _period: Any) -> Any:
        return answer.pop()

    monkeypatch.setattr(pilot_runs, "compare_now", compare_now)
    monkeypatch.setattr(pilot_runs, "HISTORY_RUNS", 4)  # a short line, so few runs show it
    try:
        # A run every third day from 20 January to 18 March; the one of 29 January found no
        # pilot.
        start = datetime(2026, 1, 20, 6, tzinfo=UTC)

        def store(n: int, compared: bool = True, deployment: str = DEP) -> None:
            answer.append((_comparison(n / 100), "") if compared else (None, pilot_runs.NO_PILOT))
            pilot_runs.record(ledger, None, deployment, n, start + timedelta(days=3 * (n - 1)))  # type: ignore[arg-type]

        for n in range(1, 21):
            store(n, compared=n != 4)
        store(900, deployment="other")  # another deployment's runs are its own
        # The line's last 4 (17-20: 9 to 18 March), and the last run of January (3: 26
        # January) and of February (14: 28 February), which their monthly reviews read.
        assert _ids(ledger) == [3, 14, 17, 18, 19, 20]
        assert [p.run_id for p in pilot_runs.history(ledger, DEP, limit=4)] == [17, 18, 19, 20]
        for before, run_id in ((datetime(2026, 2, 1, tzinfo=UTC), 3),
                               (datetime(2026, 3, 1, tzinfo=UTC), 14)):  # fmt: skip
            points = pilot_runs.history(ledger, DEP, limit=1, before=before)
            assert [p.run_id for p in points] == [run_id]
        assert _ids(ledger, "other") == [900]
        # A run that compares nothing is kept while it is the latest (the page says why), and
        # the line stays beside it; the next run that compares replaces it.
        store(21, compared=False)
        assert _ids(ledger) == [3, 14, 17, 18, 19, 20, 21]
        latest = pilot_runs.latest(ledger, DEP)
        assert latest is not None
        assert (latest.run_id, latest.comparison, latest.note) == (21, None, pilot_runs.NO_PILOT)
        store(22)
        assert _ids(ledger) == [3, 14, 18, 19, 20, 22]
    finally:
        ledger.dispose()


def test_which_runs_are_kept() -> None:
    at = datetime(2026, 5, 31, 23, tzinfo=UTC)
    assert pilot_runs.kept_ids([]) == set()
    # Only runs that compared nothing: the latest alone.
    assert pilot_runs.kept_ids([(1, at, False), (2, at, False)]) == {2}
    # Past the line, a month's run is kept only as its last one.
    rows = [(i, at - timedelta(days=40 - i), True) for i in range(1, 41)]
    assert pilot_runs.kept_ids(rows) == {9, *range(29, 41)}  # 9: 30 April
