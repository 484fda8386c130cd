"""The adoption page's latest answers: kept while the data stands, served stale with their age
while a refresh computes the next one, and equal to a fresh computation once refreshed; the
pilot comparison stored with each analysis run."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import delete

from daytwo.adoption import memo, pilot_runs, plugin, served, service
from daytwo.adoption.models import PilotRun
from daytwo.adoption.schemas import Comparison
from daytwo.backlog.policy import BacklogPolicy
from daytwo.deployments.service import get_deployment
from daytwo.detect.data import Window
from daytwo.detect.service import Recorded
from daytwo.ingest.decode import decode_json
from daytwo.pipeline import AnalysisContext
from daytwo.report.monthly import monthly_review
from daytwo.store.events import EventStore
from tests.adoption.conftest import ASSIST, Demo
from tests.backlog.conftest import store_of

DAY = timedelta(days=1)
RECORD = {
    "id": "m-1", "deployment": "d", "started_at": "2026-03-01T10:00:00Z",
    "journey": "billing", "agent_ref": "a-1", "ai_used": True,
}  # fmt: skip


def _write(store: EventStore, n: int) -> None:
    decoded = decode_json(orjson.dumps([{**RECORD, "id": f"m-{n}"}]))
    store.write(decoded.batch, source="t", batch_id=str(n))


def test_a_write_makes_the_answer_stale_it_is_served_with_its_age_then_refreshed() -> None:
    store = store_of([RECORD])
    try:
        calls: list[int] = []

        def count() -> int:
            calls.append(1)
            return store.count("interactions")

        first = memo.latest(store, "n", count)
        assert (first.answer, first.stale, first.refreshing) == (1, False, False)
        again = memo.latest(store, "n", count)
        assert again.answer == 1  # kept
        assert not again.stale
        assert len(calls) == 1
        _write(store, 2)
        stale = memo.latest(store, "n", count)
        # The last answer, at once, with when it was computed; the next one on its way.
        assert (stale.answer, stale.stale, stale.refreshing) == (1, True, True)
        assert stale.computed_at == first.computed_at
        memo.settle()
        fresh = memo.latest(store, "n", count)
        assert (fresh.answer, fresh.stale) == (2, False)
        assert fresh.answer == store.count("interactions")  # what a fresh computation gives
        assert fresh.computed_at > first.computed_at
        assert len(calls) == 2
    finally:
        memo.forget(store)
        store.close()


def test_one_refresh_per_answer_and_a_failed_one_keeps_the_last_answer() -> None:
    store = store_of([RECORD])
    try:
        release = threading.Event()
        calls: list[int] = []

        def slow() -> int:
            calls.append(1)
            if len(calls) > 1:
                release.wait(5)
                raise RuntimeError("the engine went away")
            return 1

        memo.latest(store, "n", slow)
        _write(store, 2)
        a, b = memo.latest(store, "n", slow), memo.latest(store, "n", slow)
        assert a.refreshing
        assert b.refreshing
        assert a.answer == b.answer == 1
        release.set()
        memo.settle()
        assert len(calls) == 2  # the second reader did not start another refresh
        after = memo.latest(store, "n", slow)  # failed: still the last answer, still stale
        assert after.answer == 1
        assert after.stale
    finally:
        release.set()
        memo.settle()
        memo.forget(store)
        store.close()


def test_what_the_answer_also_reads_makes_it_stale_when_it_changes() -> None:
    store = store_of([RECORD])
    try:
        assert not memo.latest(store, "n", lambda: 1, also="cohorts v1").stale
        assert not memo.latest(store, "n", lambda: 1, also="cohorts v1").stale
        assert memo.latest(store, "n", lambda: 2, also="cohorts v2").stale
        memo.settle()
        assert memo.latest(store, "n", lambda: 2, also="cohorts v2").answer == 2
    finally:
        memo.forget(store)
        store.close()


def test_the_served_page_equals_a_fresh_computation(demo: Demo) -> None:
    memo.forget(demo.events)
    policy = BacklogPolicy()
    served.warm(demo.ledger, demo.events, ASSIST, policy)  # what the analysis does
    kept = served.overview(
        demo.ledger, demo.events, ASSIST, None, None, policy, agents_visible=False,
        comparisons=False, keys=("site",),
    )  # fmt: skip
    assert kept.freshness is not None
    assert not kept.freshness.stale
    period = service.period_of(demo.events, ASSIST, None, None)
    assert kept.period == period
    fresh = service.overview(
        demo.ledger, demo.events, ASSIST, period, policy, agents_visible=False,
        comparisons=False, keys=("site",),
    )  # fmt: skip
    left_out = {"freshness", "pilot_history"}
    assert kept.model_dump(exclude=left_out) == fresh.model_dump(exclude=left_out)
    assert kept.groups["site"], "the comparison must have rows to compare"
    # The agents the workaround signals flag were computed too: the agent pages read them.
    asked: list[int] = []
    real_load = service.load

    def counting_load(*args: Any, **kwargs: Any) -> Any:
        asked.append(1)
        return real_load(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(service, "load", counting_load)
        assert any(service.workaround_agents(demo.events, ASSIST, period.end).values())
    assert asked == []


def _context(demo: Demo, run_id: int, as_of: datetime, since: datetime | None = None) -> Any:
    return AnalysisContext(
        settings=demo.settings, ledger=demo.ledger, events=demo.events, deployment_name=ASSIST,
        deployment=get_deployment(demo.ledger, ASSIST), run_id=run_id, as_of=as_of,
        window=Window(as_of - 2 * DAY, as_of - DAY, as_of - DAY, as_of), findings=(),
        recorded=Recorded(0, 0, 0, 0), trigger="cli", since=since,
    )  # fmt: skip


@pytest.fixture
def own_pilot_runs(demo: Demo) -> Iterator[None]:
    """The runs a test stores into the session's shared demo ledger (ids from 9001) are
    removed after it: the last of them compares nothing, and a page test that ran later in
    the same process read it as the demo's pilot comparison."""
    yield
    with demo.ledger.session() as session:
        session.execute(delete(PilotRun).where(PilotRun.run_id >= 9001))


