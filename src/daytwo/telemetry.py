"""Prometheus metrics about daytwo itself (served at ``/metrics``; see ``docs/operations.md``).

Names follow Prometheus conventions, so Grafana's defaults apply: a ``daytwo_`` prefix, base
units in the name (``_seconds``, ``_bytes``), ``_total`` on counters (added by the client), and
low-cardinality labels (a route template, never a raw path; a door, a table, a deployment).

Two kinds of metrics:

- **events**, counted where they happen, in this process: HTTP requests and their latency by
  route, records accepted and rejected by each ingest door, spans received on ``/v1/traces``,
  analysis runs and their durations. They live in :data:`TELEMETRY` (one per process, as
  Prometheus clients are; several processes are scraped one by one).
- **state**, read when scraped: store sizes, staged turns of open traced conversations. An app
  registers its readers with :meth:`Telemetry.state_registry`; a domain that has state worth
  watching (the notifications outbox: depth, deliveries, failures) adds a reader the same way,
  through :func:`add_state_reader`, without touching the server.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
ANALYSIS_BUCKETS = (0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)


class SpanCounts(Protocol):
    @property
    def accepted(self) -> int: ...
    @property
    def rejected(self) -> int: ...
    @property
    def skipped(self) -> int: ...
    @property
    def turns(self) -> int: ...


# A state reader returns the metric families it knows now; it gets the app's state object.
StateReader = Callable[[Any], Iterable[Metric]]
_STATE_READERS: list[StateReader] = []


def add_state_reader(reader: StateReader) -> StateReader:
    """Register a reader of state-type metrics (called at each scrape with ``app.state``)."""
    if reader not in _STATE_READERS:
        _STATE_READERS.append(reader)
    return reader


def gauge(name: str, documentation: str, labels: Iterable[str] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=list(labels))


class Telemetry:
    """The event-type metrics of this process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter(
            "daytwo_http_requests",
            "HTTP requests answered, by route template, method and status code.",
            ["route", "method", "status"],
            registry=r,
        )
        self.http_latency = Histogram(
            "daytwo_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template and method.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ingest_records = Counter(
            "daytwo_ingest_records",
            "Records received by the ingest doors (api, file, otlp, demo), by result "
            "(accepted, rejected). For otlp a record is a span.",
            ["door", "result"],
            registry=r,
        )
        self.otlp_spans_total = Counter(
            "daytwo_otlp_spans",
            "Spans received on /v1/traces, by result: accepted (staged), skipped (accepted, "
            "of no GenAI meaning), rejected.",
            ["result"],
            registry=r,
        )
        self.otlp_turns = Counter(
            "daytwo_otlp_turns_staged", "Turns staged from received spans.", registry=r
        )
        self.otlp_conversations = Counter(
            "daytwo_otlp_conversations_written",
            "Traced conversations written once they ended (late spans write one again).",
            registry=r,
        )
        self.analysis = Histogram(
            "daytwo_analysis_duration_seconds",
            "Duration of analysis runs, by kind (detect, gaps) and result (ok, error).",
            ["kind", "result"],
            buckets=ANALYSIS_BUCKETS,
            registry=r,
        )

    def count_ingest(self, door: str, *, accepted: int, rejected: int) -> None:
        if accepted:
            self.ingest_records.labels(door, "accepted").inc(accepted)
        if rejected:
            self.ingest_records.labels(door, "rejected").inc(rejected)

    def otlp_spans(self, counts: SpanCounts) -> None:
        staged = counts.accepted - counts.skipped
        for result, n in (
            ("accepted", staged),
            ("skipped", counts.skipped),
            ("rejected", counts.rejected),
        ):
            if n:
                self.otlp_spans_total.labels(result).inc(n)
        self.otlp_turns.inc(counts.turns)

    @contextmanager
    def time_analysis(self, kind: str) -> Iterator[None]:
        started = time.perf_counter()
        result = "error"
        try:
            yield
            result = "ok"
        finally:
            self.analysis.labels(kind, result).observe(time.perf_counter() - started)

    def state_registry(self, state: Any) -> CollectorRegistry:
        """A registry of the state-type metrics of one app (``state`` is ``app.state``)."""
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_StateCollector(state))
        return registry


class _StateCollector(Collector):
    def __init__(self, state: Any) -> None:
        self.state = state

    def collect(self) -> Iterable[Metric]:
        for reader in list(_STATE_READERS):
            yield from reader(self.state)


TELEMETRY = Telemetry()
