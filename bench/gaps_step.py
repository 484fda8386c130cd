"""The knowledge gaps' own step, two revisions in alternating A/B runs, their gaps compared
field by field.

The step is every clustering a ``daytwo demo --no-serve`` makes (its replay's weekly looks and
the gaps page's clustering of each deployment): :func:`detect_gaps` on the inputs the demo gave
it. Three stages:

1. ``--capture``: a demo is built (the CLI's app, the demo's clock pinned as in
   :mod:`bench.demo_whole`) with one revision, and each call's inputs (candidates, confidently
   answered turns, previous gaps, params) are kept in ``--calls``, with the MiniLM vector of
   every text they embed;
2. for ``--rounds`` rounds, a fresh process of each revision (A then B, B then A on the next
   round) loads the calls, fills its vector cache with the kept vectors (the demo embeds them
   ahead of the clustering, on another thread: the encoder is not what is timed here), and runs
   every call in turn; its CPU (user + system, all its threads) and wall are timed, and a digest
   of every gap's every field (arrays to the bit) kept for each call;
3. the digests of A and B are compared call by call: a change that moves one utterance, one
   bit of a centre or one gap's rank shows.

Run ``python -m bench.gaps_step --capture --calls DIR --src SRC`` once, then
``python -m bench.gaps_step --calls DIR --a SRC_A --b SRC_B [--rounds 3] [--name NAME]``;
writes ``bench/results/NAME.json``.

``--capture-data DATA`` keeps instead the calls of one analysis of a built data dir (the
speed build of ``python -m bench.detect --speed-only``, at any size): each deployment's
candidates and confidently answered turns for the look ``daytwo analyze --force`` makes, as
the knowledge-gap detector reads them. Each child also reports the peak of its resident set
above what it held once the calls were loaded (the step's own working memory).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import pickle
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent


def capture(src: str, calls: Path, at: str) -> None:
    """Build the demo with ``src``, keeping every :func:`detect_gaps` call's inputs (in this
    process and in the workers it forks) and the vectors of the texts they embed."""
    sys.path.insert(0, src)
    from datetime import datetime

    import numpy as np

    from daytwo.demo import generator
    from daytwo.detect.gaps import emerging, service
    from daytwo.detect.gaps.encoders import get_encoder

    pinned = datetime.fromisoformat(at)
    generator._now = lambda: pinned
    calls.mkdir(parents=True, exist_ok=True)
    original = service.detect_gaps
    count = [0]

    def kept(cand: Any, encoder: Any, deployment: str, as_of: datetime, **kw: Any) -> Any:
        found = original(cand, encoder, deployment, as_of, **kw)
        count[0] += 1
        call = {"cand": cand, "deployment": deployment, "as_of": as_of, "kw": kw}
        name = calls / f"call-{as_of:%Y%m%d%H%M%S}-{deployment}-{os.getpid()}-{count[0]}.pkl"
        name.write_bytes(pickle.dumps(call))
        return found

    service.detect_gaps = kept
    setattr(emerging, "detect_gaps", kept)  # noqa: B010 - the name it imported
    from daytwo.cli.main import app

    app(["demo", "--no-serve", "--force"], standalone_mode=False)
    texts = sorted(
        {t for c in _load(calls) for t in (*c["cand"].text, *c["kw"].get("confident", ([],))[0])}
    )
    encoder = get_encoder("minilm")
    vectors = np.stack(
        [service._CACHE.get((encoder.name, t), np.zeros(encoder.dim, np.float32)) for t in texts]
    )
    missing = [i for i, t in enumerate(texts) if (encoder.name, t) not in service._CACHE]
    if missing:
        vectors[missing] = encoder.encode([texts[i] for i in missing])
    np.save(calls / "vectors.npy", vectors)
    (calls / "texts.json").write_text(json.dumps(texts))


def capture_data(src: str, calls: Path, data: Path) -> None:
    """Keep the :func:`detect_gaps` call of each deployment's look of `daytwo analyze --force`
    over the built data dir ``data`` (its candidates and confident turns as the detector reads
    them), and the vectors of the texts they embed."""
    sys.path.insert(0, src)
    from datetime import timedelta

    import numpy as np

    from daytwo.deployments.service import list_deployments
    from daytwo.detect.gaps.encoders import get_encoder
    from daytwo.detect.gaps.reads import candidates, confident
    from daytwo.detect.registry import select
    from daytwo.detect.runner import analysis_window, load_data
    from daytwo.pipeline.run import _info
    from daytwo.settings import Settings
    from daytwo.store.events import open_event_store
    from daytwo.store.ledger import Ledger

    settings = Settings(data_dir=data)
    calls.mkdir(parents=True, exist_ok=True)
    needs = [d.needs for d in select(["knowledge_gap"])]
    texts: set[str] = set()
    ledger = Ledger(settings.resolved_ledger_url)
    registered = {d.name: d for d in list_deployments(ledger)}
    with open_event_store(settings.resolved_events_url, read_only=True) as events:
        for vol in events.volumes():
            if vol.first_started_at is None or vol.last_started_at is None:
                continue
            dep = registered.get(vol.deployment)
            end = vol.last_started_at + timedelta(seconds=1)
            window = analysis_window(dep, vol.first_started_at, end)
            if window is None:
                continue
            look = load_data(events, _info(vol.deployment, dep), window, needs)
            cand, good = candidates(look), confident(look)
            del look
            call = {
                "cand": cand,
                "deployment": vol.deployment,
                "as_of": window.current_end,
                "kw": {"confident": (good.text, good.intent)},
            }
            (calls / f"call-{vol.deployment}.pkl").write_bytes(pickle.dumps(call))
            texts |= {*cand.text, *good.text}
            print(vol.deployment, len(cand), "candidates", len(set(cand.text)), "texts", flush=True)
    ledger.dispose()
    ordered = sorted(texts)
    np.save(calls / "vectors.npy", get_encoder("minilm").encode(ordered))
    (calls / "texts.json").write_text(json.dumps(ordered))
    (calls / "what.txt").write_text(
        f"each deployment's detect_gaps call of `daytwo analyze --force` over {data.name} "
        "(its candidates and confident turns as the detector reads them), replayed with the "
        "vectors cached"
    )


def _load(calls: Path) -> list[dict[str, Any]]:
    return [pickle.loads(f.read_bytes()) for f in sorted(calls.glob("*.pkl"))]


def _digest(value: Any) -> str:
    """Every field of a detection, arrays by their dtype, shape and bytes."""
    import numpy as np

    h = hashlib.sha256()

    def feed(v: Any) -> None:
        if isinstance(v, np.ndarray):
            h.update(f"{v.dtype.str}{v.shape}".encode())
            h.update(np.ascontiguousarray(v).tobytes())
        elif dataclasses.is_dataclass(v) and not isinstance(v, type):
            h.update(type(v).__name__.encode())
            for f in dataclasses.fields(v):
                h.update(f.name.encode())
                feed(getattr(v, f.name))
        elif isinstance(v, (list, tuple)):
            h.update(f"{type(v).__name__}{len(v)}".encode())
            for item in v:
                feed(item)
        elif isinstance(v, dict):
            h.update(f"dict{len(v)}".encode())
            for k, item in v.items():
                feed(k)
                feed(item)
        else:
            h.update(f"{type(v).__name__}:{v!r}".encode())

    feed(value)
    return h.hexdigest()


def child(src: str, calls: Path, out: Path) -> None:
    """Every kept call with ``src``'s code, timed; their digests and times to ``out``."""
    sys.path.insert(0, src)
    import numpy as np

    from daytwo.detect.gaps import service
    from daytwo.detect.gaps.encoders import get_encoder

    encoder = get_encoder("minilm")
    texts = json.loads((calls / "texts.json").read_text())
    vectors = np.load(calls / "vectors.npy")
    inputs = [c for c in _load(calls) if len(c["cand"])]
    results = []
    # The peak from here on, above what the process holds now (its inputs loaded).
    held = _status_mb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for call in inputs:
        # Each call's vectors from the cache, as the demo's warmed cache gives them.
        for t in {*call["cand"].text, *call["kw"].get("confident", ([],))[0]}:
            service._CACHE[(encoder.name, t)] = vectors[_index(texts)[t]]
        started, cpu = time.perf_counter(), time.process_time()
        found = service.detect_gaps(
            call["cand"], encoder, call["deployment"], call["as_of"], **call["kw"]
        )
        results.append(
            {
                "as_of": call["as_of"].isoformat(),
                "candidates": len(call["cand"]),
                "gaps": len(found.gaps),
                "wall_s": time.perf_counter() - started,
                "cpu_s": time.process_time() - cpu,
                "digest": _digest(found),
            }
        )
    total = {
        "cpu_s": time.process_time() - cpu0,
        "wall_s": time.perf_counter() - wall0,
        # The child's peak resident set (its imports, the calls and their vectors included).
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_above_start_mb": _status_mb("VmHWM") - held,
    }
    out.write_text(json.dumps({"calls": results, **total}))


