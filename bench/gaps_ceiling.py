"""How far an encoder lets intents be told apart at all: an upper bound for the gaps' scores.

Per development set and encoder, a sample of the set's test utterances (the traffic a
deployment would see with nothing handled, out-of-scope queries left out) is clustered by
k-means **given the true number of intents** (an oracle the product never gets) and scored
with NMI and ARI against the true intents; twice that number shows what splitting costs.
When this oracle stays under a target, no choice of the number of gaps or of where one ends
reaches it with that encoder: the encoder is the limit, not the granularity.

    python -m bench gaps_ceiling
    python -m bench.gaps_ceiling --transforms   # MiniLM's vectors post-processed, see below
    python -m bench.gaps_ceiling --candidate mpnet=DIR   # another encoder beside the shipped

``--candidate NAME=DIR`` screens a sentence transformer exported by
``scripts/export_minilm.py --source ... --out DIR`` (int8 ONNX and its tokenizer) against the
shipped encoders in the same run: the same oracle, its encoding speed on these cores (texts a
second, the encoders alternated over several rounds, the median) and its model's size.

``--transforms`` asks the same oracle whether MiniLM's vectors, post-processed on the traffic's
own sample, separate intents better: centred (its mean taken away), "all-but-the-top" (also its
top principal directions, 1, 2, 5 or 8), and whitened (each direction of its covariance scaled to
unit variance, its eigenvalues raised by a share of their mean first). The k-means runs on the
rows made unit again, so it cuts on cosine similarity as the gaps do.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from bench.gaps_sets import DEVELOPMENT, LOADERS

SAMPLE = 3000


def _encoders(names: list[str], candidates: dict[str, Path] | None) -> dict[str, Any]:
    from daytwo.detect.gaps.encoders import OnnxSentenceEncoder, get_encoder

    found: dict[str, Any] = {name: get_encoder(name) for name in names}
    for name, folder in (candidates or {}).items():
        found[name] = OnnxSentenceEncoder(folder, name=name)
    return found


def ceiling(
    sets: list[str],
    encoders: list[str],
    seed: int = 0,
    sample: int = SAMPLE,
    candidates: dict[str, Path] | None = None,
) -> dict[str, Any]:
    """``{encoder: {set: {"k", "utterances", "nmi_at_k", "ari_at_k", "nmi_at_2k", ...}}}``,
    for the registered ``encoders`` and the exported ``candidates`` (name: folder)."""
    out: dict[str, Any] = {}
    for name, encoder in _encoders(encoders, candidates).items():
        per_set: dict[str, Any] = {}
        for dataset in sets:
            rows = list(LOADERS[dataset]().test)
            rng = np.random.default_rng(seed)
            if len(rows) > sample:
                rows = [rows[i] for i in rng.choice(len(rows), sample, replace=False)]
            vectors = encoder.encode([t for t, _ in rows])
            truth = [i for _, i in rows]
            k = len(set(truth))
            scores: dict[str, Any] = {"k": k, "utterances": len(rows)}
            for factor, tag in ((1, "k"), (2, "2k")):
                labels = KMeans(factor * k, n_init=3, random_state=seed).fit_predict(vectors)
                scores[f"nmi_at_{tag}"] = float(normalized_mutual_info_score(truth, labels))
                scores[f"ari_at_{tag}"] = float(adjusted_rand_score(truth, labels))
            per_set[dataset] = scores
            print(name, dataset, round(scores["nmi_at_k"], 3), round(scores["ari_at_k"], 3))
        out[name] = per_set
    return out


def encoding_speed(
    encoders: list[str],
    candidates: dict[str, Path] | None = None,
    n: int = 1000,
    rounds: int = 3,
) -> dict[str, Any]:
    """Texts a second each encoder embeds (``n`` distinct HWU64 utterances, the encoders
    alternated ``rounds`` times; the median), with the load average before each round."""
    found = _encoders(encoders, candidates)
    rows = sorted({t for t, _ in LOADERS["hwu64"]().test})
    texts = [rows[i] for i in np.random.default_rng(0).choice(len(rows), n, replace=False)]
    per: dict[str, list[float]] = {name: [] for name in found}
    loads: list[float] = []
    for encoder in found.values():
        encoder.encode(texts[:64])  # warm: the session's first run allocates
    for _ in range(rounds):
        for name, encoder in found.items():
            loads.append(os.getloadavg()[0])
            t = time.perf_counter()
            encoder.encode(texts)
            per[name].append(n / (time.perf_counter() - t))
            print(name, "texts/s", round(per[name][-1], 1), "load", loads[-1], flush=True)
    return {
        "texts": n,
        "rounds": rounds,
        "load_average_1min": loads,
        **{
            name: {"texts_per_second": per[name], "median": statistics.median(per[name])}
            for name in found
        },
    }


def model_megabytes(candidates: dict[str, Path]) -> dict[str, float]:
    """Size of each model as shipped (``model.onnx`` and ``tokenizer.json``), in MB."""
    from importlib import resources

    shipped = Path(str(resources.files("daytwo.detect.gaps").joinpath("minilm")))
    folders = {"minilm": shipped, **candidates}
    return {
        name: round(
            sum((folder / f).stat().st_size for f in ("model.onnx", "tokenizer.json")) / 1e6, 1
        )
        for name, folder in folders.items()
    }


TOPS = (1, 2, 5, 8)
SHRINKS = (0.3, 1.0, 3.0)


def transformed_ceiling(
    sets: list[str], seed: int = 0, sample: int = SAMPLE
) -> dict[str, dict[str, dict[str, float]]]:
    """``{set: {transform: {"nmi_at_k", "ari_at_k"}}}`` for MiniLM's vectors, raw and
    post-processed (:func:`bench.gaps_variants.all_but_the_top`, :func:`~bench.gaps_variants.
    whitened`), fitted on the sample itself."""
    from bench.gaps_variants import all_but_the_top, whitened
    from daytwo.detect.gaps.encoders import get_encoder

    encoder = get_encoder("minilm")
    out: dict[str, dict[str, dict[str, float]]] = {}
    for dataset in sets:
        rows = list(LOADERS[dataset]().test)
        rng = np.random.default_rng(seed)
        if len(rows) > sample:
            rows = [rows[i] for i in rng.choice(len(rows), sample, replace=False)]
        x = encoder.encode([t for t, _ in rows])
        truth = [i for _, i in rows]
        k = len(set(truth))
        forms = {
            "raw": x,
            "centred": all_but_the_top(x, len(x), 0),
            **{f"top_{d}_removed": all_but_the_top(x, len(x), d) for d in TOPS},
            **{f"whitened_{a}": whitened(x, len(x), a) for a in SHRINKS},
        }
        per: dict[str, dict[str, float]] = {}
        for name, v in forms.items():
            labels = KMeans(k, n_init=3, random_state=seed).fit_predict(v)
            per[name] = {
                "nmi_at_k": float(normalized_mutual_info_score(truth, labels)),
                "ari_at_k": float(adjusted_rand_score(truth, labels)),
            }
            print(dataset, name, *(round(f, 3) for f in per[name].values()), flush=True)
        out[dataset] = per
    return out


def run() -> dict[str, Any]:
    return {"oracle_kmeans": ceiling(list(DEVELOPMENT), ["minilm", "wordllama"])}


def main() -> None:
    import argparse
    import json

    from bench.__main__ import RESULTS, _environment

    parser = argparse.ArgumentParser(prog="python -m bench.gaps_ceiling", description=__doc__)
    parser.add_argument("--transforms", action="store_true", help="MiniLM post-processed")
    parser.add_argument("--sets", nargs="+", default=list(DEVELOPMENT))
    parser.add_argument("--out", default=None)
    parser.add_argument(
        "--candidate",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="an exported encoder to screen beside MiniLM (scripts/export_minilm.py --out DIR)",
    )
    parser.add_argument("--speed-texts", type=int, default=1000, help="texts per speed round")
    args = parser.parse_args()
    if args.candidate:
        candidates = {n: Path(d) for n, d in (c.split("=", 1) for c in args.candidate)}
        screened = {
            "benchmark": "gaps_ceiling_candidates",
            "environment": _environment(),
            "model_megabytes": model_megabytes(candidates),
            "encoding_speed": encoding_speed(["minilm"], candidates, n=args.speed_texts),
            "oracle_kmeans": ceiling(args.sets, ["minilm"], candidates=candidates),
            "environment_after": _environment(),
        }
        RESULTS.mkdir(parents=True, exist_ok=True)
        out = args.out or "gaps_ceiling_candidates.json"
        (RESULTS / out).write_text(json.dumps(screened, indent=2) + "\n")
        return
    if not args.transforms:
        parser.error("python -m bench gaps_ceiling runs the plain ceiling")
    result = {
        "benchmark": "gaps_ceiling_transforms",
        "environment": _environment(),
        "oracle_kmeans_minilm": transformed_ceiling(args.sets),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / (args.out or "gaps_ceiling_transforms.json")).write_text(
        json.dumps(result, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
