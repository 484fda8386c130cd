"""Gaps end to end: ingest, detect, keep in the ledger; ids stable across runs and encoders."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from daytwo.detect.gaps.schemas import GapPublic
from daytwo.detect.gaps.service import get_gap, last_run, list_gaps, refresh_gaps
from daytwo.errors import InputError, NotFoundError
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger, upgrade
from tests.detect.gaps.conftest import store
from tests.detect.gaps.data import CRYPTO, END, PETS, SOLAR, traffic


@pytest.fixture
def ledger(ledger_url: str) -> Ledger:
    upgrade(ledger_url)
    return Ledger(ledger_url)


def by_label(gaps: list[GapPublic], word: str) -> GapPublic:
    return next(g for g in gaps if word in g.label)


def test_three_unmet_needs_become_three_labelled_gaps(events: EventStore, ledger: Ledger) -> None:
    store(events, traffic())
    result = refresh_gaps(ledger, events, "care-bot", encoder="wordllama")
    assert result.gaps == 3
    gaps = list_gaps(ledger, events, "care-bot", with_members=True)
    texts = {g.label: sorted(m.text or "" for m in g.members or []) for g in gaps}
    assert sorted(texts.values()) == sorted([sorted(CRYPTO), sorted(PETS), sorted(SOLAR)])
    crypto = by_label(gaps, "bitcoin")
    assert crypto.volume == len(CRYPTO)
    assert crypto.journeys == {"billing": len(CRYPTO)}
    assert crypto.kind == "new_intent"
    assert crypto.signals["fallback"] == len(CRYPTO)
    assert len(crypto.examples) == 5
    assert all(e.text in CRYPTO for e in crypto.examples)
    assert sum(w.n for w in crypto.weekly) == len(CRYPTO)
    run = last_run(ledger, "care-bot")
    assert run is not None
    assert run.gaps == 3
    assert run.clustered == len(CRYPTO) + len(PETS) + len(SOLAR)
    assert run.params["cluster"]["min_similarity"] > 0
    ledger.dispose()


def test_ids_are_stable_across_runs_and_gone_gaps_are_marked(
    events: EventStore, ledger: Ledger
) -> None:
    store(events, traffic(days_ago=9))
    refresh_gaps(ledger, events, "care-bot", encoder="wordllama")
    first = {g.label.split(" · ")[0]: g.id for g in list_gaps(ledger, events, "care-bot")}
    # Nothing new: the run is skipped, nothing changes.
    again = refresh_gaps(ledger, events, "care-bot", encoder="wordllama")
    assert again.skipped == "no new data since the last run"
    # A week later the same needs come back in new conversations, except solar.
    store(events, traffic(offset=1000, days_ago=1, solar=False))
    second = refresh_gaps(ledger, events, "care-bot", encoder="wordllama")
    assert second.new == 0
    open_gaps = list_gaps(ledger, events, "care-bot")
    assert {g.id for g in open_gaps} <= set(first.values())
    crypto = by_label(open_gaps, "bitcoin")
    assert crypto.id == next(v for k, v in first.items() if "bitcoin" in k)
    assert crypto.runs_seen == 2
    assert crypto.volume == 2 * len(CRYPTO)
    assert crypto.recent == len(CRYPTO)
    assert crypto.previous == len(CRYPTO)
    assert crypto.growth == 0.0
    # Solar's utterances are still in the window, so its gap stays; forced re-run keeps ids.
    refresh_gaps(ledger, events, "care-bot", encoder="wordllama", force=True)
    assert {g.id for g in list_gaps(ledger, events, "care-bot")} == {g.id for g in open_gaps}
    # With a window that no longer holds the solar traffic, that gap is gone.
    refresh_gaps(ledger, events, "care-bot", encoder="wordllama", window_days=5, force=True)
    gone = list_gaps(ledger, events, "care-bot", status="gone")
    assert len(gone) == 1
    assert "solar" in gone[0].label
    assert get_gap(ledger, events, gone[0].id).status == "gone"
    ledger.dispose()


def test_from_scratch_the_same_data_gives_the_same_ids(
    events: EventStore, ledger_url: str, tmp_path: Path
) -> None:
    store(events, traffic())
    ids = []
    for name in ("a", "b"):
        url = ledger_url if name == "a" else f"sqlite:///{tmp_path}/other.sqlite"
        upgrade(url)
        ledger = Ledger(url)
        refresh_gaps(ledger, events, "care-bot", encoder="wordllama")
        ids.append(sorted(g.id for g in list_gaps(ledger, events, "care-bot")))
        ledger.dispose()
    assert ids[0] == ids[1]


def test_clear_errors(events: EventStore, ledger: Ledger) -> None:
    with pytest.raises(NotFoundError, match="no interactions"):
        refresh_gaps(ledger, events, "nobody", encoder="wordllama")
    store(events, traffic())
    with pytest.raises(InputError, match="at least one day"):
        refresh_gaps(ledger, events, "care-bot", encoder="wordllama", window_days=0)
    with pytest.raises(NotFoundError, match="No knowledge gap"):
        get_gap(ledger, events, "gap-nope")
    ledger.dispose()


def test_traffic_without_unmet_needs_has_no_gaps(events: EventStore, ledger: Ledger) -> None:
    store(events, [r for r in traffic() if r["outcome"] == "contained"])
    result = refresh_gaps(ledger, events, "care-bot", encoder="wordllama", as_of=END + timedelta(1))
    assert (result.candidates, result.gaps) == (0, 0)
    assert list_gaps(ledger, events, "care-bot") == []
    ledger.dispose()
