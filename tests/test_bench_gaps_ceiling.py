"""The gaps ceiling bench's encoder run by another program (a model from an npm package, run by
Node), on a stand-in program that answers with vectors known in advance."""

from __future__ import annotations

import shlex
import sys

import numpy as np
import pytest
from bench.gaps_ceiling import CommandEncoder

# Answers each line (a JSON array of texts) with one row per text: [len(text), 1, 0, 0].
STAND_IN = (
    "import array, base64, json, sys\n"
    "for line in sys.stdin:\n"
    "    texts = json.loads(line)\n"
    "    x = array.array('f', [v for t in texts for v in (len(t), 1.0, 0.0, 0.0)])\n"
    "    out = {'rows': len(texts), 'dims': 4, 'float32': base64.b64encode(x.tobytes()).decode()}\n"
    "    print(json.dumps(out), flush=True)\n"
)


def _command(program: str) -> str:
    return shlex.join([sys.executable, "-c", program])


def test_vectors_come_back_in_order_across_batches_and_unit() -> None:
    encoder = CommandEncoder(_command(STAND_IN), name="stand_in", batch=2)
    texts = ["a", "bbb", "", "dddd", "ee"]
    x = encoder.encode(texts)
    assert x.shape == (5, 4)
    assert x.dtype == np.float32
    assert np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-6)
    # The first coordinate over the second is the text's length, whatever the batch.
    assert np.allclose(x[:, 0] / x[:, 1], [len(t) for t in texts], atol=1e-5)
    assert encoder.encode([]).shape[0] == 0
    encoder.close()


def test_a_program_that_stops_is_an_error_not_empty_vectors() -> None:
    encoder = CommandEncoder(_command("import sys; sys.stdin.readline()"), name="gone")
    with pytest.raises(RuntimeError, match="stopped"):
        encoder.encode(["hello"])
    encoder.close()
