"""The bge gaps bench's concatenated vectors and its leave-one-dataset-out choice."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from bench.gaps_bge import held_out, joint, represent


def _unit_rows(seed: int, n: int = 6, dim: int = 8) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    out: np.ndarray = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def test_a_concatenation_weighs_each_encoders_similarity() -> None:
    texts = [f"t{i}" for i in range(6)]
    minilm, bge = _unit_rows(0), _unit_rows(1)
    vecs = {
        "minilm": dict(zip(texts, minilm, strict=True)),
        "bge": dict(zip(texts, bge, strict=True)),
    }
    x = represent("cat25", texts, vecs)
    assert np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-6)
    expected = 0.75 * (minilm @ minilm.T) + 0.25 * (bge @ bge.T)
    assert np.allclose(x @ x.T, expected, atol=1e-5)
    assert np.allclose(represent("bge", texts, vecs), bge, atol=1e-6)


def _scores(nmi: float, ari: float, recall: float) -> dict[str, float]:
    return {"nmi": nmi, "ari": ari, "hidden_recall": recall, "gaps": 10.0}


def test_each_set_is_measured_with_the_tuning_chosen_on_the_other_two() -> None:
    a, b = json.dumps(["a"]), json.dumps(["b"])
    good, poor = _scores(0.9, 0.7, 1.0), _scores(0.7, 0.4, 0.6)
    grids = {
        # "a" is best on CLINC150 and DSTC11, "b" on HWU64 only.
        "clinc150/0": {a: good, b: poor},
        "dstc11/0": {a: good, b: poor},
        "hwu64/0": {a: poor, b: good},
    }
    out = held_out(grids, ["clinc150", "hwu64", "dstc11"])
    assert out["sets"]["hwu64"]["tuning_chosen_on_others"] == ["a"]
    assert out["sets"]["hwu64"]["nmi"] == 0.7
    assert not out["sets"]["hwu64"]["met"]
    assert out["sets"]["clinc150"]["tuning_chosen_on_others"] == ["a"]
    assert out["sets"]["clinc150"]["met"]
    assert not out["met"]
    assert out["worst"] == min(0.7 - 0.8, 0.4 - 0.5, 0.6 - 0.85)


def test_the_representation_is_chosen_with_the_tuning(tmp_path: Path) -> None:
    good, poor = _scores(0.9, 0.7, 1.0), _scores(0.7, 0.4, 0.6)
    key = json.dumps([0.0, [], None, 0.0])
    # bge is best on CLINC150 and DSTC11, the concatenation on HWU64 only.
    sets = ("clinc150/0", "hwu64/0", "dstc11/0")
    bge = {s: {key: poor if s == "hwu64/0" else good} for s in sets}
    cat = {s: {key: good if s == "hwu64/0" else poor} for s in sets}
    (tmp_path / "grid-bge-bot.json").write_text(json.dumps(bge))
    (tmp_path / "grid-cat50-bot.json").write_text(json.dumps(cat))
    out = joint(["bge", "cat50"], "bot", tmp_path, fine=False)["joint"]["bot"]
    assert out["sets"]["hwu64"]["tuning_chosen_on_others"] == ["bge", 0.0, [], None, 0.0]
    assert out["sets"]["hwu64"]["nmi"] == 0.7
