"""The change registry, and each change's measured impact against a control.

A change names the journeys it touched, or the one segment it touched (a training for a team,
a config for a site: ``{"team": ["leeds-3"]}``); its impact compares its metric there and in a
control (named journeys or values of the same segment key, or by default every other one that
no other change touched in the same windows), in equal windows before and after it shipped, as
a difference in differences with a day-block bootstrap interval
(:mod:`daytwo.backlog.impact_calc`).

Scopes nest (a team sits inside a site), so a default control also leaves out what another
change or known *disturbance* in the same windows reached through another segment key: the
conversations are split into cells by the unit and by every key a disturbance names, and a cell
is kept only when it shares the changed group's exposure to each disturbance. A team-scoped
training keeps no team of a site whose suggestion service moved; a site-scoped change keeps
its control sites without the one team a training reached; a team inside a changed site is
compared with the other teams of that site. What was left out is listed with the impact.

Domains above the backlog know of more that moves a metric in part of a deployment (a champion
who started in a team lifts its use over their first weeks); they contribute it through the
pipeline's ``change_disturbances`` hook (:mod:`daytwo.pipeline.disturbances`), and every
measured verdict leaves it out of a default control the same way, listed with the reason.

The verdict moves the items the change was meant to fix: improved verifies them, regressed
reopens them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from daytwo.backlog import history
from daytwo.backlog.impact_calc import Window, did, verdict
from daytwo.backlog.models import Change, ChangeItem, Item
from daytwo.backlog.owners import registered_deployment
from daytwo.backlog.policy import BacklogPolicy
from daytwo.backlog.schemas import ChangeCreate, ChangePublic, ImpactPublic
from daytwo.backlog.service import get_row, now_utc, transition
from daytwo.clock import aware
from daytwo.errors import InputError, NotFoundError
from daytwo.governance.policies import redact_text
from daytwo.http.marks import ChangeMark
from daytwo.metrics.catalog import Metric, get_metric
from daytwo.metrics.query import Slice, build_queries, dimension_name
from daytwo.pipeline.disturbances import Disturbance, contributed
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger

MIN_AFTER_DAYS = 7
MEASURABLE_KINDS = ("ratio", "mean")


def known_journeys(session: Session, events: EventStore, deployment: str) -> set[str]:
    """Journeys the deployment declares or the data shows."""
    dep = registered_deployment(session, deployment)
    seen = events.query(
        "SELECT DISTINCT journey AS j FROM interactions WHERE deployment = ? "
        "AND journey IS NOT NULL",
        [deployment],
    )["j"].to_pylist()
    return set(dep.journeys) | {str(j) for j in seen}


def known_values(events: EventStore, deployment: str, key: str) -> set[str]:
    """The values of segment ``key`` the deployment's conversations carry."""
    seen = events.query(
        "SELECT DISTINCT segments[?] AS v FROM interactions WHERE deployment = ?",
        [key, deployment],
    )["v"].to_pylist()
    return {str(v) for v in seen if v is not None}


def _measurable(metric_id: str) -> Metric:
    metric = get_metric(metric_id)
    if metric.kind not in MEASURABLE_KINDS:
        raise InputError(
            f"Impact is measured on rates and means; {metric_id!r} is a {metric.kind}."
        )
    return metric


def _public(session: Session, row: Change) -> ChangePublic:
    items = session.scalars(
        select(ChangeItem.item_id)
        .where(ChangeItem.change_id == row.id)
        .order_by(ChangeItem.item_id)
    ).all()
    return ChangePublic(
        id=row.id,
        deployment=row.deployment,
        kind=row.kind,
        title=row.title,
        rationale=row.rationale,
        author=row.author,
        shipped_at=aware(row.shipped_at),
        journeys=list(row.journeys),
        control_journeys=list(row.control_journeys),
        segments={k: list(v) for k, v in (row.segments or {}).items()},
        control_segments={k: list(v) for k, v in (row.control_segments or {}).items()},
        metric=row.metric,
        window_days=row.window_days,
        verdict=row.verdict,
        impact=ImpactPublic.model_validate(row.impact) if row.impact else None,
        measured_at=aware(row.measured_at) if row.measured_at else None,
        recorded_by=row.recorded_by,
        items=list(items),
    )


