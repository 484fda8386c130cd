"""The plan's ``no_emerging_gap`` check's read alone: its time and peak memory.

For one deployment of a built data dir (``python -m bench.detect``'s speed run, or ``daytwo
demo --no-serve --no-history``'s), each measurement is a fresh process that opens the events
store read-only and reads, as a first evaluation in a process does (nothing kept yet), the
deployment's conversations per day and the words of its unanswered questions per day from 90
days before its last day to its end (``gap_check.read_counts``, the whole deployment as
scope). It reports the seconds, the process's peak resident set above what it held before, and
a digest of the counts (the same on both sides when the answers are). With ``--base SRC`` the
measurements alternate between this checkout's code and the code in ``SRC`` (another
checkout's ``src``), round by round, and the medians of each side are kept.

    python -m bench.gap_check_read --data DIR [--engine clickhouse] [--deployment care-bot]
        [--base SRC] [--rounds 3] [--label NAME]

Writes ``bench/results/gap_check_read[_NAME].json``.
"""

from __future__ import annotations

from bench.read_ab import CHILD_PRELUDE, engine_read_ab

CHILD = (
    CHILD_PRELUDE
    + r"""
import hashlib, json, resource, sys, time
from datetime import UTC, datetime, timedelta

from daytwo.plan.gap_check import read_counts
from daytwo.store.events import open_event_store


url, dep = sys.argv[1], sys.argv[2]
out = {}
with open_event_store(url, read_only=True) as ev:
    _, b, _ = span_of(ev, dep)
    end = datetime.combine(b.date() + timedelta(days=1), datetime.min.time(), UTC)
    before = rss_mb()
    t0 = time.perf_counter()
    conversations, words = read_counts(ev, dep, None, (end - timedelta(days=90)).date(), end)
    out["seconds"] = round(time.perf_counter() - t0, 2)
    out["peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before)
    out["days"] = len(words)
    out["words"] = sum(len(c) for c in words.values())
    shown = repr(sorted((str(d), sorted(c.items())) for d, c in words.items()))
    shown += repr(sorted((str(d), n) for d, n in conversations.items()))
    out["digest"] = hashlib.sha256(shown.encode()).hexdigest()[:16]
print(json.dumps(out))
"""
)


def main() -> None:
    engine_read_ab(
        "gap_check_read",
        CHILD,
        __doc__,
        rounds=3,
        medians=("seconds", "peak_mb"),
        firsts=("days", "words"),
        interactions=False,
    )


if __name__ == "__main__":
    main()
