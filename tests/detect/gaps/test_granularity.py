"""Where a deployment's own intents separate: the cut read from its confidently answered turns."""

from __future__ import annotations

import numpy as np

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
