"""The pilot-vs-rollout comparison stored with each analysis run, and its history.

After an analysis of an agent-assist deployment that reached the end of its data (a scheduled
run, ``daytwo analyze``; not a replay of an earlier day), the adoption plugin compares the
pilot with the rollout as the page's default period asks (the 28 whole days up to the run's
data, each agent's first days with the tool) and stores the comparison with the run's id. The
page, the API and the reports read the latest stored comparison instead of comparing anew (the
agent bootstrap is the slowest thing the page shows), and its headline gap, run after run, is
the comparison's history. A comparison stored before a cohort was recorded, changed or removed
is not served: the page compares the cohorts as they are now until the next run stores one.

Storing a run's comparison prunes the deployment's older ones in the same transaction: kept are
the latest run's (what the page serves), the last :data:`HISTORY_RUNS` that compared (the line
the page shows) and, for each calendar month a run compared in, the one the monthly review of
that month reads (the last before the month's end); nothing else reads them.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from daytwo.adoption import cohorts, compare
from daytwo.adoption.models import Cohort
from daytwo.adoption.models import PilotRun as PilotRunRow
from daytwo.adoption.schemas import Comparison, Period, PilotPoint, PilotRun
from daytwo.clock import aware
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger

DEFAULT_DAYS = 28
BASIS: compare.Basis = "same_age"
HEADLINE_KPI = "suggestion_acceptance_rate"
HISTORY_RUNS = 12
NO_PILOT = (
    "No pilot to compare with: record one (daytwo adoption cohorts add), or send a 'cohort' "
    "segment with the value 'pilot'."
)


def run_period(as_of: datetime) -> Period:
    """The default period as of ``as_of``: the :data:`DEFAULT_DAYS` whole days up to the end of
    the day it falls in (its midnight, when it is one)."""
    at = aware(as_of).astimezone(UTC)
    end = datetime.combine(at.date(), time(), tzinfo=UTC)
    if end < at:
        end += timedelta(days=1)
    return Period(start=end - timedelta(days=DEFAULT_DAYS), end=end)


def cohorts_state(ledger: Ledger, deployment: str) -> str:
    """A fingerprint of the cohorts recorded for ``deployment`` (what a comparison depends on
    in the ledger)."""
    with ledger.session() as session:
        rows = session.execute(
            select(Cohort.id, Cohort.name, Cohort.role, Cohort.created_at)
            .where(Cohort.deployment == deployment)
            .order_by(Cohort.id)
        ).all()
    return ";".join(f"{r.id}:{r.name}:{r.role}:{aware(r.created_at).isoformat()}" for r in rows)


def compare_now(
    ledger: Ledger, events: EventStore, deployment: str, period: Period
) -> tuple[Comparison | None, str]:
    """The pilot against the rollout over ``period``, or why there is none."""
    pair = cohorts.pilot_and_rollout(ledger, events, deployment)
    if pair is None:
        return None, NO_PILOT
    try:
        return compare.pilot_vs_rollout(events, deployment, pair, basis=BASIS, period=period), ""
    except compare.NoComparison as e:
        return None, str(e)


def record(
    ledger: Ledger, events: EventStore, deployment: str, run_id: int, as_of: datetime
) -> PilotRun:
    """Compare the pilot with the rollout as of ``as_of`` and store it with run ``run_id``;
    the runs nothing reads any more go in the same transaction (:func:`prune`)."""
    period = run_period(as_of)
    state = cohorts_state(ledger, deployment)
    found, note = compare_now(ledger, events, deployment, period)
    row = PilotRunRow(
        run_id=run_id,
        deployment=deployment,
        as_of=aware(as_of),
        period_start=period.start,
        period_end=period.end,
        basis=BASIS,
        comparison=found.model_dump(mode="json") if found else None,
        note=note,
        cohorts=state,
    )
    with ledger.session() as session:
        session.add(row)
        session.flush()
        prune(session, deployment)
        return _public(row)


def _month_end(at: datetime) -> datetime:
    """00:00 UTC on the first of the month after the one ``at`` falls in."""
    at = aware(at).astimezone(UTC)
    return datetime(at.year + at.month // 12, at.month % 12 + 1, 1, tzinfo=UTC)


def kept_ids(rows: list[tuple[int, datetime, bool]]) -> set[int]:
    """Which of a deployment's stored runs ``(id, as_of, compared)`` anything still reads: the
    latest (the page), the last :data:`HISTORY_RUNS` that compared (the history line) and, per
    month a run compared in, the last that compared before the month's end (the monthly
    review's; a month without a run reads an earlier month's, which is kept too)."""
    if not rows:
        return set()
    keep = {max(r[0] for r in rows)}
    compared = sorted((r for r in rows if r[2]), key=lambda r: r[0])
    keep.update(r[0] for r in compared[-HISTORY_RUNS:])
    for end in {_month_end(r[1]) for r in compared}:
        before = [r[0] for r in compared if aware(r[1]) < end]
        keep.add(max(before))
    return keep


def prune(session: Session, deployment: str) -> int:
    """Delete the stored runs of ``deployment`` nothing reads any more (see :func:`kept_ids`),
    in ``session``'s transaction; how many were deleted."""
    rows = [
        (r.id, r.as_of, r.compared)
        for r in session.execute(
            select(
                PilotRunRow.id,
                PilotRunRow.as_of,
                PilotRunRow.comparison.is_not(None).label("compared"),
            ).where(PilotRunRow.deployment == deployment)
        )
    ]
    keep = kept_ids(rows)
    gone = [r[0] for r in rows if r[0] not in keep]
    if gone:
        session.execute(delete(PilotRunRow).where(PilotRunRow.id.in_(gone)))
    return len(gone)


