"""What a page looks at, read from and written back to the URL.

Deployment, date range and filters live in the query string, so a link reproduces a view for a
colleague and every drill-down keeps them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

from daytwo.errors import InputError
from daytwo.interactions.slice import Slice

DEFAULT_DAYS = 28
FILTER_DIMS = ("journey", "channel", "outcome")


class ListedDeployment(Protocol):
    """What the scope reads of a listed deployment (a deployment overview)."""

    @property
    def name(self) -> str: ...
    @property
    def interactions(self) -> int: ...
    @property
    def last_started_at(self) -> datetime | None: ...


@dataclass(frozen=True, slots=True)
class Scope:
    deployment: str
    start: date
    end: date  # inclusive, as people read date ranges
    filters: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())

    @property
    def start_at(self) -> datetime:
        return datetime.combine(self.start, time(), tzinfo=UTC)

    @property
    def end_at(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), time(), tzinfo=UTC)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def slice(self) -> Slice:
        return Slice(self.deployment, self.start_at, self.end_at, filters=self.filters)

    def params(self, **extra: str | None) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = [
            ("deployment", self.deployment),
            ("start", self.start.isoformat()),
            ("end", self.end.isoformat()),
        ]
        for dim, values in self.filters:
            for v in values:
                if dim in FILTER_DIMS:
                    out.append((dim, v))
                else:
                    out.append(("segment", f"{dim}:{v}"))
        out.extend((k, v) for k, v in extra.items() if v is not None)
        return out

    def url(self, path: str, **extra: str | None) -> str:
        return f"{path}?{urlencode(self.params(**extra))}"

    def with_filter(self, dim: str, value: str | None) -> Scope:
        rest = tuple((d, v) for d, v in self.filters if d != dim)
        if value is None:
            return Scope(self.deployment, self.start, self.end, rest)
        return Scope(self.deployment, self.start, self.end, (*rest, (dim, (value,))))

    def filter_value(self, dim: str) -> str | None:
        for d, values in self.filters:
            if d == dim and values:
                return values[0]
        return None


def parse_date(value: str | None, name: str) -> date | None:
    """A query parameter's date (its first ten characters), None when absent; a clear error
    naming the parameter when it is not one."""
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise InputError(f"{name} must be a date like 2026-03-01, not {value!r}.") from None


def parse_scope(params: QueryParams, deployments: Sequence[ListedDeployment]) -> Scope | None:
    """The scope in the URL, with defaults: the first deployment, its last 28 days of data."""
    if not deployments:
        return None
    names = {d.name: d for d in deployments}
    name = params.get("deployment") or next(
        (d.name for d in deployments if d.interactions), deployments[0].name
    )
    if name not in names:
        raise InputError(f"Unknown deployment {name!r}.")
    dep = names[name]
    last = dep.last_started_at.date() if dep.last_started_at else datetime.now(UTC).date()
    end = parse_date(params.get("end"), "end") or last
    start = parse_date(params.get("start"), "start") or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise InputError("The start date is after the end date.")
    filters: list[tuple[str, tuple[str, ...]]] = []
    for dim in FILTER_DIMS:
        values = tuple(v for v in params.getlist(dim) if v)
        if values:
            filters.append((dim, values))
    for raw in params.getlist("segment"):
        key, sep, value = raw.partition(":")
        if not sep or not key or not value:
            raise InputError(f"segment filters look like site:leeds, not {raw!r}.")
        filters.append((key, (value,)))
    return Scope(name, start, end, tuple(filters))
