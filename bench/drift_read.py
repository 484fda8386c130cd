"""The drift detector alone: what it reads and its run, their time and peak memory.

For one deployment of a built data dir (``python -m bench.detect``'s speed run, or ``daytwo
demo --no-serve --no-history``'s), each measurement is a fresh process that opens the events
store read-only, loads what the drift detector asks for (``load_data`` with its needs alone:
the turns it reads, or the engine read of first messages) for one look ending at the last
midnight, and runs it. It reports the seconds of the load and of the run, the process's peak
resident set above what it held before (the rows read and worked on), the rows read, and a
digest of the findings (the same on both sides when the answers are). With ``--base SRC`` the
measurements alternate between this checkout's code and the code in ``SRC`` (another checkout's
``src``), round by round, and the medians of each side are kept.

    python -m bench.drift_read --data DIR [--engine clickhouse] [--deployment care-bot]
        [--base SRC] [--rounds 5] [--label NAME]

Writes ``bench/results/drift_read[_NAME].json``.
"""

from __future__ import annotations

from bench.read_ab import CHILD_PRELUDE, engine_read_ab

CHILD = (
    CHILD_PRELUDE
    + r"""
import hashlib, json, resource, sys, time
from datetime import UTC, datetime

from daytwo.detect.data import DeploymentInfo
from daytwo.detect.registry import get_detector
from daytwo.detect.runner import analysis_window, load_data, run_detectors
from daytwo.store.events import open_event_store


url, dep = sys.argv[1], sys.argv[2]
drift = get_detector("drift")
out = {}
with open_event_store(url, read_only=True) as ev:
    a, b, n = span_of(ev, dep)
    end = datetime.combine(b.date(), datetime.min.time(), UTC)
    window = analysis_window(None, a, end)
    out["interactions"] = n
    before = rss_mb()
    t0 = time.perf_counter()
    data = load_data(ev, DeploymentInfo(dep), window, [drift.needs])
    t1 = time.perf_counter()
    found = run_detectors(data, [drift])
    t2 = time.perf_counter()
    out["load_seconds"] = round(t1 - t0, 2)
    out["run_seconds"] = round(t2 - t1, 2)
    out["seconds"] = round(t2 - t0, 2)
    out["peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before)
    out["rows"] = {"turns": data.turns.num_rows,
                   **{k: v.num_rows for k, v in sorted(data.reads.items())}}
    shown = sorted(repr((f.kind, f.title, f.evidence, sorted(f.details.items()))) for f in found)
    out["findings"] = [f.kind for f in found]
    out["digest"] = hashlib.sha256("\n".join(shown).encode()).hexdigest()[:16]
print(json.dumps(out))
"""
)


def main() -> None:
    engine_read_ab(
        "drift_read",
        CHILD,
        __doc__,
        rounds=5,
        medians=("seconds", "load_seconds", "run_seconds", "peak_mb"),
        firsts=("rows", "findings"),
    )


if __name__ == "__main__":
    main()
