"""The knowledge gaps' step on a candidate set larger than the demo's, two revisions in
alternating A/B runs: CPU, wall, peak resident set, and every gap's every field compared.

100,000 candidates drawn (seeded) from CLINC150's validation and test utterances, spread
over 28 days, go through :func:`detect_gaps` as a deployment's
weekly look gives them: once with the confidently answered turns of a bot that knows 120 of
the 150 intents (its training utterances: the granularity read from them, a miss attached to
its intent), once with none (centred, what no gap holds joined to its nearest gap). The
MiniLM vectors of every text are embedded once by the parent (``--cache``) and put in each
child's vector cache before it is timed, as the demo's warmed cache gives them: the
clustering, not the encoder, is what is measured.

Each case runs in a fresh process of one revision (A then B, B then A on the next round); its
CPU (user + system, every thread), wall and the rise of its peak resident set over what it held
before the step (``ru_maxrss``) are kept, with a digest of every gap's every field
(arrays to the bit, :func:`bench.gaps_step._digest`).

    python -m bench.gaps_large --a SRC_A --b SRC_B --cache DIR [--rounds 3] [--name NAME]

writes ``bench/results/NAME.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent
N = 100_000
KNOWN = 120
AS_OF = datetime(2026, 12, 6, tzinfo=UTC)


def _inputs() -> tuple[list[str], list[str], list[str]]:
    """The candidates' texts, and the confident turns' texts and intents."""
    import numpy as np

    from bench.gaps_sets import load_clinc

    data = load_clinc()
    intents = sorted({i for _, i in data.train})
    known = set(np.random.default_rng(0).permutation(intents)[:KNOWN].tolist())
    pool = [t for t, _ in (*data.val, *data.test)]
    picks = np.random.default_rng(1).integers(0, len(pool), N)
    confident = [(t, i) for t, i in data.train if i in known]
    return [pool[int(p)] for p in picks], [t for t, _ in confident], [i for _, i in confident]


def embed(cache: Path) -> None:
    """Every text the cases embed, with MiniLM, into ``cache`` (once)."""
    import numpy as np

    from daytwo.detect.gaps.encoders import get_encoder

    if (cache / "vectors.npy").exists():
        return
    cand, conf, _ = _inputs()
    texts = sorted({*cand, *conf})
    cache.mkdir(parents=True, exist_ok=True)
    np.save(cache / "vectors.npy", get_encoder("minilm").encode(texts))
    (cache / "texts.json").write_text(json.dumps(texts))


def _candidates(texts: list[str]) -> Any:
    import numpy as np

    from daytwo.detect.gaps.candidates import SIGNALS, Candidates

    n = len(texts)
    rng = np.random.default_rng(2)
    start = np.datetime64((AS_OF - timedelta(days=28)).replace(tzinfo=None), "us")
    offsets = rng.integers(0, 28 * 86_400 * 10**6, n).astype("timedelta64[us]")
    return Candidates(
        interaction_id=[f"i{k}" for k in range(n)],
        seq=np.zeros(n, dtype=np.int64),
        text=texts,
        started_at=start + offsets,
        journey=[f"j{k % 7}" for k in range(n)],
        customer_ref=[f"c{k % 5000}" for k in range(n)],
        answer_intent=["fallback"] * n,
        answer_confidence=np.full(n, 0.1),
        signals={s: np.ones(n, dtype=bool) for s in SIGNALS},
    )


CASES = ("known_intents", "none")


def child(src: str, cache: Path, case: str, out: Path) -> None:
    """One case with ``src``'s code, timed; its digest, times and memory to ``out``."""
    sys.path.insert(0, src)
    import numpy as np

    from bench.gaps_step import _digest
    from daytwo.detect.gaps import service
    from daytwo.detect.gaps.encoders import get_encoder

    encoder = get_encoder("minilm")
    texts = json.loads((cache / "texts.json").read_text())
    vectors = np.load(cache / "vectors.npy")
    cand_texts, conf_texts, conf_intents = _inputs()
    confident = (conf_texts, conf_intents) if case == "known_intents" else ([], [])
    service._CACHE.update(((encoder.name, t), vectors[i]) for i, t in enumerate(texts))
    cand = _candidates(cand_texts)
    before = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, _rss_mb())
    cpu, wall = time.process_time(), time.perf_counter()
    found = service.detect_gaps(cand, encoder, "bench", AS_OF, confident=confident)
    result = {
        "cpu_s": time.process_time() - cpu,
        "wall_s": time.perf_counter() - wall,
        # The high-water mark over what the process held as the step began.
        "peak_rise_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before,
        "gaps": len(found.gaps),
        "clustered": found.clustered,
        "digest": _digest(found),
    }
    out.write_text(json.dumps(result))


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_once(src: str, cache: Path) -> dict[str, Any]:
    """Each case in a fresh process of ``src``."""
    load = [round(x, 2) for x in os.getloadavg()]
    cases = {}
    for case in CASES:
        with tempfile.TemporaryDirectory(prefix="gaps-large-") as tmp:
            out = Path(tmp) / "out.json"
            cmd = [sys.executable, "-m", "bench.gaps_large", "--child", src, "--case", case]
            cmd += ["--cache", str(cache), "--out", str(out)]
            subprocess.run(cmd, cwd=ROOT, check=True, env=dict(os.environ, PYTHONHASHSEED="0"))
            cases[case] = json.loads(out.read_text())
    return {"cases": cases, "load_average_before": load}


def _of(run: dict[str, Any], case: str, what: str) -> Any:
    return run["cases"][case][what]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cache", required=True)
    parser.add_argument("--child")
    parser.add_argument("--case", choices=CASES)
    parser.add_argument("--out")
    parser.add_argument("--a")
    parser.add_argument("--b")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--name", default="gaps_large")
    parser.add_argument("--label-a", default=None)
    parser.add_argument("--label-b", default=None)
    args = parser.parse_args()
    cache = Path(args.cache)
    if args.child:
        child(args.child, cache, args.case, Path(args.out))
        return
    embed(cache)
    runs: dict[str, list[dict[str, Any]]] = {"a": [], "b": []}
    for i in range(args.rounds):
        for side in ("a", "b") if i % 2 == 0 else ("b", "a"):
            run = run_once(args.a if side == "a" else args.b, cache)
            runs[side].append(run)
            print(side, i, json.dumps(run), flush=True)
    cases = list(runs["a"][0]["cases"])
    metrics = ("cpu_s", "wall_s", "peak_rise_mb")
    result = {
        "benchmark": args.name,
        "what": f"detect_gaps over {N:,} CLINC150 candidates (vectors cached), with the "
        f"confident turns of {KNOWN} known intents and with none",
        "a": args.label_a or args.a,
        "b": args.label_b or args.b,
        "machine": f"{os.cpu_count()} cores",
        "runs": runs,
        "median": {
            s: {
                c: {m: round(statistics.median(_of(r, c, m) for r in runs[s]), 2) for m in metrics}
                for c in cases
            }
            for s in runs
        },
        "every_run_of_a_side_gives_the_same_gaps": all(
            r["cases"][c]["digest"] == runs[s][0]["cases"][c]["digest"]
            for s in runs
            for r in runs[s]
            for c in cases
        ),
        "cases_whose_gaps_differ_a_vs_b": [
            c for c in cases if _of(runs["a"][0], c, "digest") != _of(runs["b"][0], c, "digest")
        ],
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["median"]), "differ:", result["cases_whose_gaps_differ_a_vs_b"])


if __name__ == "__main__":
    main()
