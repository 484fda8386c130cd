"""Writes ``tiny_without_token_types.onnx`` for ``test_encoders.py`` (needs the onnx package,
which daytwo itself does not install): a six-token, four-dimension stand-in for a sentence
transformer without token types, whose token vectors are rows of a fixed table, masked."""

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

table = np.array(
    [[1, 0, 0, 0], [9, 9, 9, 9], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [1, 1, 0, 0]],
    np.float32,
)
nodes = [
    helper.make_node("Gather", ["table", "input_ids"], ["tokens"], axis=0),
    helper.make_node("Cast", ["attention_mask"], ["maskf"], to=TensorProto.FLOAT),
    helper.make_node("Unsqueeze", ["maskf", "axes"], ["mask3"]),
    helper.make_node("Mul", ["tokens", "mask3"], ["last_hidden_state"]),
]
graph = helper.make_graph(
    nodes,
    "tiny",
    [
        helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "tokens"]),
        helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "tokens"]),
    ],
    [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "tokens", 4])],
    [numpy_helper.from_array(table, "table"), numpy_helper.from_array(np.array([2]), "axes")],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save(model, str(Path(__file__).with_name("tiny_without_token_types.onnx")))
