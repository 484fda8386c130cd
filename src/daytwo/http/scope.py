"""What a page looks at, read from and written back to the URL.

Deployment, date range and filters live in the query string, so a link reproduces a view for a
colleague and every drill-down keeps them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from urllib.parse import urlencode

from starlette.datastructures import QueryParams
from starlette.requests import Request

from daytwo.errors import InputError
from daytwo.interactions.slice import FIRST_DAY, LAST_DAY, Slice

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
    # A filter in the URL that could not be used, said beside the form (the page shows what
    # it could instead: a bad filter is never an error page).
    problem: str | None = None

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
        day = date.fromisoformat(value[:10])
    except ValueError:
        raise InputError(
            f"{name} must be a date like 2026-03-01, not {value!r}; left out."
        ) from None
    # A page's range runs to the midnight after its end day, which must be a day too.
    require_queryable_day(day, name, value, last=LAST_DAY - timedelta(days=1), tail="; left out")
    return day


def require_queryable_day(
    day: date, name: str, value: str, *, last: date = LAST_DAY, tail: str = ""
) -> None:
    """A day every events engine can query (:data:`FIRST_DAY` to ``last``), or a clear error
    naming the parameter and what it was given (``tail`` ends the message, before its stop).
    The one range check of the pages' and the read APIs' dates."""
    if not FIRST_DAY <= day <= last:
        raise InputError(
            f"{name} must fall between {FIRST_DAY.isoformat()} and {last.isoformat()}, "
            f"not {value!r}{tail}."
        )


# How the app orders deployments by urgency, set when it is assembled (the backlog knows; the
# pages only ask): ``urgency(ledger, names) -> names, most urgent first``.
Urgency = Callable[[Any, list[str]], list[str]]


def most_urgent(request: Request, deployments: Sequence[ListedDeployment]) -> str | None:
    """The deployment a page should open on when the URL names none: the one with the most
    urgent open problem (see ``backlog.service.urgency_order``)."""
    rank: Urgency | None = getattr(request.app.state, "urgency", None)
    names = [d.name for d in deployments if d.interactions]
    if rank is None or not names:
        return None
    ordered = rank(request.app.state.ledger, names)
    return ordered[0] if ordered else None


def page_scope(
    request: Request, deployments: Sequence[ListedDeployment], params: QueryParams | None = None
) -> Scope | None:
    """The scope of a page: the URL's (``params``, default the request's query), opening on
    the deployment with the most urgent problem when the URL names none."""
    params = request.query_params if params is None else params
    default = None if params.get("deployment") else most_urgent(request, deployments)
    return parse_scope(params, deployments, default=default)


def parse_scope(
    params: QueryParams, deployments: Sequence[ListedDeployment], *, default: str | None = None
) -> Scope | None:
    """The scope in the URL, with defaults: ``default`` (else the first deployment with data),
    its last 28 days of data.

    A filter that cannot be used (an unknown deployment, a date that is not one, a start after
    the end, a malformed segment) does not fail the page: the scope falls back to the default
    for that part and says why in :attr:`Scope.problem`, which the scope bar shows beside the
    form."""
    if not deployments:
        return None
    names = {d.name: d for d in deployments}
    fallback = default if default in names else None
    fallback = fallback or next((d.name for d in deployments if d.interactions), None)
    fallback = fallback or deployments[0].name
    problems: list[str] = []
    name = params.get("deployment") or fallback
    if name not in names:
        problems.append(f"There is no deployment {name!r} you may see; showing {fallback}.")
        name = fallback
    dep = names[name]
    last = dep.last_started_at.date() if dep.last_started_at else datetime.now(UTC).date()
    end, start = None, None
    try:
        end = parse_date(params.get("end"), "The end")
    except InputError as exc:
        problems.append(exc.message)
    try:
        start = parse_date(params.get("start"), "The start")
    except InputError as exc:
        problems.append(exc.message)
    end = end or last
    start = start or max(end - timedelta(days=DEFAULT_DAYS - 1), FIRST_DAY)
    if start > end:
        problems.append(
            f"The start ({start}) is after the end ({end}): showing the {DEFAULT_DAYS} days "
            f"up to {end} instead."
        )
        start = end - timedelta(days=DEFAULT_DAYS - 1)
    filters: list[tuple[str, tuple[str, ...]]] = []
    for dim in FILTER_DIMS:
        values = tuple(v for v in params.getlist(dim) if v)
        if values:
            filters.append((dim, values))
    for raw in params.getlist("segment"):
        if not raw:
            continue
        key, sep, value = raw.partition(":")
        if not sep or not key or not value:
            problems.append(f"A segment filter looks like site:leeds, not {raw!r}; left out.")
            continue
        filters.append((key, (value,)))
    return Scope(name, start, end, tuple(filters), " ".join(problems) or None)
