"""A look that repeats the last one (same detectors, window and events) records from the kept
findings (:class:`daytwo.pipeline.LastLooks`) exactly what computing them again records."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from daytwo.clock import frozen_at
from daytwo.detect import runner
from daytwo.detect.registry import select as select_detectors
from daytwo.pipeline import LastLooks, analyze
from daytwo.settings import Settings
from daytwo.store.events import EventStore
from tests.backlog.conftest import DEPLOYMENT, START, registered_ledger, store_of, synthetic_records
from tests.pipeline.test_ahead import _on_its_day, ledger_rows, other_ledger_url  # noqa: F401

LAST = START + timedelta(days=38)


@pytest.fixture(scope="module")
def events() -> Iterator[EventStore]:
    store = store_of(synthetic_records(effect=-0.25))
    yield store
    store.close()


def _replay_then_look(
    folder: Path, url: str, events: EventStore, last_looks: LastLooks | None
) -> dict[str, list[tuple[Any, ...]]]:
    """Days 36 to 38 replayed, then day 38 looked at again with the detectors of every look."""
    settings = Settings(data_dir=folder, ledger_url=url)
    with frozen_at(START + timedelta(days=1)):
        ledger = registered_ledger(url)
    try:
        analyze(
            settings, ledger, events, trigger="demo", deployment=DEPLOYMENT,
            since=START + timedelta(days=35), as_of=LAST, around_look=_on_its_day,
            last_looks=last_looks,
        )  # fmt: skip
        every_look = [d.id for d in select_detectors(None) if not d.paced]
        with frozen_at(LAST + timedelta(hours=1)):
            again = analyze(
                settings, ledger, events, trigger="demo", deployment=DEPLOYMENT, as_of=LAST,
                detector_ids=every_look, force=True, last_looks=last_looks,
            )  # fmt: skip
        assert again[0].run_id is not None
        return ledger_rows(ledger)
    finally:
        ledger.dispose()


def test_the_same_look_again_records_what_computing_it_records(
    tmp_path: Path,
    ledger_url: str,
    other_ledger_url: str,  # noqa: F811
    events: EventStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    looks: list[Any] = []
    detect_look = runner.detect_look

    def counted(*args: Any, **kwargs: Any) -> runner.Detected:
        looks.append(args[2].current_end)
        return detect_look(*args, **kwargs)

    monkeypatch.setattr(runner, "detect_look", counted)
    computed = _replay_then_look(tmp_path / "one", ledger_url, events, None)
    assert looks.count(LAST) == 2, "without it, the last day is computed twice"
    looks.clear()
    kept = _replay_then_look(tmp_path / "two", other_ledger_url, events, LastLooks())
    assert looks.count(LAST) == 1, "with it, the look again reuses the replay's last"
    assert computed["findings"]
    assert computed.keys() == kept.keys()
    for table, rows in computed.items():
        assert kept[table] == rows, table


def test_another_window_or_other_detectors_are_computed() -> None:
    from daytwo.detect.data import DeploymentInfo, Window

    memo = LastLooks()
    info = DeploymentInfo(DEPLOYMENT, kind="virtual_agent", targets={})
    window = Window(START, START + timedelta(days=14), LAST - timedelta(days=7), LAST)
    chosen = [d for d in select_detectors(None) if not d.paced]
    found = runner.Detected([], 10)
    memo.keep(info, window, chosen, found)
    assert memo.get(info, window, chosen) is found
    later = Window(START, START + timedelta(days=14), LAST - timedelta(days=6), LAST + timedelta(1))
    assert memo.get(info, later, chosen) is None
    assert memo.get(info, window, chosen[1:]) is None
    other = DeploymentInfo(DEPLOYMENT, kind="virtual_agent", targets={"containment_rate": 0.5})
    assert memo.get(other, window, chosen) is None
    memo.keep(info, window, chosen, None)
    assert memo.get(info, window, chosen) is None