def _public(row: PilotRunRow) -> PilotRun:
    return PilotRun(
        run_id=row.run_id,
        as_of=aware(row.as_of),
        period=Period(start=aware(row.period_start), end=aware(row.period_end)),
        basis=row.basis,
        comparison=Comparison.model_validate(row.comparison) if row.comparison else None,
        note=row.note,
        computed_at=aware(row.computed_at),
    )


def latest(ledger: Ledger, deployment: str, period: Period | None = None) -> PilotRun | None:
    """The latest stored comparison of ``deployment`` (over ``period``, when given) that the
    cohorts recorded now still stand behind; None when there is none."""
    state = cohorts_state(ledger, deployment)
    with ledger.session() as session:
        query = select(PilotRunRow).where(PilotRunRow.deployment == deployment)
        if period is not None:
            query = query.where(
                PilotRunRow.period_start == period.start, PilotRunRow.period_end == period.end
            )
        row = session.scalars(query.order_by(PilotRunRow.id.desc()).limit(1)).first()
        if row is None or row.cohorts != state:
            return None
        return _public(row)


def history(
    ledger: Ledger, deployment: str, limit: int = HISTORY_RUNS, before: datetime | None = None
) -> list[PilotPoint]:
    """The headline gap (suggestion acceptance at the same age) of the last ``limit`` runs
    that compared (as of before ``before``, when given), oldest first."""
    with ledger.session() as session:
        query = select(PilotRunRow).where(
            PilotRunRow.deployment == deployment, PilotRunRow.comparison.is_not(None)
        )
        if before is not None:
            query = query.where(PilotRunRow.as_of < before)
        rows = session.scalars(query.order_by(PilotRunRow.id.desc()).limit(limit)).all()
        out = []
        for r in reversed(rows):
            assert r.comparison is not None
            k = next((k for k in r.comparison["kpis"] if k["kpi"] == HEADLINE_KPI), None)
            if k is None:
                continue
            out.append(
                PilotPoint(
                    run_id=r.run_id,
                    as_of=aware(r.as_of),
                    kpi=HEADLINE_KPI,
                    naive=k["naive"],
                    adjusted=k["adjusted"],
                    lo=k["lo"],
                    hi=k["hi"],
                )
            )
        return out