def _status_mb(field: str) -> float:
    """A field of this process's /proc status (VmRSS, VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


_INDEX: dict[int, dict[str, int]] = {}


def _index(texts: list[str]) -> dict[str, int]:
    found = _INDEX.get(id(texts))
    if found is None:
        found = _INDEX[id(texts)] = {t: i for i, t in enumerate(texts)}
    return found


def run_once(src: str, calls: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="gaps-step-") as tmp:
        out = Path(tmp) / "out.json"
        load = [round(x, 2) for x in os.getloadavg()]
        cmd = [sys.executable, "-m", "bench.gaps_step", "--child", src]
        cmd += ["--calls", str(calls), "--out", str(out)]
        subprocess.run(cmd, cwd=ROOT, check=True, env=dict(os.environ, PYTHONHASHSEED="0"))
        result: dict[str, Any] = json.loads(out.read_text())
    result["load_average_before"] = load
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--capture", action="store_true")
    parser.add_argument("--capture-data", type=Path, help="A built data dir to capture from.")
    parser.add_argument("--src")
    parser.add_argument("--at", default="2026-12-06T12:00:00+00:00")
    parser.add_argument("--calls", required=True)
    parser.add_argument("--child")
    parser.add_argument("--out")
    parser.add_argument("--a")
    parser.add_argument("--b")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--name", default="gaps_step")
    parser.add_argument("--label-a", default=None)
    parser.add_argument("--label-b", default=None)
    args = parser.parse_args()
    calls = Path(args.calls)
    if args.capture_data:
        capture_data(args.src, calls, args.capture_data)
        return
    if args.capture:
        capture(args.src, calls, args.at)
        return
    if args.child:
        child(args.child, calls, Path(args.out))
        return
    runs: dict[str, list[dict[str, Any]]] = {"a": [], "b": []}
    for i in range(args.rounds):
        for side in ("a", "b") if i % 2 == 0 else ("b", "a"):
            run = run_once(args.a if side == "a" else args.b, calls)
            runs[side].append(run)
            print(side, i, round(run["wall_s"], 2), round(run["cpu_s"], 2), flush=True)
            print("peak_rss_mb", round(run["peak_rss_mb"]), flush=True)
            print("peak_above_start_mb", round(run["peak_above_start_mb"]), flush=True)
    digests = {s: [[c["digest"] for c in r["calls"]] for r in runs[s]] for s in runs}
    same_within = all(d == digests[s][0] for s in runs for d in digests[s])
    differ = [
        runs["a"][0]["calls"][k]["as_of"]
        for k, (x, y) in enumerate(zip(digests["a"][0], digests["b"][0], strict=True))
        if x != y
    ]
    result = {
        "benchmark": args.name,
        "what": (calls / "what.txt").read_text()
        if (calls / "what.txt").exists()
        else "every detect_gaps call of `daytwo demo --no-serve` (clock pinned at "
        f"{args.at}), replayed from its inputs with the vectors cached as the demo has them",
        "a": args.label_a or args.a,
        "b": args.label_b or args.b,
        "machine": f"{os.cpu_count()} cores",
        "calls": [
            {k: c[k] for k in ("as_of", "candidates", "gaps")} for c in runs["b"][0]["calls"]
        ],
        "runs": {
            s: [
                {
                    "cpu_s": round(r["cpu_s"], 2),
                    "wall_s": round(r["wall_s"], 2),
                    "peak_rss_mb": round(r.get("peak_rss_mb", float("nan"))),
                    "peak_above_start_mb": round(r.get("peak_above_start_mb", float("nan"))),
                    "load_average_before": r["load_average_before"],
                }
                for r in runs[s]
            ]
            for s in runs
        },
        "median": {
            s: {
                k: round(statistics.median(r[k] for r in runs[s]), 2)
                for k in ("cpu_s", "wall_s", "peak_rss_mb", "peak_above_start_mb")
            }
            for s in runs
        },
        "every_run_of_a_side_gives_the_same_gaps": same_within,
        "calls_whose_gaps_differ_a_vs_b": differ,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["median"]), "differ:", differ, "stable:", same_within)


if __name__ == "__main__":
    main()
