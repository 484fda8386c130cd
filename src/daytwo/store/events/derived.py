"""Derived tables: exact, incrementally maintained summaries of the raw events.

A derived table (a rollup) holds rows keyed by ``(deployment, day)`` that are a pure function
of the raw interactions of that day and of the ``lookback_days`` after it. Every write records
the days it touched, for every derived table the store knows, in the same transaction as the
raw rows; before a query reads a derived table, the store recomputes exactly those days from
the raw rows (delete, then insert). A derived table is therefore never stale when read and never
approximate: it is the same answer the raw query gives, only cheaper to read.

Upper layers (the metric catalog) declare their derived tables with :func:`register`; the store
creates them, builds them in full the first time or when their ``version`` changes, and keeps
them current afterwards.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

# Written by each write, read by each refresh: which (table, deployment, day) need recomputing.
CHANGED_DAYS = "derived_changed_days"
# One row per derived table the store has built, with the version it was built from.
STATE = "derived_state"
# The refresh statement reads the days to recompute from this temporary table.
REFRESH_DAYS = "_refresh_days"


@dataclass(frozen=True, slots=True)
class DerivedTable:
    """A rollup declared by an upper layer.

    ``columns`` is the column list of ``CREATE TABLE`` (it must include ``deployment VARCHAR``
    and ``day DATE``); ``select`` is a query in the portable dialect that returns those columns
    for every raw row whose ``(deployment, day)`` is in the temporary table ``_refresh_days``
    (columns ``deployment``, ``day``); ``lookback_days`` says how many later days a day's rows
    depend on (a 7-day repeat-contact window needs 7), so a write on day D also recomputes the
    days before it. ``depends`` names derived tables its ``select`` reads, refreshed first.
    ``raw_text`` marks a table that copies conversation text: retention recomputes it when it
    clears or deletes raw rows, so no copy outlives the original, while the aggregates of the
    other tables survive.
    """

    name: str
    columns: str
    select: str
    lookback_days: int = 0
    depends: tuple[str, ...] = ()
    raw_text: bool = False

    @property
    def version(self) -> str:
        text = f"{self.columns}\n{self.select}\n{self.lookback_days}\n{self.depends}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]


_REGISTRY: dict[str, DerivedTable] = {}


def register(table: DerivedTable) -> DerivedTable:
    """Declare a derived table; declaring the same name again replaces the definition."""
    _REGISTRY[table.name] = table
    return table


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def registered() -> list[DerivedTable]:
    return list(_REGISTRY.values())


def with_dependencies(table: DerivedTable) -> list[DerivedTable]:
    """``table`` and every registered table it reads, directly or not, each after the tables
    it reads: what must be refreshed together for ``table`` to be read."""
    by_name = {t.name: t for t in registered()}
    needed: dict[str, DerivedTable] = {}
    todo = [table]
    while todo:
        t = todo.pop()
        if t.name not in needed:
            needed[t.name] = t
            todo.extend(by_name[dep] for dep in t.depends if dep in by_name)
    return in_dependency_order(list(needed.values()))


def in_dependency_order(tables: list[DerivedTable]) -> list[DerivedTable]:
    """``tables`` ordered so that each comes after the tables it reads."""
    by_name = {t.name: t for t in tables}
    ordered: list[DerivedTable] = []

    def visit(table: DerivedTable) -> None:
        if table in ordered:
            return
        for dep in table.depends:
            if dep in by_name:
                visit(by_name[dep])
        ordered.append(table)

    for table in tables:
        visit(table)
    return ordered
