"""The knowledge gaps' candidates alone: what the ``knowledge_gap`` detector reads to pick
them, its time and peak memory.

For one deployment of a built data dir (``python -m bench.detect``'s speed run, or ``daytwo
demo --no-serve --no-history``'s), each measurement is a fresh process that opens the events
store read-only, loads what the detector asks for (``load_data`` with its needs alone: every
turn of the look's windows with its text, or the engine's reads of the candidates and of the
confidently answered turns) for one look ending at the last midnight, and picks the candidate
utterances and the confident turns the clustering takes (not the clustering itself: its input
is what changed). It reports the seconds, the process's peak resident set above what it held
before, the rows read, the candidates and confident turns picked, and a digest of them (every
field, in order: the same on both sides when the inputs of the clustering are). With ``--base
SRC`` the measurements alternate between this checkout's code and the code in ``SRC`` (another
checkout's ``src``), round by round, and the medians of each side are kept.

    python -m bench.gap_candidates_read --data DIR [--engine clickhouse] [--deployment care-bot]
        [--base SRC] [--rounds 5] [--label NAME]

Writes ``bench/results/gap_candidates_read[_NAME].json``.
"""

from __future__ import annotations

from bench.read_ab import CHILD_PRELUDE, engine_read_ab

CHILD = (
    CHILD_PRELUDE
    + r"""
import hashlib, json, resource, sys, time
from datetime import UTC, datetime

import numpy as np

from daytwo.detect.data import DeploymentInfo
from daytwo.detect.registry import get_detector
from daytwo.detect.runner import analysis_window, load_data
from daytwo.store.events import open_event_store

try:  # this side: the engine reads
    from daytwo.detect.gaps.reads import candidates, confident

    def pick(data):
        return candidates(data), confident(data)
except ImportError:  # before: every turn of the windows
    from daytwo.detect.gaps.candidates import confident_turns, find_candidates

    def pick(data):
        return (find_candidates(data.turns, data.interactions),
                confident_turns(data.turns, data.interactions))


url, dep = sys.argv[1], sys.argv[2]
gaps = get_detector("knowledge_gap")
out = {}
with open_event_store(url, read_only=True) as ev:
    a, b, n = span_of(ev, dep)
    end = datetime.combine(b.date(), datetime.min.time(), UTC)
    window = analysis_window(None, a, end)
    out["interactions"] = n
    before = rss_mb()
    t0 = time.perf_counter()
    data = load_data(ev, DeploymentInfo(dep), window, [gaps.needs])
    t1 = time.perf_counter()
    cand, good = pick(data)
    t2 = time.perf_counter()
    out["load_seconds"] = round(t1 - t0, 2)
    out["pick_seconds"] = round(t2 - t1, 2)
    out["seconds"] = round(t2 - t0, 2)
    out["peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before)
    out["rows"] = {"turns": data.turns.num_rows,
                   **{k: v.num_rows for k, v in sorted(data.reads.items())}}
    out["candidates"] = len(cand)
    out["distinct_texts"] = len(set(cand.text))
    out["confident"] = len(good.text)
    h = hashlib.sha256()
    for part in (cand.interaction_id, cand.seq.tolist(), cand.text,
                 cand.started_at.astype("datetime64[us]").astype(np.int64).tolist(),
                 cand.journey, cand.customer_ref, cand.answer_intent,
                 np.nan_to_num(cand.answer_confidence, nan=-1.0).tolist(),
                 sorted((k, v.tolist()) for k, v in cand.signals.items()),
                 good.text, good.intent):
        h.update(repr(part).encode())
    out["digest"] = h.hexdigest()[:16]
print(json.dumps(out))
"""
)


def main() -> None:
    engine_read_ab(
        "gap_candidates_read",
        CHILD,
        __doc__,
        rounds=5,
        medians=("seconds", "load_seconds", "pick_seconds", "peak_mb"),
        firsts=("rows", "candidates", "distinct_texts", "confident"),
    )


if __name__ == "__main__":
    main()
