"""The one shape every detector reports in: a :class:`Finding`.

A finding says what was seen (``kind``), where (:class:`FindingScope`: deployment, journey,
segment, metric), how it compares with the baseline (two :class:`Measure` values with their
sample sizes), which conversations show it (evidence ids), what it is worth (:class:`Impact`
per week), how bad it is (:class:`Severity`) and when it was seen. Its :attr:`Finding.fingerprint`
names the *problem*, not the observation: the same problem seen by a later run has the same
fingerprint, so the ledger updates one finding instead of piling up copies.

Nothing here touches a database; the helpers take Arrow tables and return plain values.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# How many interaction ids a finding keeps as evidence.
EVIDENCE_SAMPLE = 20


class Severity(enum.IntEnum):
    """How urgent a finding is; ordered, so findings sort by it."""

    info = 0
    low = 1
    medium = 2
    high = 3
    critical = 4


@dataclass(frozen=True, slots=True)
class FindingScope:
    """Where a finding applies: always a deployment, optionally narrowed.

    ``segment`` is a ``(key, value)`` pair such as ``("site", "porto")`` or
    ``("channel", "chat")``; ``metric`` is a metric-catalog id where the finding is about one.
    """

    deployment: str
    journey: str | None = None
    segment: tuple[str, str] | None = None
    metric: str | None = None

    @property
    def level(self) -> str:
        """The narrowest level set: ``segment``, ``journey``, ``metric`` or ``deployment``."""
        if self.segment is not None:
            return "segment"
        if self.journey is not None:
            return "journey"
        if self.metric is not None:
            return "metric"
        return "deployment"

    def label(self) -> str:
        parts = [self.deployment]
        if self.journey:
            parts.append(f"journey={self.journey}")
        if self.segment:
            parts.append(f"{self.segment[0]}={self.segment[1]}")
        if self.metric:
            parts.append(f"metric={self.metric}")
        return " · ".join(parts)


@dataclass(frozen=True, slots=True)
class Measure:
    """A value with the sample it was computed on (``n``: interactions, turns or days)."""

    value: float | None
    n: int


@dataclass(frozen=True, slots=True)
class Impact:
    """How many were affected, per week of the current window."""

    interactions_per_week: float = 0.0
    customers_per_week: float = 0.0
    agents_per_week: float = 0.0


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem a detector saw.

    ``key`` holds what, beyond the scope, makes this problem distinct (an intent, a turn
    position, a validator name, a gap id); it goes into the fingerprint. ``details`` carries
    the detector's own numbers (test statistic, p-value, lift…) for people and the UI.
    ``first_seen`` is when the data first shows the problem (its onset), ``last_seen`` the
    latest time it was still visible.
    """

    detector: str
    kind: str
    title: str
    scope: FindingScope
    severity: Severity
    first_seen: datetime
    last_seen: datetime
    baseline: Measure | None = None
    current: Measure | None = None
    evidence: tuple[str, ...] = ()
    impact: Impact = field(default_factory=Impact)
    key: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)
    # Every interaction the problem covers (not only the evidence sample), where a detector
    # knows them: used within one run to tell which other findings this one explains, never
    # stored.
    members: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    @property
    def fingerprint(self) -> str:
        """A stable id of the problem: kind, scope and key, never the values or dates."""
        return fingerprint(self.kind, self.scope, self.key)


def fingerprint(kind: str, scope: FindingScope, key: Sequence[str] = ()) -> str:
    """The fingerprint of a problem of ``kind`` at ``scope`` (see :attr:`Finding.fingerprint`)."""
    seg = "=".join(scope.segment) if scope.segment else ""
    parts = [kind, scope.deployment, scope.journey or "", seg, scope.metric or "", *key]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:20]


def evidence_sample(
    ids: pa.Array | pa.ChunkedArray | Sequence[str], k: int = EVIDENCE_SAMPLE
) -> tuple[str, ...]:
    """Up to ``k`` interaction ids, spread evenly over ``ids`` (deterministic, no RNG).

    Callers pass ids in time order, so the sample spans the whole period of the problem.
    """
    values = ids.to_pylist() if isinstance(ids, pa.Array | pa.ChunkedArray) else list(ids)
    values = [v for v in values if v is not None]
    if len(values) <= k:
        return tuple(str(v) for v in values)
    picks = np.linspace(0, len(values) - 1, k).round().astype(int)
    return tuple(str(values[int(i)]) for i in picks)


def weekly_impact(rows: pa.Table, days: float) -> Impact:
    """Interactions and distinct customers / agents in ``rows``, per week of ``days`` days.

    ``rows`` has ``customer_ref`` and ``agent_ref`` columns (nulls are not counted).
    """
    if days <= 0 or rows.num_rows == 0:
        return Impact()
    per_week = 7.0 / days

    def distinct(column: str) -> int:
        if column not in rows.column_names:
            return 0
        return int(pc.count_distinct(rows[column], mode="only_valid").as_py())

    return Impact(
        interactions_per_week=round(rows.num_rows * per_week, 2),
        customers_per_week=round(distinct("customer_ref") * per_week, 2),
        agents_per_week=round(distinct("agent_ref") * per_week, 2),
    )
