"""CPU per 1,000 spans of the OTLP mapper (spans to staged rows), this code against another
revision's in the same process, batch by batch.

The mapping is the largest part of a span's cost and pure Python, so a few percent matter and
a shared machine's load hides them between two runs. Here the other revision's three mapping
modules (``spans``, ``messages``, ``attributes``, read with ``git show``) are loaded as a
package of their own beside the current ones, and both map every batch of the OTLP bench
(512 realistic GenAI spans, protobuf, parsed once beforehand) in turn, which one goes first
alternating, each timed by the CPU clock of this process: both see the same load at the same
moments. Before timing, both map every batch and their rows, errors and counts must be equal.

Run ``python -m bench.otlp_mapping [SPANS] [--baseline REV] [--rounds N]`` (default 30,000
spans, ``main``, 3 rounds); prints the result as JSON.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_MODULES = ("attributes", "messages", "spans")
_PACKAGE = "daytwo.ingest.otlp"


def load_revision(revision: str, into: Path, name: str = "baseline_otlp_mapping") -> Any:
    """The ``spans`` module of ``revision``'s mapper, as package ``name`` under ``into``."""
    root = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=True
    ).stdout.strip()
    package = into / name
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")
    for module in _MODULES:
        source = subprocess.run(
            ["git", "show", f"{revision}:src/daytwo/ingest/otlp/{module}.py"],
            capture_output=True,
            text=True,
            check=True,
            cwd=root,
        ).stdout
        source = source.replace(f"from {_PACKAGE} import messages", f"from {name} import messages")
        for other in _MODULES:
            source = source.replace(
                f"from {_PACKAGE}.{other} import", f"from {name}.{other} import"
            )
        (package / f"{module}.py").write_text(source)
    sys.path.insert(0, str(into))
    return importlib.import_module(f"{name}.spans")


def run(spans: int, baseline: str, rounds: int) -> dict[str, Any]:
    from bench.otlp import make_batches
    from daytwo.ingest.otlp import spans as current
    from daytwo.ingest.otlp.decode import PROTOBUF, parse_request

    load_before = os.getloadavg()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", baseline], capture_output=True, text=True, check=True
    ).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="daytwo-mapping-") as tmp:
        other = load_revision(baseline, Path(tmp))
        requests = [parse_request(b, PROTOBUF) for b in make_batches(spans)]
        n = sum(len(ss.spans) for r in requests for rs in r.resource_spans for ss in rs.scope_spans)
        mappers = {"current": current.SpanMapper, "baseline": other.SpanMapper}
        for request in requests:  # the same rows, errors and counts, or no comparison
            a, b = (m(None).map(request) for m in mappers.values())
            assert a.rows.equals(b.rows), "the two revisions map to different rows"
            assert [(e.index, e.field, e.message) for e in a.errors] == [
                (e.index, e.field, e.message) for e in b.errors
            ]
            assert (a.spans, a.skipped, a.deployments) == (b.spans, b.skipped, b.deployments)
        per_round: dict[str, list[float]] = {"current": [], "baseline": []}
        for r in range(rounds):
            spent = dict.fromkeys(mappers, 0.0)
            for i, request in enumerate(requests):
                order = list(mappers) if (i + r) % 2 == 0 else list(reversed(mappers))
                for which in order:
                    started = time.process_time()
                    mappers[which](None).map(request)
                    spent[which] += time.process_time() - started
            for which, seconds in spent.items():
                per_round[which].append(1e6 * seconds / n)
    ratios = [c / b for c, b in zip(per_round["current"], per_round["baseline"], strict=True)]
    return {
        "spans": n,
        "batches": len(requests),
        "rounds": rounds,
        "baseline": {"revision": baseline, "commit": commit},
        "cpu_ms_per_1000_spans": {k: statistics.median(v) for k, v in per_round.items()},
        "cpu_ms_per_1000_spans_by_round": per_round,
        "ratio_by_round": ratios,
        "ratio": statistics.median(ratios),
        "same_rows": True,
        "load_average_before": load_before,
        "load_average": os.getloadavg(),
    }


if __name__ == "__main__":  # pragma: no cover - by hand
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("spans", nargs="?", type=int, default=30_000)
    parser.add_argument("--baseline", default="main")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(run(args.spans, args.baseline, args.rounds), indent=2))
