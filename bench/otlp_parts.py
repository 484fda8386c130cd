"""CPU per 1,000 spans of each part of the OTLP door, in one process, without HTTP.

The same batches as ``python -m bench otlp`` (512 realistic GenAI spans, protobuf), each part
timed by the CPU clock of this process (``time.process_time``), so a loaded machine changes
the figures less than a wall clock's: the worker's parts (decompress and parse, map, check and
redact, the answer sent back: the rows as Arrow IPC, pickled as the process pool does), and the
server's (read the answer back, the redaction plan from the ledger, staging in the events store
with the request's audit count, folding the counts into the ledger's audit log (older code: an
audit entry per request), and writing the
conversations staged so far every 12 requests, as the assembler does once they are quiet).

Run ``python -m bench.otlp_parts [SPANS] [--profile]``; ``--profile`` prints a cProfile of the
worker's parts, heaviest first. ``PYTHONPATH=<another revision's src>`` times that revision's
code on the same batches, for a back-to-back comparison under the same load.
"""

from __future__ import annotations

import cProfile
import json
import os
import pickle
import pstats
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa


def _to_ipc(rows: pa.Table) -> bytes:
    """As the workers send rows back (inline, so that ``PYTHONPATH=<older src>`` runs too)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, rows.schema) as writer:
        writer.write_table(rows)
    out: bytes = sink.getvalue().to_pybytes()
    return out


def _answer(prepared: Any, prepared_type: Any) -> Any:
    """What a worker sends back, as the code under test makes it (older code: the rows as
    IPC and a ``Prepared`` with an empty table)."""
    try:
        from daytwo.ingest.otlp.workers import answer
    except ImportError:
        empty = prepared.rows.schema.empty_table()
        return _to_ipc(prepared.rows), prepared_type(empty, prepared.deployments, prepared.received)
    return answer(prepared)


def _read_answer(answer: Any) -> tuple[bytes, Any, Any]:
    """The IPC bytes, deployments and counts of either form of answer."""
    if len(answer) == 2:
        ipc, prepared = answer
        return ipc, prepared.deployments, prepared.received
    ipc, deployments, received = answer
    return ipc, deployments, received


class _Clock:
    """CPU seconds of this process between marks, added up by name."""

    def __init__(self, parts: dict[str, list[float]]) -> None:
        self.parts = parts
        self.t = time.process_time()

    def mark(self, name: str) -> None:
        now = time.process_time()
        self.parts.setdefault(name, []).append(now - self.t)
        self.t = now


def _plans(ledger: Any, settings: Any) -> Any:
    """The redaction plan of the moment: kept between requests, as the door does; older code
    reads it every time."""
    try:
        from daytwo.governance.policies import RedactionPlans
    except ImportError:
        from daytwo.governance.policies import redaction_plan

        return lambda: redaction_plan(ledger, settings.pseudonym_key())
    return RedactionPlans(ledger, settings.pseudonym_key()).current


def _assemble_staged(events: Any) -> int:
    """Write every conversation staged so far, as an assembler tick does once they are quiet
    (``idle`` and ``settle`` 0)."""
    from daytwo.ingest.otlp.assemble import TraceRules, assemble_ended

    written = 0
    while True:
        done = assemble_ended(
            events,
            now=datetime.now(UTC) + timedelta(seconds=1),
            idle=timedelta(0),
            settle=timedelta(0),
            rules=TraceRules(),
        )
        written += done.conversations
        if done.conversations == 0:
            return written


def run(work: Path, spans: int, *, profile: bool = False, repeat: int = 3) -> dict[str, Any]:
    from bench.otlp import _count_spans, make_batches
    from daytwo.governance import audit
    from daytwo.ingest.otlp.decode import PROTOBUF, decompress, parse_request
    from daytwo.ingest.otlp.receive import Prepared, prepare, stage_prepared
    from daytwo.ingest.otlp.spans import SpanMapper
    from daytwo.settings import Settings
    from daytwo.store.events import open_event_store
    from daytwo.store.ledger import Ledger, upgrade

    load_before = os.getloadavg()
    batches = make_batches(spans)
    n = sum(_count_spans(b) for b in batches)
    per_run: list[dict[str, float]] = []
    # The assembler writes the conversations that ended every second: about 12 requests of
    # 512 spans at 6,000 spans/s (the end-to-end bench ends a conversation as soon as it is
    # quiet, so one that goes on is written again with its later spans, as there).
    assemble_every = 12
    # The assembler folds every 2 s, about 40 requests of 512 spans at 10,000 spans/s; and
    # at the end of each run, so that each run's figures hold its counts' fold.
    folds_every = 40
    profiler = cProfile.Profile() if profile else None
    for run_no in range(repeat):
        # Each run on fresh stores, so that each writes the same conversations anew.
        settings = Settings(data_dir=work / f"data-{run_no}")
        upgrade(settings.resolved_ledger_url)
        ledger = Ledger(settings.resolved_ledger_url)
        events = open_event_store(settings.resolved_events_url)
        current_plan = _plans(ledger, settings)
        counted: Any = None
        if getattr(events, "stages_audit", False):  # older code audits through the ledger
            from daytwo.store.events.base import AuditCount

            counted = AuditCount("bench", "http.post", "/v1/traces", None, None, 200, "/v1/traces")
        parts: dict[str, list[float]] = {}
        try:
            for done, body in enumerate(batches, start=1):
                clock = _Clock(parts)
                plan = current_plan()
                clock.mark("server: redaction plan")
                if profiler is not None:
                    profiler.enable()
                request = parse_request(decompress(body, None, 1 << 30), PROTOBUF)
                clock.mark("worker: parse")
                mapped = SpanMapper(None).map(request)
                clock.mark("worker: map")
                prepared = prepare(mapped, plan)
                clock.mark("worker: check+redact")
                if profiler is not None:
                    profiler.disable()
                # What the process pool carries back: the worker's answer, pickled.
                sent = pickle.dumps(_answer(prepared, Prepared), pickle.HIGHEST_PROTOCOL)
                clock.mark("worker: answer (rows as Arrow IPC, pickled)")
                ipc, deployments, received = _read_answer(pickle.loads(sent))
                rows = pa.ipc.open_stream(ipc).read_all()
                back = Prepared(rows, deployments, received)
                clock.mark("server: answer read (unpickled, rows from IPC)")
                last = done == len(batches)
                if counted is not None:  # the audit count in the staging transaction
                    stage_prepared(events, back, received_at=datetime.now(UTC), audit=counted)
                    clock.mark("server: stage")
                    if done % folds_every == 0 or last:
                        audit.fold_staged_audit(ledger, events)
                    clock.mark("server: audit (count staged with the rows, folded)")
                else:
                    stage_prepared(events, back, received_at=datetime.now(UTC))
                    clock.mark("server: stage")
                    with ledger.session() as session:
                        audit.record(
                            session,
                            actor="bench",
                            action="http.post",
                            target="/v1/traces",
                            after={"status": 200, "path": "/v1/traces"},
                        )
                    clock.mark("server: audit entry (one per request)")
                if done % assemble_every == 0 or last:
                    _assemble_staged(events)
                    clock.mark("server: assemble ended conversations")
        finally:
            events.close()
            ledger.dispose()
        per_run.append({k: 1e6 * sum(v) / n for k, v in parts.items()})
    if profiler is not None:
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(35)
    med = {k: statistics.median(r[k] for r in per_run) for k in per_run[0]}
    return {
        "spans": n,
        "batches": len(batches),
        "repeat": repeat,
        "cpu_ms_per_1000_spans": med,
        "worker_total": sum(v for k, v in med.items() if k.startswith("worker")),
        "server_total": sum(v for k, v in med.items() if k.startswith("server")),
        "load_average_before": load_before,
        "load_average": os.getloadavg(),
    }


if __name__ == "__main__":  # pragma: no cover - by hand
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    with tempfile.TemporaryDirectory(prefix="daytwo-otlp-parts-") as tmp:
        out = run(Path(tmp), int(args[0]) if args else 10_240, profile="--profile" in sys.argv)
    print(json.dumps(out, indent=2))
