"""Knowledge gaps on real data: a simulated bot on CLINC150 and the gaps found in its fallbacks.

For each seed, 30 of the 150 CLINC150 intents are hidden and a deployed bot is trained on the
other 120 (TF-IDF + logistic regression on the ``train`` split). Its fallback threshold is set on
the ``val`` split of the known intents so that about 5% of known traffic falls back. Every
``test`` utterance (150 x 30) and every ``oos_test`` utterance (1,000) is then sent through the
bot as a one-exchange interaction (the bot's intent, confidence and fallback flag on its
answer; a fallback ends in an escalation), ingested through the product's own ingest path into
a fresh events store, and the gaps are detected by the product as it runs
(:func:`daytwo.detect.gaps.service.refresh_gaps`) with each encoder.

Scores, over the fallback utterances:

- ``nmi``, ``ari``: the partition the gaps make of the fallback utterances whose true intent is
  one of the 150 (an out-of-scope query has no intent to recover), an utterance in no gap
  counting as a cluster of its own; ``nmi_with_oos`` adds the out-of-scope ones as one class;
- ``purity``: over those utterances that are in a gap; ``coverage``: the share in a gap;
- ``hidden_recall``: the share of hidden intents found, one being found when a gap of at least
  5 utterances has it as a majority of at least 60% (majority over all the gap's utterances,
  out-of-scope ones included); ``hidden_recall_fallback_only`` counts only the gap's fallback
  utterances, and ``hidden_recall_ceiling`` is the share of hidden intents with at least 5
  fallback utterances at all.

The baseline clusters the same fallback utterances with TF-IDF + k-means, given the true
number of intents among them (an oracle the product does not get), scored the same way.
Speed: clustering 100,000 utterances (sample-then-assign), per encoder dimension.

    python -m bench gaps            # or: python -m bench.gaps --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data" / "clinc150"
DEPLOYMENT = "clinc-bot"
HIDDEN = 30
KNOWN_FALLBACK = 0.05
MIN_GAP, MAJORITY = 5, 0.6
TARGETS = {"nmi": 0.80, "hidden_recall": 0.90, "cluster_100k_seconds": 60.0}


def load_clinc() -> dict[str, list[list[str]]]:
    path = DATA / "data_full.json"
    if not path.exists():
        raise FileNotFoundError(f"CLINC150 is not at {path}: see the data README")
    data: dict[str, list[list[str]]] = json.loads(path.read_text())
    return data


def simulate_bot(
    data: dict[str, list[list[str]]], seed: int, split: str = "test"
) -> dict[str, Any]:
    """Hide intents, train the bot, answer every ``split`` and out-of-scope utterance."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    intents = sorted({i for _, i in data["train"]})
    hidden = {str(i) for i in rng.choice(intents, HIDDEN, replace=False)}
    train = [(t, i) for t, i in data["train"] if i not in hidden]
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    model = LogisticRegression(C=10, max_iter=1000)
    model.fit(vectorizer.fit_transform([t for t, _ in train]), [i for _, i in train])
    val = [t for t, i in data["val"] if i not in hidden]
    threshold = float(np.quantile(model.predict_proba(vectorizer.transform(val)).max(1), 0.05))
    rows = [(t, i) for t, i in data[split]] + [(t, "oos") for t, _ in data[f"oos_{split}"]]
    proba = model.predict_proba(vectorizer.transform([t for t, _ in rows]))
    guess = model.classes_[proba.argmax(1)]
    confidence = proba.max(1)
    known = np.array([i not in hidden and i != "oos" for _, i in rows])
    fallback = confidence < threshold
    return {
        "hidden": hidden,
        "rows": rows,
        "guess": [str(g) for g in guess],
        "confidence": confidence,
        "fallback": fallback,
        "threshold": threshold,
        "known_fallback_rate": float(fallback[known].mean()),
        "hidden_fallback_rate": float(fallback[np.array([i in hidden for _, i in rows])].mean()),
        "oos_fallback_rate": float(fallback[np.array([i == "oos" for _, i in rows])].mean()),
    }


def interactions(bot: dict[str, Any], domains: dict[str, str], seed: int) -> list[dict[str, Any]]:
    """One interaction per utterance, spread over four weeks, in the wire format."""
    rng = np.random.default_rng(seed + 1000)
    end = datetime(2026, 3, 29, tzinfo=UTC)
    out = []
    for k, (text, _) in enumerate(bot["rows"]):
        start = end - timedelta(seconds=float(rng.uniform(0, 28 * 86400)))
        fell = bool(bot["fallback"][k])
        intent = bot["guess"][k]
        out.append(
            {
                "id": f"s{seed}-{k:05d}",
                "deployment": DEPLOYMENT,
                "started_at": start.isoformat(),
                "channel": "chat",
                "journey": domains.get(intent, "other"),
                "customer_ref": f"u-{int(rng.integers(0, 3000)):05d}",
                "outcome": "escalated" if fell else "contained",
                "turns": [
                    {"seq": 0, "ts": start.isoformat(), "role": "user", "text": text},
                    {
                        "seq": 1,
                        "ts": (start + timedelta(seconds=1)).isoformat(),
                        "role": "assistant",
                        "text": "Sorry, I did not get that." if fell else f"[{intent}]",
                        "intent": "fallback" if fell else intent,
                        "confidence": round(float(bot["confidence"][k]), 4),
                        "fallback": fell,
                    },
                ],
            }
        )
    return out