def record_change(
    ledger: Ledger,
    events: EventStore,
    spec: ChangeCreate,
    policy: BacklogPolicy,
    *,
    actor: str,
) -> ChangePublic:
    """Store a shipped change; items it fixes move to ``fix_shipped``. Nothing is stored when
    its scope, control, metric or items do not exist."""
    if spec.shipped_at.tzinfo is None:
        raise InputError("shipped_at needs a time zone (e.g. 2026-03-01T09:00:00Z).")
    _measurable(spec.metric)
    overlap = set(spec.journeys) & set(spec.control_journeys)
    if overlap:
        raise InputError(f"A journey cannot be both changed and control: {sorted(overlap)}.")
    with ledger.session() as session:
        known = known_journeys(session, events, spec.deployment)
        for field, names in (
            ("journeys", spec.journeys),
            ("control_journeys", spec.control_journeys),
        ):
            unknown = sorted(set(names) - known)
            if unknown:
                raise InputError(
                    f"{field}: {spec.deployment!r} has no journey {', '.join(map(repr, unknown))}."
                )
        for key, values in {**spec.segments, **spec.control_segments}.items():
            unknown = sorted(set(values) - known_values(events, spec.deployment, key))
            if unknown:
                raise InputError(
                    f"segments: {spec.deployment!r} has no {key} "
                    f"{', '.join(map(repr, unknown))} in its conversations."
                )
        items = [get_row(session, i) for i in dict.fromkeys(spec.items)]
        for item in items:
            if item.deployment != spec.deployment:
                raise InputError(f"Item {item.id} belongs to {item.deployment!r}, not this change.")
        row = Change(
            deployment=spec.deployment,
            kind=spec.kind,
            title=redact_text(session, spec.deployment, spec.title),
            rationale=redact_text(session, spec.deployment, spec.rationale),
            author=spec.author,
            shipped_at=spec.shipped_at.astimezone(UTC),
            journeys=list(dict.fromkeys(spec.journeys)),
            control_journeys=list(dict.fromkeys(spec.control_journeys)),
            segments={k: list(dict.fromkeys(v)) for k, v in spec.segments.items()},
            control_segments={k: list(dict.fromkeys(v)) for k, v in spec.control_segments.items()},
            metric=spec.metric,
            window_days=spec.window_days or policy.impact_window_days,
            verdict="pending",
            impact={},
            recorded_by=actor,
        )
        session.add(row)
        session.flush()
        history.record(session, "change", row.id, actor, "recorded", after=row.kind)
        for item in items:
            session.add(ChangeItem(change_id=row.id, item_id=item.id))
            history.record(session, "item", item.id, actor, "change linked", after=str(row.id))
            _ship(session, item, row, policy, actor=actor)
        session.flush()
        return _public(session, row)


def _ship(
    session: Session, item: Item, change: Change, policy: BacklogPolicy, *, actor: str
) -> None:
    """Walk an open item to ``fix_shipped`` through the workflow, each step recorded."""
    path = {
        "new": ("triaged", "in_progress", "fix_shipped"),
        "triaged": ("in_progress", "fix_shipped"),
        "reopened": ("in_progress", "fix_shipped"),
        "in_progress": ("fix_shipped",),
    }.get(item.status, ())
    for step in path:
        transition(session, item, step, policy, actor=actor, reason=f"change {change.id} shipped")


def link_items(
    ledger: Ledger, change_id: int, item_ids: list[int], policy: BacklogPolicy, *, actor: str
) -> ChangePublic:
    with ledger.session() as session:
        row = _row(session, change_id)
        have = set(
            session.scalars(select(ChangeItem.item_id).where(ChangeItem.change_id == change_id))
        )
        for item_id in dict.fromkeys(item_ids):
            item = get_row(session, item_id)
            if item.deployment != row.deployment:
                raise InputError(
                    f"Change {row.id} belongs to {row.deployment!r} and item {item.id} to "
                    f"{item.deployment!r}: a change can only fix items of its own deployment; "
                    "nothing was linked."
                )
            if item_id in have:
                continue
            session.add(ChangeItem(change_id=row.id, item_id=item.id))
            history.record(session, "item", item.id, actor, "change linked", after=str(row.id))
            _ship(session, item, row, policy, actor=actor)
        session.flush()
        return _public(session, row)


def _row(session: Session, change_id: int) -> Change:
    row = session.get(Change, change_id)
    if row is None:
        raise NotFoundError(f"No change {change_id}.")
    return row


def list_changes(ledger: Ledger, deployment: str | None = None) -> list[ChangePublic]:
    with ledger.session() as session:
        query = select(Change)
        if deployment:
            query = query.where(Change.deployment == deployment)
        rows = session.scalars(query.order_by(Change.shipped_at.desc(), Change.id.desc())).all()
        return [_public(session, r) for r in rows]


def get_change(ledger: Ledger, change_id: int) -> ChangePublic:
    with ledger.session() as session:
        return _public(session, _row(session, change_id))