@pytest.mark.usefixtures("own_pilot_runs")
def test_each_analysis_run_stores_its_pilot_comparison_and_the_page_reads_it(
    demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The page's other answers, which the plugin computes too where an app in the process
    # reads them, are the test above's; here only whether it computes them.
    warmed: list[str] = []
    monkeypatch.setattr(served, "warm", lambda ledger, events, dep, policy: warmed.append(dep))
    period = service.period_of(demo.events, ASSIST, None, None)
    before = pilot_runs.history(demo.ledger, ASSIST)
    # A replay, or a run as of an earlier day, stores nothing.
    plugin.after_analysis(_context(demo, 9001, period.end, since=period.start))
    plugin.after_analysis(_context(demo, 9002, period.start))
    assert pilot_runs.history(demo.ledger, ASSIST) == before
    # A run that reached the end of the data stores its comparison, and the page reads it.
    computed: list[Comparison | None] = []
    compare_now = pilot_runs.compare_now

    def spy(*args: Any) -> tuple[Comparison | None, str]:
        found = compare_now(*args)
        computed.append(found[0])
        return found

    monkeypatch.setattr(pilot_runs, "compare_now", spy)
    plugin.after_analysis(_context(demo, 9003, period.end - timedelta(hours=1)))
    assert warmed == []  # a one-shot analysis: no app here reads prepared answers
    stored = pilot_runs.latest(demo.ledger, ASSIST, period)
    assert stored is not None
    assert stored.run_id == 9003
    assert stored.period == period
    assert len(computed) == 1
    fresh = computed[0]
    assert fresh is not None
    assert stored.comparison == fresh  # what the run compared, as it compared it
    p = served.pilot(demo.ledger, demo.events, ASSIST, None, None)
    assert p.run_id == stored.run_id
    assert p.comparison == stored.comparison
    # The history gains the run's point, last.
    history = pilot_runs.history(demo.ledger, ASSIST)
    assert len(history) == min(len(before) + 1, pilot_runs.HISTORY_RUNS)
    assert history[-1].run_id == 9003
    k = next(k for k in fresh.kpis if k.kpi == pilot_runs.HEADLINE_KPI)
    assert (history[-1].adjusted, history[-1].lo, history[-1].naive) == (k.adjusted, k.lo, k.naive)
    # The monthly review of the run's month reads it; a month before the run does not.
    assert k.adjusted is not None
    month = (period.end - DAY).strftime("%Y-%m")
    review = monthly_review(demo.ledger, demo.events, ASSIST, month, now=period.end + DAY)
    assert review.pilot is not None
    assert review.pilot.run_id == 9003
    assert review.pilot.adjusted == k.adjusted
    assert not pilot_runs.history(demo.ledger, ASSIST, before=period.start)
    # Where an app serves readers from the store, the run prepares their answers too.
    monkeypatch.setattr(pilot_runs, "compare_now", lambda *args: (None, pilot_runs.NO_PILOT))
    memo.add_readers(demo.events)
    try:
        plugin.after_analysis(_context(demo, 9004, period.end - timedelta(hours=1)))
    finally:
        memo.drop_readers(demo.events)
    assert warmed == [ASSIST]
    # Cohorts recorded since the run: its comparison is not served.
    monkeypatch.setattr(pilot_runs, "cohorts_state", lambda ledger, deployment: "changed")
    assert pilot_runs.latest(demo.ledger, ASSIST, period) is None


def test_a_replayed_or_earlier_run_stores_no_comparison() -> None:
    assert pilot_runs.run_period(datetime(2026, 3, 1, tzinfo=UTC)).end == datetime(
        2026, 3, 1, tzinfo=UTC
    )
    p = pilot_runs.run_period(datetime(2026, 3, 1, 10, tzinfo=UTC))
    assert (p.start, p.end) == (datetime(2026, 2, 2, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC))


def test_a_store_has_readers_while_any_app_serves_from_it() -> None:
    store = store_of([RECORD])
    try:
        assert not memo.has_readers(store)  # a one-shot analysis's store
        memo.add_readers(store)
        memo.add_readers(store)  # two apps on one store
        memo.drop_readers(store)
        assert memo.has_readers(store)
        memo.drop_readers(store)
        assert not memo.has_readers(store)
    finally:
        store.close()
