"""The gaps variants bench's post-processing of a deployment's vectors (all-but-the-top,
whitening, and the maps learnt from the known intents), on vectors with a known shape."""

from __future__ import annotations

import numpy as np
from bench.gaps_variants import all_but_the_top, discriminant, whitened, within_class_normalised


def _vectors() -> np.ndarray:
    rng = np.random.default_rng(0)
    # One dominant shared direction (a large variance along axis 0) plus small noise.
    x = rng.normal(0.0, 0.1, (400, 16))
    x[:, 0] += rng.normal(0.0, 3.0, 400)
    x[:, 1] += 1.0  # a common offset every row shares
    out: np.ndarray = x
    return out


def test_all_but_the_top_removes_the_mean_and_the_top_direction() -> None:
    x = _vectors()
    centred = all_but_the_top(x, len(x), 0)
    assert np.allclose(np.linalg.norm(centred, axis=1), 1.0, atol=1e-5)
    # Centred only: the dominant direction is still what most rows point along.
    assert np.mean(np.abs(centred[:, 0])) > 0.8
    top = all_but_the_top(x, len(x), 1)
    assert np.allclose(np.linalg.norm(top, axis=1), 1.0, atol=1e-5)
    # With it removed, no row keeps much of axis 0, and the shared offset is gone too.
    assert np.mean(np.abs(top[:, 0])) < 0.1
    assert abs(float(top[:, 1].mean())) < 0.1


def test_whitening_evens_out_the_directions_and_shrinkage_tempers_it() -> None:
    x = _vectors()
    full = whitened(x, len(x), 0.0)
    mild = whitened(x, len(x), 100.0)
    # Whitened, the dominant axis holds about its share (1/16) of each row's length; with a
    # large shrinkage the space is barely rescaled and that axis still dominates.
    assert float(np.mean(full[:, 0] ** 2)) < 0.15
    assert float(np.mean(mild[:, 0] ** 2)) > 0.8
    assert np.allclose(np.linalg.norm(full, axis=1), 1.0, atol=1e-5)


def _intents(n_intents: int = 6, per: int = 20) -> tuple[np.ndarray, list[str]]:
    """Intents apart along axis 2 only; their wordings vary a lot along axis 0 (paraphrase
    noise every intent shares) and a little elsewhere."""
    rng = np.random.default_rng(1)
    rows, names = [], []
    for k in range(n_intents):
        x = rng.normal(0.0, 0.05, (per, 16))
        x[:, 0] += rng.normal(0.0, 4.0, per)
        x[:, 2] += float(k)
        rows.append(x)
        names += [f"intent_{k}"] * per
    return np.concatenate(rows), names


def test_wccn_shrinks_what_varies_within_an_intent_and_keeps_what_tells_them_apart() -> None:
    turns, names = _intents()
    candidates = turns[::5]  # what is clustered; the turns follow it, as in the bench
    x = np.vstack([candidates, turns])
    mapped = within_class_normalised(x, len(candidates), names, 0.1)
    assert np.allclose(np.linalg.norm(mapped, axis=1), 1.0, atol=1e-5)
    # Raw, the paraphrase axis dominates; mapped, the axis between intents does.
    assert float(np.mean(x[:, 0] ** 2)) > float(np.mean(x[:, 2] ** 2))
    assert float(np.mean(mapped[:, 2] ** 2)) > 5 * float(np.mean(mapped[:, 0] ** 2))
    # A large shrinkage leaves the space about as it was (centred only).
    mild = within_class_normalised(x, len(candidates), names, 1000.0)
    assert float(np.mean(mild[:, 0] ** 2)) > float(np.mean(mild[:, 2] ** 2))


def test_lda_keeps_the_directions_between_intents() -> None:
    turns, names = _intents()
    x = np.vstack([turns[::5], turns])
    mapped = discriminant(x, 24, names, 0.0)
    assert mapped.shape == (len(x), 5)  # one fewer than the intents
    assert np.allclose(np.linalg.norm(mapped, axis=1), 1.0, atol=1e-5)
    # Two wordings of one intent now point alike, two intents do not.
    same = float(mapped[24] @ mapped[25])
    other = float(mapped[24] @ mapped[24 + 20 * 3])
    assert same > 0.9 > other


def test_without_enough_known_intents_the_vectors_are_the_encoders_own() -> None:
    turns, names = _intents(n_intents=4)  # under the granularity's five
    x = np.vstack([turns[::5], turns])
    assert within_class_normalised(x, 16, names, 0.3) is x
    assert discriminant(x, 16, names, 0.0) is x