def _midnight(ts: datetime) -> datetime:
    return datetime.combine(ts.astimezone(UTC).date(), time(), tzinfo=UTC)


def _daily(
    events: EventStore,
    metric: Metric,
    deployment: str,
    start: datetime,
    end: datetime,
    dims: tuple[str, ...] = ("journey",),
    journeys: tuple[str, ...] = (),
) -> dict[tuple[datetime, tuple[str | None, ...]], tuple[float, float]]:
    """(day, values of ``dims``) -> (numerator, denominator) of ``metric``; rows without the
    first dimension are left out; a segment dimension (``segment.team``) counts only
    ``journeys`` where given."""
    filters = (("journey", journeys),) if journeys else ()
    s = Slice(deployment, start, end, bucket="day", group_by=dims, filters=filters)
    names = [dimension_name(d) for d in dims]
    out: dict[tuple[datetime, tuple[str | None, ...]], tuple[float, float]] = {}
    p = metric.id
    for q in build_queries([metric], s):
        for row in events.query(q.sql, q.params).to_pylist():
            if row[names[0]] is None or row["bucket"] is None:
                continue
            if metric.kind == "ratio":
                num, den = row.get(f"{p}__num"), row.get(f"{p}__den")
            else:
                val, n = row.get(f"{p}__val"), row.get(f"{p}__n")
                num, den = (float(val) * float(n), n) if val is not None and n else (0.0, 0)
            day = row["bucket"]
            day = aware(day)
            cell = tuple(None if row[n] is None else str(row[n]) for n in names)
            out[(day, cell)] = (float(num or 0), float(den or 0))
    return out


def _disturbances(
    session: Session, row: Change, start: datetime, end: datetime, extra: Sequence[Disturbance]
) -> list[Disturbance]:
    """The segment-scoped changes and the ``extra`` disturbances that meet ``[start, end)``."""
    found = [
        Disturbance(
            label=f"change {o.id} ({o.kind}: {o.title})",
            key=k,
            values=frozenset(v),
            start=aware(o.shipped_at),
            end=aware(o.shipped_at),
        )
        for o in _others(session, row, start, end)
        for k, v in (o.segments or {}).items()
    ]
    return found + [d for d in extra if d.start < end and d.end >= start]


