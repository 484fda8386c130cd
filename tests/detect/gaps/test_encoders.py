"""Both encoders load from what is installed with the network unreachable, and group
paraphrases; the shipped MiniLM gives the original model's vectors."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import numpy as np
import pytest

from daytwo.detect.gaps import encoders
from daytwo.detect.gaps.encoders import ENCODERS, get_encoder
from daytwo.errors import ConfigError
from daytwo.pipeline.jobs import AnalysisRequest
from daytwo.settings import GAP_ENCODERS, Settings


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


def test_shipped_minilm_gives_the_original_models_vectors() -> None:
    # Reference vectors of the float32 sentence-transformers model, saved when the ONNX model
    # was converted: int8 weights must not move a sentence's direction by more than a hair.
    ref = json.loads((Path(__file__).parent / "minilm_reference.json").read_text())
    vectors = get_encoder("minilm").encode(ref["texts"])
    cosine = np.einsum("ij,ij->i", vectors, np.asarray(ref["vectors"], dtype=np.float32))
    assert cosine.min() >= 0.99


def test_minilm_batches_give_the_vectors_of_single_texts() -> None:
    # Texts are batched by length with padding masked out: a text's vector does not depend
    # on what it was batched with, to the bit (the gap clustering takes vectors embedded ahead
    # of it, in other batches, for the ones it would compute).
    encoder = get_encoder("minilm")
    texts = ["hi", "I lost my card yesterday and I need a new one sent to my new address", "ok"]
    together = encoder.encode(texts)
    alone = np.stack([encoder.encode([t])[0] for t in texts])
    assert np.array_equal(together, alone)


def test_unknown_encoder_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="Unknown gap encoder 'bert'"):
        get_encoder("bert")


def test_settings_api_and_cli_accept_exactly_the_registered_encoders() -> None:
    # One list of names: an encoder registered but not accepted (or accepted but not
    # registered) would fail only when someone chose it.
    assert sorted(GAP_ENCODERS) == sorted(ENCODERS)
    assert Settings.model_fields["gaps_encoder"].default in ENCODERS
    fields = AnalysisRequest.model_json_schema()["properties"]["encoder"]["anyOf"]
    assert sorted(next(f["enum"] for f in fields if "enum" in f)) == sorted(ENCODERS)


def test_every_registered_encoder_is_installed_here() -> None:
    # Both encoders come with a plain install: none may be skipped.
    assert all(spec.available for spec in ENCODERS.values())


def test_minilm_tokenised_in_chunks_gives_the_same_vectors(monkeypatch: pytest.MonkeyPatch) -> None:
    # Texts are tokenised a chunk at a time and kept as bare ids (the tokenizer's encodings of
    # a large window took hundreds of MB): the batches, and so the vectors, are the same.
    encoder = get_encoder("minilm")
    words = ["card", "app", "bill", "login", "order", "parcel", "phone"] * 3
    texts = [f"my {w} is {'really ' * (i % 4)}broken since monday" for i, w in enumerate(words)]
    whole = encoder.encode(texts)
    monkeypatch.setattr(encoders, "TOKENIZE_CHUNK", 4)
    assert np.array_equal(encoder.encode(texts), whole)


def _tiny_folder(folder: Path) -> None:
    """A tiny exported model in ``folder`` (``data/make_tiny_model.py``): its token vectors are
    rows of a fixed table (``<s>``, ``<pad>``, lost, card, stolen, unknown), masked; no token
    types, as MPNet."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    vocab = {"<s>": 0, "<pad>": 1, "lost": 2, "card": 3, "stolen": 4, "[UNK]": 5}
    tokenizer = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Whitespace()
    (folder / "tokenizer.json").write_text(tokenizer.to_str())
    model = Path(__file__).parent / "data" / "tiny_without_token_types.onnx"
    (folder / "model.onnx").write_bytes(model.read_bytes())


def test_an_exported_model_loads_from_a_folder_without_token_types(tmp_path: Path) -> None:
    # Another sentence transformer exported the way MiniLM was (MPNet takes no token types)
    # loads from its folder, with its width read from the model.
    _tiny_folder(tmp_path)
    encoder = encoders.OnnxSentenceEncoder(tmp_path, name="tiny")
    assert (encoder.name, encoder.dim) == ("tiny", 4)
    vectors = encoder.encode(["lost card", "stolen card lost", "lost"])
    half = np.sqrt(0.5)
    assert np.allclose(vectors[0], [0, half, half, 0])  # the mean of its tokens, unit
    assert np.allclose(vectors[1], np.array([0, 1, 1, 1]) / np.sqrt(3))
    assert np.allclose(vectors[2], [0, 1, 0, 0])
    # Padded beside longer texts, a text keeps its vector.
    assert np.array_equal(vectors[0], encoder.encode(["lost card"])[0])


def test_a_folder_can_ask_for_its_first_tokens_vector(tmp_path: Path) -> None:
    # A model trained to put the sentence in its first token (bge) says so in pooling.json.
    _tiny_folder(tmp_path)
    (tmp_path / "pooling.json").write_text(json.dumps({"pooling": "cls"}))
    encoder = encoders.OnnxSentenceEncoder(tmp_path, name="tiny")
    vectors = encoder.encode(["stolen card lost", "card", "lost card"])
    assert np.allclose(vectors, [[0, 0, 0, 1], [0, 0, 1, 0], [0, 1, 0, 0]])
    assert np.array_equal(vectors[1], encoder.encode(["card"])[0])
    (tmp_path / "pooling.json").write_text(json.dumps({"pooling": "max"}))
    with pytest.raises(ConfigError, match="pooling"):
        encoders.OnnxSentenceEncoder(tmp_path, name="tiny")


def test_the_shipped_minilm_from_its_folder_is_the_registered_encoder() -> None:
    from importlib import resources

    folder = Path(str(resources.files("daytwo.detect.gaps").joinpath("minilm")))
    texts = ["I lost my card", "what's the weather tomorrow"]
    loaded = encoders.OnnxSentenceEncoder(folder)
    assert loaded.dim == 384
    assert np.array_equal(loaded.encode(texts), get_encoder("minilm").encode(texts))
