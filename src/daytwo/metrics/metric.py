"""What a metric definition holds: one frozen :class:`Metric` per KPI, and the words its
fields are written in (groups, kinds, directions, sources)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from daytwo.store.ledger.kinds import DeploymentKind
from daytwo.units import Unit

Group = Literal["system", "conversation", "adoption", "business", "support", "satisfaction"]
Kind = Literal[
    "ratio", "mean", "quantile", "count", "sum", "distinct", "median", "score", "expression"
]
Direction = Literal["up", "down"]
Source = Literal["interactions", "turns"]

TARGETABLE_KINDS: tuple[Kind, ...] = ("ratio", "mean", "score", "quantile", "median")

GROUPS: tuple[Group, ...] = (
    "system",
    "conversation",
    "adoption",
    "business",
    "support",
    "satisfaction",
)


@dataclass(frozen=True, slots=True)
class Metric:
    """One registered KPI.

    ``kind`` decides how values, sample sizes and intervals are computed:

    - ``ratio``: ``numerator / denominator`` (both counts); Wilson interval, n = denominator;
    - ``mean``: mean of ``value`` over rows where it is not null; normal interval;
    - ``quantile`` / ``median``: exact quantile ``q`` of ``value``; n = values counted;
    - ``count``, ``sum``, ``distinct``: totals with no interval;
    - ``expression``: ``value`` is itself an aggregate expression; no interval;
    - ``score``: ``numerator / denominator`` on a signed scale (NPS, sentiment); no interval.

    Numerators, denominators, counts, sums and means are additive (the value of a slice follows
    from per-hour sums), so they are read from the exact hourly rollup where the slice allows;
    an ``expression`` is additive only when it names its ``parts`` (aggregates whose sums are
    additive) and a ``combine`` expression over them (``{part}`` stands for the part's sum).
    Quantiles and distinct counts are not additive and always read the raw rows.
    """

    id: str
    name: str
    definition: str
    formula: str
    unit: Unit
    good: Direction | None
    group: Group
    kind: Kind
    source: Source = "interactions"
    numerator: str | None = None
    denominator: str | None = None
    value: str | None = None
    q: float | None = None
    where: str | None = None
    needs: tuple[str, ...] = ()
    # Which conversations are "behind" the number (a predicate over interactions), for
    # drill-down from any value to the conversations; None means all in the slice.
    drill: str | None = None
    parts: tuple[tuple[str, str], ...] = ()
    combine: str | None = None
    # The kinds of deployment the metric means something for (an agent-assist tool contains
    # nothing; a virtual agent has no agents using suggestions). Pages show a metric only for
    # these kinds.
    kinds: tuple[str, ...] = tuple(k.value for k in DeploymentKind)

    def applies_to(self, kind: str | None) -> bool:
        """Whether the metric means something for a deployment of ``kind`` (unknown: yes)."""
        return kind is None or kind in self.kinds

    def __post_init__(self) -> None:
        if self.kind in ("ratio", "score") and not (self.numerator and self.denominator):
            raise ValueError(f"{self.id}: a {self.kind} needs numerator and denominator")
        if self.kind in ("mean", "quantile", "median", "sum", "distinct", "expression") and (
            not self.value
        ):
            raise ValueError(f"{self.id}: a {self.kind} needs a value expression")
        if self.kind == "quantile" and self.q is None:
            raise ValueError(f"{self.id}: a quantile needs q")
        if bool(self.parts) != bool(self.combine):
            raise ValueError(f"{self.id}: parts and combine go together")

    @property
    def targetable(self) -> bool:
        """Whether a target can be set on it: a rate, mean, score or quantile with a good
        direction. The SLO detector checks every target on such a metric; totals and counts
        (volumes, costs, distinct agents) have no target."""
        return self.good is not None and self.kind in TARGETABLE_KINDS

    @property
    def additive(self) -> bool:
        """Whether the value of a slice follows from sums over its hours (see above)."""
        if self.kind == "expression":
            return bool(self.parts)
        return self.kind in ("ratio", "score", "mean", "count", "sum")