def recall(labels: list[str], gaps: dict[str, list[int]], hidden: set[str]) -> float:
    found = set()
    for members in gaps.values():
        if len(members) < MIN_GAP:
            continue
        top, count = Counter(labels[m] for m in members).most_common(1)[0]
        if count >= MAJORITY * len(members):
            found.add(top)
    return len(found & hidden) / len(hidden)


def partition_scores(
    truth: list[str], assigned: list[str | None], hidden: set[str], fallback: list[bool]
) -> dict[str, float]:
    """NMI / ARI / purity / coverage on in-scope fallback utterances, plus hidden recall."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    idx = [k for k in range(len(truth)) if fallback[k]]
    scope_idx = [k for k in idx if truth[k] != "oos"]

    def clusters(ks: list[int]) -> list[str]:
        return [assigned[k] or f"single-{k}" for k in ks]

    y = [truth[k] for k in scope_idx]
    c = clusters(scope_idx)
    in_gap = [k for k in scope_idx if assigned[k] is not None]
    by_gap: dict[str, Counter[str]] = {}
    for k in in_gap:
        by_gap.setdefault(str(assigned[k]), Counter())[truth[k]] += 1
    purity = sum(max(v.values()) for v in by_gap.values()) / max(1, len(in_gap))
    all_gaps: dict[str, list[int]] = {}
    fb_gaps: dict[str, list[int]] = {}
    for k, a in enumerate(assigned):
        if a is not None:
            all_gaps.setdefault(a, []).append(k)
            if fallback[k]:
                fb_gaps.setdefault(a, []).append(k)
    per_hidden = Counter(truth[k] for k in idx if truth[k] in hidden)
    return {
        "nmi": float(normalized_mutual_info_score(y, c)),
        "ari": float(adjusted_rand_score(y, c)),
        "purity": float(purity),
        "coverage": len(in_gap) / max(1, len(scope_idx)),
        "nmi_with_oos": float(normalized_mutual_info_score([truth[k] for k in idx], clusters(idx))),
        "hidden_recall": recall(truth, all_gaps, hidden),
        "hidden_recall_fallback_only": recall(truth, fb_gaps, hidden),
        "hidden_recall_ceiling": sum(1 for h in hidden if per_hidden[h] >= MIN_GAP) / len(hidden),
        "gaps": float(len(all_gaps)),
    }


def baseline(bot: dict[str, Any], seed: int) -> dict[str, float]:
    """TF-IDF + k-means on the fallback utterances, k = the true number of intents there."""
    from sklearn.cluster import KMeans
    from sklearn.feature_extraction.text import TfidfVectorizer

    truth = [i for _, i in bot["rows"]]
    fb = [bool(f) for f in bot["fallback"]]
    idx = [k for k in range(len(truth)) if fb[k]]
    texts = [bot["rows"][k][0] for k in idx]
    k_true = len({truth[k] for k in idx})
    x = TfidfVectorizer(sublinear_tf=True, stop_words="english").fit_transform(texts)
    labels = KMeans(n_clusters=k_true, n_init=4, random_state=seed).fit_predict(x)
    assigned: list[str | None] = [None] * len(truth)
    for k, lab in zip(idx, labels, strict=True):
        assigned[k] = f"km-{lab}"
    scores = partition_scores(truth, assigned, bot["hidden"], fb)
    scores["k"] = float(k_true)
    return scores


def run_seed(seed: int, encoders: list[str], work: Path) -> dict[str, Any]:
    from daytwo.detect.gaps.service import list_gaps, refresh_gaps
    from daytwo.ingest.decode import decode_objects
    from daytwo.ingest.service import ingest
    from daytwo.store.events import open_event_store
    from daytwo.store.ledger import Ledger, upgrade

    data = load_clinc()
    domains = {
        i: d for d, names in json.loads((DATA / "domains.json").read_text()).items() for i in names
    }
    t = time.perf_counter()
    bot = simulate_bot(data, seed)
    bot_seconds = time.perf_counter() - t
    records = interactions(bot, domains, seed)
    truth = [i for _, i in bot["rows"]]
    fallback = [bool(f) for f in bot["fallback"]]
    key_of = {(r["id"], 0): k for k, r in enumerate(records)}
    store = open_event_store(f"duckdb:///{work / f'events-{seed}.duckdb'}")
    for i in range(0, len(records), 2000):
        ingest(store, decode_objects(records[i : i + 2000]), source="bench")
    out: dict[str, Any] = {
        "seed": seed,
        "hidden_intents": sorted(bot["hidden"]),
        "bot": {
            "threshold": bot["threshold"],
            "known_fallback_rate": bot["known_fallback_rate"],
            "hidden_fallback_rate": bot["hidden_fallback_rate"],
            "oos_fallback_rate": bot["oos_fallback_rate"],
            "fallback_utterances": int(sum(fallback)),
            "train_seconds": bot_seconds,
        },
        "baseline_tfidf_kmeans": baseline(bot, seed),
    }
    for name in encoders:
        url = f"sqlite:///{work / f'ledger-{seed}-{name}.sqlite'}"
        upgrade(url)
        ledger = Ledger(url)
        t = time.perf_counter()
        result = refresh_gaps(ledger, store, DEPLOYMENT, encoder=name, window_days=60, force=True)
        seconds = time.perf_counter() - t
        assigned: list[str | None] = [None] * len(records)
        gaps = list_gaps(ledger, store, DEPLOYMENT, with_members=True)
        for g in gaps:
            for m in g.members or []:
                k = key_of.get((m.interaction_id, m.seq))
                if k is not None:
                    assigned[k] = g.id
        out[name] = {
            **partition_scores(truth, assigned, bot["hidden"], fallback),
            "candidates": result.candidates,
            "detect_seconds": seconds,
            "kinds": dict(Counter(g.kind for g in gaps)),
            "example_labels": [g.label for g in gaps[:5]],
        }
        ledger.dispose()
    store.close()
    return out


def clustering_speed(encoders: list[str], n: int = 100_000) -> dict[str, Any]:
    """Seconds to cluster ``n`` utterances (sample-then-assign) and label the gaps."""
    from daytwo.detect.gaps.cluster import cluster_utterances
    from daytwo.detect.gaps.encoders import get_encoder
    from daytwo.detect.gaps.labels import gap_keywords

    data = load_clinc()
    texts = sorted({t for split in data.values() for t, _ in split})
    rng = np.random.default_rng(0)
    picks = rng.integers(0, len(texts), n)
    utterances = [texts[int(p)] for p in picks]
    out: dict[str, Any] = {"utterances": n, "distinct_texts": len(texts)}
    for name in encoders:
        encoder = get_encoder(name)
        t = time.perf_counter()
        unique = encoder.encode(texts)
        embed_seconds = time.perf_counter() - t
        vectors = unique[picks]
        t = time.perf_counter()
        clustering = cluster_utterances(vectors)
        cluster_seconds = time.perf_counter() - t
        t = time.perf_counter()
        gap_keywords(utterances, clustering.labels, clustering.n_gaps)
        label_seconds = time.perf_counter() - t
        out[name] = {
            "cluster_seconds": cluster_seconds,
            "label_seconds": label_seconds,
            "cluster_100k_seconds": cluster_seconds + label_seconds,
            "gaps": clustering.n_gaps,
            "rounds": clustering.rounds,
            "clustered_share": float((clustering.labels >= 0).mean()),
            "embed_texts_per_second": len(texts) / embed_seconds,
        }
    return out


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def run(work: Path, seeds: list[int], encoders: list[str]) -> dict[str, Any]:
    per_seed = [run_seed(s, encoders, work) for s in seeds]
    speed = clustering_speed(encoders)
    summary: dict[str, Any] = {}
    keys = ("nmi", "ari", "purity", "coverage", "hidden_recall", "nmi_with_oos")
    for name in [*encoders, "baseline_tfidf_kmeans"]:
        summary[name] = {k: _mean([s[name][k] for s in per_seed]) for k in keys}
    for name in encoders:
        summary[name]["cluster_100k_seconds"] = speed[name]["cluster_100k_seconds"]
        summary[name]["detect_seconds"] = _mean([s[name]["detect_seconds"] for s in per_seed])
        summary[name]["met"] = (
            summary[name]["nmi"] >= TARGETS["nmi"]
            and summary[name]["hidden_recall"] >= TARGETS["hidden_recall"]
            and summary[name]["cluster_100k_seconds"] <= TARGETS["cluster_100k_seconds"]
        )
    return {
        "seeds": seeds,
        "targets": TARGETS,
        "mean": summary,
        "per_seed": per_seed,
        "speed_100k": speed,
        "met": any(summary[name]["met"] for name in encoders),
    }


def main() -> None:
    from bench.__main__ import RESULTS, _environment

    parser = argparse.ArgumentParser(prog="python -m bench.gaps", description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--encoders", nargs="+", default=["wordllama", "minilm"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="daytwo-bench-gaps-") as tmp:
        result = run(Path(tmp), args.seeds, args.encoders)
    result = {"benchmark": "gaps", "environment": _environment(), **result}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "gaps.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(json.dumps(result["mean"], indent=2))


if __name__ == "__main__":
    main()
