"""The gaps variants bench's post-processing of a deployment's vectors (all-but-the-top and
whitening), on vectors with a known shape."""

from __future__ import annotations

import numpy as np
from bench.gaps_variants import all_but_the_top, whitened


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
