"""Where a deployment's own intents separate: the cut read from its confidently answered turns."""

from __future__ import annotations

import numpy as np
import pytest

from daytwo.detect.gaps.granularity import MIN_INTENTS, intent_granularity


def intents(n: int, spread: float, per: int = 8, dim: int = 64, seed: int = 0) -> np.ndarray:
    """``n`` intents of ``per`` unit vectors each, scattered ``spread`` around random centres."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n, dim))
    rows = np.repeat(centres, per, axis=0) + spread * rng.normal(size=(n * per, dim))
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def names(n: int, per: int = 8) -> list[str]:
    return [f"intent{k}" for k in range(n) for _ in range(per)]


def test_the_cut_separates_the_intents_and_follows_how_tight_they_are() -> None:
    tight = intent_granularity(intents(8, 0.5), names(8))
    loose = intent_granularity(intents(8, 1.2), names(8))
    assert tight is not None
    assert loose is not None
    assert tight.agreement > 0.95
    assert tight.intents == 8
    assert tight.examples == 64
    # Wordings of one request that land farther apart need a looser cut, and get one.
    assert loose.similarity < tight.similarity


def test_without_enough_known_intents_there_is_nothing_to_read() -> None:
    few = MIN_INTENTS - 1
    assert intent_granularity(intents(few, 0.5), names(few)) is None
    # Intents with fewer than three examples do not count.
    x = intents(8, 0.5, per=2)
    assert intent_granularity(x, names(8, per=2)) is None


def test_many_intents_are_sampled_not_refused() -> None:
    found = intent_granularity(intents(200, 0.5, per=20), names(200, per=20))
    assert found is not None
    assert found.examples <= 3000
    assert found.agreement > 0.9


def test_adjusted_rand_is_scikit_learns_to_the_bit() -> None:
    from sklearn.metrics import adjusted_rand_score

    from daytwo.detect.gaps.granularity import adjusted_rand

    rng = np.random.default_rng(5)
    for n, k_true, k_pred in [(680, 34, 50), (200, 5, 200), (50, 3, 1), (40, 4, 4)]:
        truth = rng.integers(0, k_true, n)
        pred = rng.integers(1, k_pred + 1, n)  # fcluster's labels start at 1
        assert adjusted_rand(truth, pred) == adjusted_rand_score(truth, pred)
        # Full agreement, and the same partition numbered otherwise.
        assert adjusted_rand(truth, truth) == adjusted_rand_score(truth, truth) == 1.0
        assert adjusted_rand(truth, truth * 3 + 1) == adjusted_rand_score(truth, truth * 3 + 1)


def test_the_service_computes_a_granularity_once_per_distinct_input(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A replay's weekly looks mostly read the same confidently answered turns: the cut they
    # show is computed once, and a different input is computed afresh.
    from daytwo.detect.gaps import service

    calls: list[int] = []

    def counted(vectors: np.ndarray, names: list[str]) -> object:
        calls.append(len(names))
        return intent_granularity(vectors, names)

    monkeypatch.setattr(service, "intent_granularity", counted)
    monkeypatch.setattr(service, "_GRANULARITY", {})
    rng = np.random.default_rng(2)
    vectors = rng.normal(size=(30, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    names = [f"intent-{i % 6}" for i in range(30)]
    first = service._granularity(vectors, names)
    assert first == intent_granularity(vectors, names)
    assert service._granularity(vectors.copy(), list(names)) == first
    assert calls == [30]
    renamed = [f"intent-{i % 5}" for i in range(30)]
    assert service._granularity(vectors, renamed) == intent_granularity(vectors, renamed)
    assert calls == [30, 30]
