"""Gaps end to end: ingest, detect, keep in the ledger; ids stable across runs and encoders."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from daytwo.detect.gaps.schemas import GapPublic
from daytwo.detect.gaps.service import gap_listing, get_gap, last_run, list_gaps, refresh_gaps
from daytwo.errors import InputError, NotFoundError
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger, upgrade
from tests.detect.gaps.conftest import store
from tests.detect.gaps.data import CRYPTO, END, PETS, SOLAR, record, traffic


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
    # No known intents to read the granularity from, and three requests are too few regions to
    # centre on: the encoder's uncentred similarity.
    assert "granularity" not in run.params
    assert run.params["cluster"]["centre"] is False
    assert run.params["cluster"]["min_similarity"] == 0.40
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


def test_the_listing_sorts_by_volume_times_growth_filters_and_pages(
    events: EventStore, ledger: Ledger
) -> None:
    # Crypto questions grow this week (two rounds of them); pets and solar stay as they were.
    store(events, traffic(days_ago=9) + [r for r in traffic(100, days_ago=1) if "bit" in str(r)])
    refresh_gaps(ledger, events, "care-bot", encoder="wordllama")
    everything = list_gaps(ledger, events, "care-bot")
    business = [g for g in everything if g.kind != "off_topic"]
    first = gap_listing(ledger, events, "care-bot", per_page=2)
    assert first.total == len(business) == 3
    ranked = sorted((g.priority for g in business), reverse=True)
    assert [g.priority for g in first.gaps] == ranked[:2]
    assert "bitcoin" in first.gaps[0].label
    top = first.gaps[0]
    assert top.priority == pytest.approx(top.volume * (top.recent + 1) / (top.previous + 1), 1e-3)
    second = gap_listing(ledger, events, "care-bot", per_page=2, page=2)
    assert len(second.gaps) == 1
    assert {g.id for g in first.gaps + second.gaps} == {g.id for g in business}
    assert set(first.journeys) >= {"billing", "travel", "energy"}
    travel = gap_listing(ledger, events, "care-bot", journey="travel")
    assert [next(iter(g.journeys)) for g in travel.gaps] == ["travel"]
    found = gap_listing(ledger, events, "care-bot", search="BITCOIN")
    assert found.total == 1
    assert found.utterances == found.gaps[0].volume
    assert gap_listing(ledger, events, "care-bot", search="zebra").total == 0
    run = last_run(ledger, "care-bot")
    assert run is not None
    assert first.off_topic.scattered == run.candidates - run.clustered
    with pytest.raises(InputError, match="sort must be one of"):
        gap_listing(ledger, events, "care-bot", sort="size")
    with pytest.raises(InputError, match="kind must be one of"):
        gap_listing(ledger, events, "care-bot", kind="chit_chat")
    with pytest.raises(InputError, match="page starts at 1"):
        gap_listing(ledger, events, "care-bot", page=0)
    ledger.dispose()


def test_a_gap_lists_each_wording_once_with_how_often_it_was_used(
    events: EventStore, ledger: Ledger
) -> None:
    repeats = [
        record(500 + k, text, fallback=True, journey="billing")
        for k, text in enumerate(
            ["Can I pay my bill with Bitcoin", "can i pay my  bill with bitcoin"]
        )
    ]
    store(events, traffic() + repeats)
    refresh_gaps(ledger, events, "care-bot", encoder="wordllama")
    crypto = by_label(list_gaps(ledger, events, "care-bot"), "itcoin")
    gap = get_gap(ledger, events, crypto.id)
    assert gap.wordings is not None
    assert sum(w.count for w in gap.wordings) == gap.volume == len(CRYPTO) + 2
    top = gap.wordings[0]
    assert top.count == 3
    assert " ".join((top.text or "").lower().split()) == "can i pay my bill with bitcoin"
    assert len(gap.wordings) == len(CRYPTO)
    assert gap.members is not None
    assert len(gap.members) == gap.volume
    ledger.dispose()


def test_a_backfill_into_the_window_is_new_data(events: EventStore, ledger: Ledger) -> None:
    """Runs decide by what was delivered, not by the latest started_at."""
    store(events, traffic(days_ago=1, solar=False))
    refresh_gaps(ledger, events, "care-bot", encoder="wordllama")
    assert refresh_gaps(ledger, events, "care-bot", encoder="wordllama").skipped is not None
    # Solar's conversations arrive late, dated ten days back: the latest data stays put.
    store(events, traffic(offset=5000, days_ago=10))
    backfilled = refresh_gaps(ledger, events, "care-bot", encoder="wordllama")
    assert backfilled.skipped is None
    assert any("solar" in g.label for g in list_gaps(ledger, events, "care-bot"))
    ledger.dispose()


def test_without_known_intents_similarity_is_centred_once_the_traffic_has_regions() -> None:
    from daytwo.detect.gaps.cluster import MIN_REGIONS
    from daytwo.detect.gaps.encoders import get_encoder
    from daytwo.detect.gaps.granularity import Granularity
    from daytwo.detect.gaps.service import effective_params

    enc = get_encoder("wordllama")
    wide = effective_params(None, enc, None, traffic_regions=MIN_REGIONS)
    assert wide.cluster is not None
    assert (wide.cluster.centre, wide.cluster.min_similarity) == (True, enc.min_similarity)
    narrow = effective_params(None, enc, None, traffic_regions=MIN_REGIONS - 1)
    assert narrow.cluster is not None
    assert (narrow.cluster.centre, narrow.cluster.min_similarity) == (False, enc.plain_similarity)
    # Known intents: their own cut, never centred.
    known = effective_params(None, enc, Granularity(0.3, 0.8, 10, 200), traffic_regions=500)
    assert known.cluster is not None
    assert (known.cluster.centre, known.cluster.min_similarity) == (False, 0.3 + enc.offset)


def test_warmed_vectors_are_the_ones_the_clustering_computes(events: EventStore) -> None:
    """The demo embeds the messages its gap clustering will read ahead, on another thread:
    those are every candidate of any window, and the clustering reads the same vectors."""
    import numpy as np

    from daytwo.detect.gaps import service
    from daytwo.detect.gaps.candidates import find_candidates
    from daytwo.detect.gaps.encoders import get_encoder

    store(events, traffic())
    texts = service.candidate_texts(events, "care-bot")
    interactions, turns = service.load_window(
        events, "care-bot", END - timedelta(days=400), END + timedelta(days=1)
    )
    candidates = find_candidates(turns, interactions).text
    assert candidates
    assert set(candidates) <= set(texts)
    # Messages of conversations that never fell back nor went to a person are left out.
    every = {t["text"] for r in traffic() for t in r["turns"] if t["role"] == "user"}
    assert len(texts) < len(every)
    service._CACHE.clear()
    service.warm_vectors("wordllama", texts)
    assert service._WARMING  # embedding on its own thread; the clustering waits for it
    encoder = get_encoder("wordllama")
    warmed = service._embed(encoder, candidates)
    assert not service._WARMING
    assert all(("wordllama", t) in service._CACHE for t in texts)
    assert np.array_equal(warmed, encoder.encode(candidates))


def test_what_no_gap_holds_joins_a_gap_only_where_similarity_is_centred() -> None:
    from daytwo.detect.gaps.cluster import MIN_REGIONS
    from daytwo.detect.gaps.encoders import MiniLMOnnxEncoder
    from daytwo.detect.gaps.granularity import Granularity
    from daytwo.detect.gaps.service import effective_params

    enc = MiniLMOnnxEncoder  # its tuning, without loading the model
    assert enc.join is not None
    centred = effective_params(None, enc, None, traffic_regions=MIN_REGIONS)
    assert centred.cluster is not None
    assert centred.cluster.join == enc.join
    narrow = effective_params(None, enc, None, traffic_regions=MIN_REGIONS - 1)
    assert narrow.cluster is not None
    assert narrow.cluster.join is None
    known = effective_params(None, enc, Granularity(0.3, 0.8, 10, 200), traffic_regions=500)
    assert known.cluster is not None
    assert known.cluster.join is None


def test_a_known_intents_misses_are_attached_to_it_only_with_known_intents() -> None:
    from daytwo.detect.gaps.cluster import MIN_REGIONS
    from daytwo.detect.gaps.encoders import MiniLMOnnxEncoder
    from daytwo.detect.gaps.granularity import Granularity
    from daytwo.detect.gaps.service import effective_params

    enc = MiniLMOnnxEncoder  # its tuning, without loading the model
    assert enc.attach is not None
    known = effective_params(None, enc, Granularity(0.3, 0.8, 10, 200))
    assert known.cluster is not None
    assert (known.cluster.attach, known.cluster.attach_margin) == (enc.attach, enc.attach_margin)
    unknown = effective_params(None, enc, None, traffic_regions=MIN_REGIONS)
    assert unknown.cluster is not None
    assert unknown.cluster.attach is None


def test_candidate_texts_since_are_those_of_the_conversations_started_then(
    events: EventStore,
) -> None:
    """The demo hands the encoder each stretch of days as it is stored: the candidates'
    texts of the conversations started since a time, within those of the whole history."""
    from daytwo.detect.gaps import service
    from daytwo.detect.gaps.candidates import find_candidates

    # The solar questions were asked three weeks ago only.
    store(events, traffic(days_ago=20) + traffic(1000, solar=False))
    since = END - timedelta(days=10)
    every = set(service.candidate_texts(events, "care-bot"))
    recent = service.candidate_texts(events, "care-bot", since)
    interactions, turns = service.load_window(events, "care-bot", since, END + timedelta(days=1))
    assert set(find_candidates(turns, interactions).text) <= set(recent)
    assert set(recent) < every
    assert recent == sorted(set(recent))
    assert not set(recent) & set(SOLAR)


def test_warmings_in_a_row_neither_wait_nor_embed_a_text_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading

    import numpy as np

    from daytwo.detect.gaps import service

    embedded: list[list[str]] = []
    gate = threading.Event()

    class Slow:
        name = "slow"
        dim = 2

        def encode(self, texts: list[str]) -> np.ndarray:
            assert gate.wait(10)
            embedded.append(list(texts))
            return np.ones((len(texts), self.dim), dtype=np.float32)

    slow = Slow()
    monkeypatch.setattr(service, "get_encoder", lambda name: slow)
    service._CACHE.clear()
    try:
        service.warm_vectors("slow", ["a", "b"])
        service.warm_vectors("slow", ["b", "c"])  # handed over while the first still embeds
        assert service.warming("slow")
        gate.set()
        service.settle_vectors()
        assert not service.warming("slow")
        assert embedded == [["a", "b"], ["c"]]
    finally:
        gate.set()
        service.settle_vectors()
        service._CACHE.clear()