def _keep_cells(
    daily: dict[tuple[datetime, tuple[str | None, ...]], tuple[float, float]],
    dims: tuple[str, ...],
    treated: set[str],
    disturbances: list[Disturbance],
) -> tuple[dict[tuple[datetime, str], tuple[float, float]], list[str]]:
    """Pool the cells that share the treated group's exposure to every disturbance into
    (day, unit) -> (numerator, denominator), and say what was left out and why.

    A cell is inside a disturbance when its value of the disturbance's key is one it reached.
    The treated group's exposure is *inside* when all of its cells are (it is nested in the
    disturbance: compare within it), else *outside* (treated cells inside it are left out too,
    so that both sides stand outside it)."""
    where = {d: i for i, d in enumerate(dims)}

    def inside(cell: tuple[str | None, ...], d: Disturbance) -> bool:
        return cell[where[f"segment.{d.key}"]] in d.values

    treated_cells = {cell for (_, cell) in daily if cell[0] in treated}
    exposure = [
        bool(treated_cells) and all(inside(c, d) for c in treated_cells) for d in disturbances
    ]
    pooled: dict[tuple[datetime, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    dropped: dict[str, set[str]] = defaultdict(set)
    for (day, cell), (num, den) in daily.items():
        unit = str(cell[0])
        misfit = [d for d, e in zip(disturbances, exposure, strict=True) if inside(cell, d) != e]
        if misfit:
            for d in misfit:
                dropped[d.label].add(unit)
            continue
        acc = pooled[(day, unit)]
        acc[0] += num
        acc[1] += den
    notes = []
    for d, e in zip(disturbances, exposure, strict=True):
        if d.label in dropped:
            reached = ", ".join(f"{d.key}={v}" for v in sorted(d.values))
            side = "outside" if e else "inside"
            notes.append(
                f"{', '.join(sorted(dropped[d.label]))}: the conversations {side} {reached}, "
                f"the scope {d.label} reached"
            )
    return {k: (v[0], v[1]) for k, v in pooled.items()}, notes


def _pool(
    daily: dict[tuple[datetime, str], tuple[float, float]], day: datetime, journeys: list[str]
) -> tuple[float, float]:
    num = den = 0.0
    for j in journeys:
        n, d = daily.get((day, j), (0.0, 0.0))
        num += n
        den += d
    return num, den


def _others(session: Session, row: Change, start: datetime, end: datetime) -> list[Change]:
    """The deployment's other changes shipped in ``[start, end)``."""
    return list(
        session.scalars(
            select(Change).where(
                Change.deployment == row.deployment,
                Change.id != row.id,
                Change.shipped_at >= start,
                Change.shipped_at < end,
            )
        ).all()
    )


def _controls(
    session: Session, row: Change, all_journeys: set[str], start: datetime, end: datetime
) -> list[str]:
    if row.control_journeys:
        return list(row.control_journeys)
    touched = set(row.journeys)
    for other in _others(session, row, start, end):
        if other.segments:
            continue  # reached part of the journeys: its cells are left out (_keep_cells)
        touched |= set(other.journeys) if other.journeys else all_journeys
    return sorted(all_journeys - touched)


def _segment_controls(row: Change, key: str, values: set[str]) -> list[str]:
    """The values of ``key`` to compare a segment-scoped change with: the named ones, else
    every other value with data left (see :func:`_keep_cells`)."""
    if row.control_segments:
        return list(row.control_segments.get(key, []))
    return sorted(values - set(row.segments.get(key, [])))


def assess(
    session: Session,
    events: EventStore,
    row: Change,
    policy: BacklogPolicy,
    disturbances: Sequence[Disturbance] = (),
) -> ImpactPublic:
    """The impact of one change on its metric, from the events (no writes). Default controls
    leave out what other segment-scoped changes and ``disturbances`` reached in the windows."""
    metric = _measurable(row.metric)
    shipped = aware(row.shipped_at)
    day0 = _midnight(shipped)
    day1 = day0 if shipped == day0 else day0 + timedelta(days=1)
    w = timedelta(days=row.window_days)
    before_start, after_end = day0 - w, day1 + w
    latest = events.query(
        "SELECT max(started_at) AS m FROM interactions WHERE deployment = ?", [row.deployment]
    )["m"][0].as_py()
    key = next(iter(row.segments or {}), None)
    treated = list(row.segments[key]) if key else list(row.journeys)
    base: dict[str, Any] = {
        "metric": row.metric,
        "treated": [f"{key}={v}" for v in treated] if key else treated,
    }
    if not treated:
        return ImpactPublic(
            **base, verdict="inconclusive",
            reason="The change touched the whole deployment: there is no journey left to "
            "serve as control. Record the journeys it touched to measure it.",
        )  # fmt: skip
    if latest is None:
        return ImpactPublic(**base, verdict="pending", reason="No data for this deployment yet.")
    data_end = min(after_end, _midnight(latest))  # only whole days
    after_days = (data_end - day1).days
    if after_days < min(MIN_AFTER_DAYS, row.window_days):
        return ImpactPublic(
            **base, verdict="pending",
            reason=f"{max(after_days, 0)} full days of data after the change; "
            f"{min(MIN_AFTER_DAYS, row.window_days)} are needed.",
        )  # fmt: skip
    unit = f"segment.{key}" if key else "journey"
    named = bool(row.control_segments if key else row.control_journeys)
    found = [] if named else _disturbances(session, row, before_start, after_end, disturbances)
    dims = (unit, *dict.fromkeys(f"segment.{d.key}" for d in found if d.key != key))
    cells = _daily(
        events, metric, row.deployment, before_start, data_end, dims,
        tuple(row.journeys) if key else (),
    )  # fmt: skip
    daily, excluded = _keep_cells(cells, dims, set(treated), found)
    if key:
        control = _segment_controls(row, key, {v for _, v in daily})
        base["control"] = [f"{key}={v}" for v in control]
    else:
        control = _controls(session, row, {j for _, j in daily}, before_start, after_end)
        base["control"] = control
    base["excluded"] = excluded
    if not control:
        what = f"{key} value" if key else "journey"
        return ImpactPublic(
            **base, verdict="inconclusive",
            reason=f"No control {what}: every other one changed in the same windows.",
        )  # fmt: skip
    windows: dict[str, tuple[list[tuple[float, float]], list[tuple[float, float]]]] = {}
    series: list[dict[str, Any]] = []
    for name, first, days in (
        ("before", before_start, (day0 - before_start).days),
        ("after", day1, after_days),
    ):
        treated_days: list[tuple[float, float]] = []
        control_days: list[tuple[float, float]] = []
        for k in range(days):
            day = first + timedelta(days=k)
            t, c = _pool(daily, day, treated), _pool(daily, day, control)
            if t[1] <= 0 or c[1] <= 0:
                continue  # no data that day for one group: drop the day from both
            treated_days.append(t)
            control_days.append(c)
            series.append(
                {
                    "day": day.date().isoformat(),
                    "window": name,
                    "treated": t[0] / t[1],
                    "control": c[0] / c[1],
                    "n_treated": t[1],
                    "n_control": c[1],
                }
            )
        windows[name] = (treated_days, control_days)
    try:
        result = did(
            Window.of(*windows["before"]),
            Window.of(*windows["after"]),
            resamples=policy.impact_resamples,
            seed=row.id,
        )
    except InputError as exc:
        return ImpactPublic(**base, verdict="pending", reason=exc.message, daily=series)
    v = verdict(result, metric.good)
    reason = {
        "improved": f"The {metric.name.lower()} moved the good way beyond its interval.",
        "regressed": f"The {metric.name.lower()} moved the wrong way beyond its interval.",
        "inconclusive": "The interval includes no effect.",
    }.get(v, "")
    return ImpactPublic(**base, **asdict(result), verdict=v, reason=reason, daily=series)


def _contributed(session: Session, row: Change) -> list[Disturbance]:
    """What the pipeline's plugins say moved metrics in part of the change's deployment
    around its windows (whole days, as :func:`assess` takes them)."""
    shipped = _midnight(aware(row.shipped_at))
    reach = timedelta(days=row.window_days + 1)
    return contributed(session, row.deployment, shipped - reach, shipped + reach)


def measure_impact(
    ledger: Ledger,
    events: EventStore,
    change_id: int,
    policy: BacklogPolicy,
    *,
    actor: str = history.SYSTEM,
) -> ChangePublic:
    """Measure (or re-measure) a change and act on a new verdict."""
    with ledger.session() as session:
        row = _row(session, change_id)
        impact = assess(session, events, row, policy, _contributed(session, row))
        before = row.verdict
        row.impact = impact.model_dump(mode="json")
        row.verdict = impact.verdict
        row.measured_at = now_utc()
        if before != impact.verdict:
            history.record(
                session, "change", row.id, actor, "verdict", before=before, after=impact.verdict,
                note=impact.reason,
            )  # fmt: skip
            _act_on_verdict(session, row, impact, policy, actor=actor)
        session.flush()
        return _public(session, row)


def _act_on_verdict(
    session: Session, row: Change, impact: ImpactPublic, policy: BacklogPolicy, *, actor: str
) -> None:
    items = session.scalars(
        select(Item)
        .join(ChangeItem, ChangeItem.item_id == Item.id)
        .where(ChangeItem.change_id == row.id)
    ).all()
    effect = (
        f"{impact.estimate:+.4f} [{impact.lo:+.4f}, {impact.hi:+.4f}]"
        if impact.estimate is not None
        else ""
    )
    for item in items:
        if impact.verdict == "improved" and item.status == "fix_shipped":
            transition(
                session, item, "verified", policy, actor=actor,
                reason=f"change {row.id} improved {row.metric} by {effect}",
            )  # fmt: skip
        elif impact.verdict == "regressed" and item.status in ("fix_shipped", "verified"):
            transition(
                session, item, "reopened", policy, actor=actor,
                reason=f"change {row.id} regressed {row.metric} by {effect}",
            )  # fmt: skip


def measure_all(
    ledger: Ledger,
    events: EventStore,
    policy: BacklogPolicy,
    *,
    deployment: str | None = None,
    actor: str = history.SYSTEM,
    within: frozenset[str] | None = None,
) -> list[ChangePublic]:
    """Re-measure every change still pending or inconclusive (new data may settle it), of
    ``deployment`` or of all of them (``within`` those, when given)."""
    with ledger.session() as session:
        query = select(Change.id).where(Change.verdict.in_(("pending", "inconclusive")))
        if deployment:
            query = query.where(Change.deployment == deployment)
        if within is not None:
            query = query.where(Change.deployment.in_(sorted(within)))
        ids = list(session.scalars(query.order_by(Change.id)))
    return [measure_impact(ledger, events, i, policy, actor=actor) for i in ids]


def change_marks(ledger: Ledger, deployment: str, journey: str | None = None) -> list[ChangeMark]:
    """The marks of a deployment's recorded changes on trend charts: every change to the whole
    deployment, and (with ``journey``) those to that journey; without it, all of them."""
    with ledger.session() as session:
        rows = session.scalars(
            select(Change).where(Change.deployment == deployment).order_by(Change.shipped_at)
        ).all()
        return [
            ChangeMark(
                day=aware(r.shipped_at).date(),
                label=f"#{r.id} {r.kind}: {r.title}",
                href=f"/changes/{r.id}",
            )
            for r in rows
            if journey is None or not r.journeys or journey in r.journeys
        ]
