"""Findings in the ledger: recorded by fingerprint, resolved when gone, regressed when back."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from daytwo import clock
from daytwo.clock import aware
from daytwo.detect.findings import Finding, FindingScope, Severity
from daytwo.detect.models import AnalysisRun, FindingRecord, HeldFinding
from daytwo.detect.roots import (
    GAP_FAMILY_OVERLAP,
    GAP_KIND,
    GAP_SYMPTOM_METRICS,
    SAME_ONSET_DAYS,
    WORSENING_KINDS,
    gap_symptoms,
    journey_overlap,
    kept_cell_roots,
    root_weight,
)
from daytwo.detect.schemas import FindingFilter, FindingPublic, RunPublic
from daytwo.errors import NotFoundError
from daytwo.store.ledger import Ledger

# The share of an earlier finding's evidence a new fingerprint must cover to continue it.
CONTINUED_SHARE = 0.5
# How much newer a look's data must be than the look that held a segment finding to confirm it.
CONFIRM_AFTER = timedelta(days=1)
# How many resolved findings a kept root is followed through to the live one it lives on in.
MAX_ROOT_HOPS = 4


@dataclass(frozen=True, slots=True)
class Recorded:
    """What one run changed in the ledger: counts, and the fingerprints behind each count."""

    new: int
    updated: int
    resolved: int
    regressed: int
    new_fingerprints: tuple[str, ...] = ()
    updated_fingerprints: tuple[str, ...] = ()
    resolved_fingerprints: tuple[str, ...] = ()
    regressed_fingerprints: tuple[str, ...] = ()
    # Segment findings this look saw for the first time and holds until a later look confirms
    # them (see :func:`record_findings`): not in the findings table yet.
    held_fingerprints: tuple[str, ...] = ()


def start_run(ledger: Ledger, deployment: str, detectors: Sequence[str]) -> int:
    with ledger.session() as session:
        run = AnalysisRun(
            deployment=deployment,
            status="running",
            detectors=list(detectors),
            interactions=0,
            findings_new=0,
            findings_updated=0,
            findings_resolved=0,
            findings_regressed=0,
        )
        session.add(run)
        session.flush()
        return int(run.id)


def fail_run(ledger: Ledger, run_id: int, error: str) -> None:
    with ledger.session() as session:
        run = session.get(AnalysisRun, run_id)
        if run is not None:
            run.status = "failed"
            run.error = error[:2000]
            run.finished_at = clock.now()


def record_findings(
    ledger: Ledger,
    run_id: int,
    deployment: str,
    detectors: Sequence[str],
    findings: Sequence[Finding],
    *,
    since: datetime | None,
    data_through: datetime,
    interactions: int,
) -> Recorded:
    """Write one run's findings in one transaction.

    A finding whose fingerprint is known updates that row (values, evidence, last seen); a
    resolved one that is seen again is marked ``regressed``. A finding that knows its members
    (a knowledge gap) and whose fingerprint is new continues an earlier finding whose evidence
    is mostly among its members (see :func:`_continued`), and the findings it explains name
    that earlier fingerprint as their root. Open findings of the run's detectors that this run
    did not see are marked ``resolved``.

    Repeated looks: a segment finding new to the ledger, seen by a detector that an earlier run
    of the deployment already ran, is *held* rather than raised, and raised (with the first-seen
    date of the look that held it) only when a look on data at least :data:`CONFIRM_AFTER`
    newer sees it again; a look that misses it drops it. The first look at a deployment raises
    what it sees. See "Repeated looks" in docs/detectors.md.
    """
    now = clock.now()
    new: list[str] = []
    updated: list[str] = []
    resolved: list[str] = []
    regressed: list[str] = []
    held: list[str] = []
    first: dict[str, Finding] = {}  # the first finding of each fingerprint, in order
    for f in findings:
        first.setdefault(f.fingerprint, f)
    unique = list(first.values())
    with ledger.session() as session:
        known = {
            r.fingerprint: r
            for r in session.scalars(
                select(FindingRecord).where(FindingRecord.fingerprint.in_(list(first)))
            )
        }
        rows = {fp: known.get(fp) for fp in first}
        # A cell's problem stays shown by the finding that showed it while it still qualifies.
        unique = kept_cell_roots(unique, _standing(rows))
        continued = _continued(
            session,
            deployment,
            [f for f in unique if rows[f.fingerprint] is None and f.members],
            taken=set(rows),
        )
        # A finding explained by one that continues an earlier finding names that one's root.
        renamed = {fp: row.fingerprint for fp, row in continued.items()}
        looked = _looked_before(session, deployment, run_id, detectors)
        held_rows = {
            h.fingerprint: h
            for h in session.scalars(
                select(HeldFinding).where(
                    HeldFinding.deployment == deployment,
                    HeldFinding.detector.in_(list(detectors)),
                )
            )
        }
        kept = _kept_roots(session, deployment, detectors, unique, rows)
        holds = {
            f.fingerprint
            for f in unique
            if rows[f.fingerprint] is None
            and f.fingerprint not in continued
            and f.scope.level == "segment"
            and f.detector in looked
            and (
                f.fingerprint not in held_rows
                or aware(held_rows[f.fingerprint].data_through) + CONFIRM_AFTER > data_through
            )
        }
        rooted: list[Finding] = []
        for f in unique:
            root = f.details.get("root")
            if root in renamed:
                f = dataclasses.replace(f, details={**f.details, "root": renamed[root]})
            elif f.fingerprint in kept:
                f = dataclasses.replace(f, details={**f.details, "root": kept[f.fingerprint]})
            rooted.append(f)
        rooted = stand_in_for_held(rooted, holds)
        seen: set[str] = set()
        holders: list[tuple[str, Finding]] = []  # what this run saw with members, as recorded
        for f in rooted:
            fp = f.fingerprint
            row = rows[fp] or continued.get(fp)
            first_seen = f.first_seen
            if row is None and f.scope.level == "segment" and f.detector in looked:
                h = held_rows.get(fp)
                if h is None:
                    session.add(
                        HeldFinding(
                            fingerprint=fp, deployment=deployment, detector=f.detector,
                            first_seen=f.first_seen, data_through=data_through, run_id=run_id,
                        )
                    )  # fmt: skip
                    held.append(fp)
                    continue
                if aware(h.data_through) + CONFIRM_AFTER > data_through:
                    held.append(fp)  # seen again, on data not yet a day newer: still held
                    continue
                first_seen = min(aware(h.first_seen), f.first_seen)
            if row is None:
                row = FindingRecord(
                    fingerprint=fp,
                    status="open",
                    first_seen=first_seen,
                    times_seen=0,
                    regressions=0,
                )
                session.add(row)
                new.append(row.fingerprint)
            else:
                updated.append(row.fingerprint)
                if _seen_again(row):
                    regressed.append(row.fingerprint)
                    row.first_seen = min(aware(row.first_seen), f.first_seen)
            seen.add(row.fingerprint)
            _fill(row, f)
            if f.members:
                # Dated as the ledger knows it: one look reads only its own weeks, so its
                # clustering dates a gap that began before them from their first day.
                began = aware(row.first_seen) if row.first_seen else f.first_seen
                holders.append((row.fingerprint, dataclasses.replace(f, first_seen=began)))
            row.times_seen += 1
            row.last_run_id = run_id
        stale = session.scalars(
            select(FindingRecord).where(
                FindingRecord.deployment == deployment,
                FindingRecord.detector.in_(list(detectors)),
                FindingRecord.status.in_(("open", "regressed")),
            )
        ).all()
        for row in stale:
            if row.fingerprint not in seen:
                row.status = "resolved"
                row.resolved_at = now
                resolved.append(row.fingerprint)
                into = _now_held_by(row, holders)
                if into is not None:
                    row.details = {**(row.details or {}), "root": into}
        _root_lost_symptoms(session, deployment, run_id, holders)
        # A held finding this look raised or missed is held no longer.
        for fp, h in held_rows.items():
            if fp not in held:
                session.delete(h)
        run = session.get(AnalysisRun, run_id)
        if run is not None:
            run.status = "ok"
            run.finished_at = clock.now()
            run.since = since
            run.data_through = data_through
            run.interactions = interactions
            run.findings_new = len(new)
            run.findings_updated = len(updated)
            run.findings_resolved = len(resolved)
            run.findings_regressed = len(regressed)
    return Recorded(
        len(new), len(updated), len(resolved), len(regressed),
        tuple(new), tuple(updated), tuple(resolved), tuple(regressed), tuple(held),
    )  # fmt: skip


def stand_in_for_held(findings: Sequence[Finding], held: Collection[str]) -> list[Finding]:
    """``findings`` with no root left on a finding this look holds rather than raises.

    A held segment finding is no row of the ledger (yet): the findings it explains would name
    a root no page shows and no item holds, and each would stand alone, one problem shown as
    several. Until a later look raises it, the heaviest of them (the most severe, then the one
    affecting the most conversations) stands for the problem, and the others name it as their
    root; once the held finding is raised, the looks that see it root them all at it again. A
    held finding's own root is kept (it is recorded only when raised)."""
    by_root: dict[str, list[Finding]] = {}
    for f in findings:
        root = f.details.get("root")
        if isinstance(root, str) and root in held and f.fingerprint not in held:
            by_root.setdefault(root, []).append(f)
    if not by_root:
        return list(findings)
    renamed: dict[str, str | None] = {}
    for group in by_root.values():
        lead = max(group, key=root_weight)
        renamed[lead.fingerprint] = None
        for f in group:
            if f is not lead:
                renamed[f.fingerprint] = lead.fingerprint
    out = []
    for f in findings:
        if f.fingerprint not in renamed:
            out.append(f)
            continue
        details = {k: v for k, v in f.details.items() if k != "root"}
        if renamed[f.fingerprint] is not None:
            details["root"] = renamed[f.fingerprint]
        out.append(dataclasses.replace(f, details=details))
    return out


def _looked_before(
    session: Session, deployment: str, run_id: int, detectors: Sequence[str]
) -> set[str]:
    """Which of ``detectors`` an earlier successful run of ``deployment`` already ran: for
    them, this run is a repeated look. Reads runs newest first and stops once all are found
    (at once, for a deployment analysed with the same detectors before)."""
    wanted = set(detectors)
    found: set[str] = set()
    query = (
        select(AnalysisRun.detectors)
        .where(
            AnalysisRun.deployment == deployment,
            AnalysisRun.status == "ok",
            AnalysisRun.id != run_id,
        )
        .order_by(AnalysisRun.id.desc())
    )
    page, offset = 1, 0
    while found != wanted:
        runs = session.scalars(query.limit(page).offset(offset)).all()
        for ran in runs:
            found |= wanted & set(ran or ())
        if len(runs) < page:
            break
        offset += page
        page = min(4 * page, 256)
    return found


def record_raised(
    ledger: Ledger,
    deployment: str,
    source: str,
    findings: Sequence[Finding],
    *,
    at: datetime,
    keep: Collection[str] = (),
) -> Recorded:
    """Findings raised outside the detectors (``source``: their ``detector`` id, such as the
    plan's gate checks), kept by fingerprint like every other finding.

    A finding seen again updates its row (a resolved one is ``regressed``); the source's open
    findings of ``deployment`` not in ``findings`` are resolved at ``at``, except those whose
    fingerprint is in ``keep`` (still seen, with nothing worth rewriting: they stay as they
    are). No analysis run is recorded: these come from the source's own evaluation.
    """
    new: list[str] = []
    updated: list[str] = []
    resolved: list[str] = []
    regressed: list[str] = []
    with ledger.session() as session:
        rows = {
            r.fingerprint: r
            for r in session.scalars(
                select(FindingRecord).where(
                    FindingRecord.deployment == deployment, FindingRecord.detector == source
                )
            )
        }
        seen: set[str] = set()
        for f in findings:
            if f.detector != source or f.scope.deployment != deployment:
                raise ValueError(f"a finding of {source!r} on {deployment!r} only")
            row = rows.get(f.fingerprint)
            if row is None:
                row = FindingRecord(
                    fingerprint=f.fingerprint,
                    status="open",
                    first_seen=f.first_seen,
                    times_seen=0,
                    regressions=0,
                )
                session.add(row)
                rows[f.fingerprint] = row
                new.append(f.fingerprint)
            else:
                updated.append(f.fingerprint)
                if _seen_again(row):
                    regressed.append(f.fingerprint)
            seen.add(f.fingerprint)
            _fill(row, f)
            row.times_seen += 1
        for fp, row in rows.items():
            if fp not in seen and fp not in keep and row.status in ("open", "regressed"):
                row.status = "resolved"
                row.resolved_at = at
                resolved.append(fp)
    return Recorded(
        len(new), len(updated), len(resolved), len(regressed),
        tuple(new), tuple(updated), tuple(resolved), tuple(regressed),
    )  # fmt: skip


def _seen_again(row: FindingRecord) -> bool:
    """A resolved finding seen again is regressed (True); an open one stays as it is."""
    if row.status != "resolved":
        return False
    row.status = "regressed"
    row.regressions += 1
    row.resolved_at = None
    return True


def _continued(
    session: Session, deployment: str, findings: Sequence[Finding], *, taken: set[str]
) -> dict[str, FindingRecord]:
    """Earlier findings that ``findings`` (new fingerprints, each with its members) continue.

    A knowledge gap is fingerprinted by its leading keywords, and those shift as its wording
    mix does ("direct deposit" one day, "deposit set" the next) while the conversations are
    the same. So a new fingerprint continues an earlier finding of the same kind and
    deployment when at least :data:`CONTINUED_SHARE` of that finding's evidence is among its
    members. Each earlier finding is continued once at most, the largest share first; one
    this run also sees by its own fingerprint (in ``taken``) is not available.
    """
    if not findings:
        return {}
    earlier = [
        row
        for row in session.scalars(
            select(FindingRecord).where(
                FindingRecord.deployment == deployment,
                FindingRecord.kind.in_(sorted({f.kind for f in findings})),
            )
        )
        if row.evidence and row.fingerprint not in taken
    ]
    pairs: list[tuple[float, int, int]] = []
    for i, f in enumerate(findings):
        for j, row in enumerate(earlier):
            if row.kind == f.kind:
                share = sum(e in f.members for e in row.evidence) / len(row.evidence)
                if share >= CONTINUED_SHARE:
                    pairs.append((share, i, j))
    out: dict[str, FindingRecord] = {}
    used: set[int] = set()
    for _, i, j in sorted(pairs, key=lambda p: (-p[0], p[1], p[2])):
        fp = findings[i].fingerprint
        if fp not in out and j not in used:
            out[fp] = earlier[j]
            used.add(j)
    return out


def _now_held_by(row: FindingRecord, holders: Sequence[tuple[str, Finding]]) -> str | None:
    """The problem a finding with members that this run did not see lives on in: the root (or
    the recorded fingerprint) of the finding of the same kind this run saw whose members hold
    at least :data:`CONTINUED_SHARE` of its evidence, the most of it. A payroll gap that the
    weekly clustering folds into a neighbour is not a problem that went away: its questions
    are the neighbour's now, and it stays one click below it.

    Failing that, a knowledge gap lives on in the family of a gap this run saw that came with
    the same launch: first seen (as the ledger dates it, over every look, not as this look's
    weeks show it) within :data:`~daytwo.detect.roots.SAME_ONSET_DAYS` of it,
    its questions landing in the same journeys (mixes overlapping by at least
    :data:`~daytwo.detect.roots.GAP_FAMILY_OVERLAP`), the largest such. The tax questions of
    a payroll launch, clustered apart from its direct-deposit ones in the first weeks and
    among them later, are one problem over the whole time, as they are within one look."""
    if not row.evidence or (row.details or {}).get("root"):
        return None
    best: tuple[float, str] | None = None
    for fingerprint, f in holders:
        if f.kind != row.kind or fingerprint == row.fingerprint:
            continue
        share = sum(e in f.members for e in row.evidence) / len(row.evidence)
        root = f.details.get("root")
        into = root if isinstance(root, str) and root != row.fingerprint else fingerprint
        if share >= CONTINUED_SHARE and (best is None or share > best[0]):
            best = (share, into)
    if best is not None:
        return best[1]
    mix = (row.details or {}).get("journeys")
    if row.kind != GAP_KIND or not isinstance(mix, dict) or row.first_seen is None:
        return None
    began = aware(row.first_seen)
    launch: tuple[float, str, str] | None = None
    for fingerprint, f in holders:
        theirs = f.details.get("journeys")
        if f.kind != GAP_KIND or fingerprint == row.fingerprint or not isinstance(theirs, dict):
            continue
        if abs(f.first_seen - began) > timedelta(SAME_ONSET_DAYS):
            continue
        if journey_overlap(mix, theirs) < GAP_FAMILY_OVERLAP:
            continue
        root = f.details.get("root")
        into = root if isinstance(root, str) and root != row.fingerprint else fingerprint
        key = (f.impact.interactions_per_week, fingerprint, into)
        if launch is None or key > launch:
            launch = key
    return launch[2] if launch else None


def _standing(rows: dict[str, FindingRecord | None]) -> set[str]:
    """The findings that stood for a problem of their own after the previous look: recorded
    open or regressed, with no root."""
    return {
        fp
        for fp, row in rows.items()
        if row is not None
        and row.status in ("open", "regressed")
        and not isinstance((row.details or {}).get("root"), str)
    }


def _kept_roots(
    session: Session,
    deployment: str,
    detectors: Sequence[str],
    findings: Sequence[Finding],
    rows: dict[str, FindingRecord | None],
) -> dict[str, str]:
    """The roots that findings this run saw unexplained keep from an earlier run: a root
    found by a detector that did not look this time (knowledge gaps are clustered once a
    week, the daily looks between do not see them), still open or regressed, or resolved into
    another such finding (a gap a later clustering folded into a larger one: its recorded
    root), followed to that one. Without it a fallback rise a gap explains was its own problem
    again the next day, and its item flipped between the two.

    A knowledge gap kept so is kept by a gap's symptom (see :func:`gap_symptom`) even where
    this run gave it another root: a look that clusters prefers the gap, the closer cause, to
    a broader cell that explains the symptom too, and a daily look, which cannot see the gap,
    would otherwise root it at the broader cell (a site's finding) for as long as that cell
    is found, and at nothing once it resolves: the payroll gap's fallback rise its own
    problem again, beside the gap it stays with in the backlog."""
    earlier: dict[str, str] = {}
    over: set[str] = set()  # rooted by this run, kept only at a gap
    for f in findings:
        row = rows.get(f.fingerprint)
        now = f.details.get("root")
        if (now is None or gap_symptom(f)) and row is not None and row.details:
            root = row.details.get("root")
            if isinstance(root, str) and root != f.fingerprint and root != now:
                earlier[f.fingerprint] = root
                if now is not None:
                    over.add(f.fingerprint)
    if not earlier:
        return {}
    # A root resolved since lives on in the root it was given when a later clustering folded
    # it into another finding: follow those links (through resolved findings) to a live one.
    rows_by_print: dict[str, FindingRecord] = {}
    wanted = set(earlier.values())
    for _ in range(MAX_ROOT_HOPS):
        wanted -= rows_by_print.keys()
        if not wanted:
            break
        found = session.scalars(
            select(FindingRecord).where(
                FindingRecord.fingerprint.in_(sorted(wanted)),
                FindingRecord.deployment == deployment,
            )
        ).all()
        rows_by_print.update((r.fingerprint, r) for r in found)
        wanted = {
            str(r.details["root"])
            for r in found
            if r.status not in ("open", "regressed")
            and isinstance((r.details or {}).get("root"), str)
        }

    def live(root: str) -> FindingRecord | None:
        at, hops = root, 0
        while hops <= MAX_ROOT_HOPS:
            r = rows_by_print.get(at)
            if r is None or r.detector in detectors:
                return None
            if r.status in ("open", "regressed"):
                return r
            up = (r.details or {}).get("root")
            if not isinstance(up, str):
                return None
            at, hops = up, hops + 1
        return None

    out: dict[str, str] = {}
    for fp, root in earlier.items():
        alive = live(root)
        if alive is None or alive.fingerprint == fp:
            continue
        if fp not in over or alive.kind == GAP_KIND:
            out[fp] = alive.fingerprint
    return out


def _root_lost_symptoms(
    session: Session, deployment: str, run_id: int, holders: Sequence[tuple[str, Finding]]
) -> None:
    """A knowledge gap's symptoms that no clustering saw: a look that clusters gaps (they
    are clustered once a week) roots at them, by the rule of a look that sees both (see
    :func:`~daytwo.detect.roots.with_roots`, "a gap's symptoms"), the resolved findings with
    no root that looks after the previous clustering saw last (gone before this one).

    A daily look cannot see the gap: a fallback or rephrase rise in a journey where a payroll
    launch's questions arrive, raised the day after one clustering and gone before the next,
    would otherwise stay a problem of its own, beside the gap that made it."""
    gaps = {
        recorded: f for recorded, f in holders if f.kind == GAP_KIND and f.details.get("journeys")
    }
    if not gaps:
        return
    detectors = {f.detector for f in gaps.values()}
    clustered = [
        run
        for run, ran in session.execute(
            select(AnalysisRun.id, AnalysisRun.detectors).where(
                AnalysisRun.deployment == deployment,
                AnalysisRun.status == "ok",
                AnalysisRun.id < run_id,
            )
        )
        if detectors & set(ran or ())
    ]
    since = max(clustered, default=0)  # the previous clustering: what it saw live it judged
    lost = [
        row
        for row in session.scalars(
            select(FindingRecord).where(
                FindingRecord.deployment == deployment,
                FindingRecord.status == "resolved",
                FindingRecord.journey.is_not(None),
                FindingRecord.kind.in_(sorted(WORSENING_KINDS)),
                FindingRecord.metric.in_(sorted(GAP_SYMPTOM_METRICS)),
                FindingRecord.last_run_id > since,
            )
        )
        if not isinstance((row.details or {}).get("root"), str) and row.evidence
    ]
    if not lost:
        return
    as_found = {
        row.fingerprint: Finding(
            detector=row.detector,
            kind=row.kind,
            title=row.title,
            scope=FindingScope(
                deployment,
                journey=row.journey,
                segment=(row.segment_key, row.segment_value or "") if row.segment_key else None,
                metric=row.metric,
            ),
            severity=Severity(row.severity),
            first_seen=aware(row.first_seen),
            last_seen=aware(row.last_seen),
            evidence=tuple(row.evidence or ()),
        )
        for row in lost
    }
    recorded = {f.fingerprint: fp for fp, f in gaps.items()}
    parent = {
        f.fingerprint: str(f.details["root"])
        for f in gaps.values()
        if isinstance(f.details.get("root"), str)
    }
    links = gap_symptoms(list(as_found.values()), list(gaps.values()), parent)
    for row in lost:
        root = links.get(as_found[row.fingerprint].fingerprint)
        if root is not None:
            row.details = {**(row.details or {}), "root": recorded.get(root, root)}


def gap_symptom(f: Finding) -> bool:
    """Whether ``f`` is of the findings a knowledge gap's questions make where they arrive
    (:data:`~daytwo.detect.roots.GAP_SYMPTOM_METRICS` of a journey getting worse): those a
    look that clusters roots at the gap rather than at a broader cell."""
    return (
        f.scope.journey is not None
        and not f.members
        and f.kind in WORSENING_KINDS
        and f.scope.metric in GAP_SYMPTOM_METRICS
    )


def _fill(row: FindingRecord, f: Finding) -> None:
    row.detector = f.detector
    row.kind = f.kind
    row.title = f.title
    row.deployment = f.scope.deployment
    row.journey = f.scope.journey
    row.segment_key = f.scope.segment[0] if f.scope.segment else None
    row.segment_value = f.scope.segment[1] if f.scope.segment else None
    row.metric = f.scope.metric
    row.key = list(f.key)
    row.severity = int(f.severity)
    row.baseline_value = f.baseline.value if f.baseline else None
    row.baseline_n = f.baseline.n if f.baseline else None
    row.current_value = f.current.value if f.current else None
    row.current_n = f.current.n if f.current else None
    row.evidence = list(f.evidence)
    row.impact_interactions = f.impact.interactions_per_week
    row.impact_customers = f.impact.customers_per_week
    row.impact_agents = f.impact.agents_per_week
    row.details = _jsonable(dict(f.details))
    row.last_seen = f.last_seen


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float | int | str | bool) or value is None:
        return value
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def last_run(ledger: Ledger, deployment: str) -> RunPublic | None:
    """The latest successful run of ``deployment``."""
    with ledger.session() as session:
        row = session.scalar(
            select(AnalysisRun)
            .where(AnalysisRun.deployment == deployment, AnalysisRun.status == "ok")
            .order_by(AnalysisRun.id.desc())
            .limit(1)
        )
        return RunPublic.model_validate(row) if row is not None else None


def judged_through(
    ledger: Ledger, deployment: str, detector_ids: Sequence[str]
) -> dict[str, list[datetime]]:
    """For each of ``detector_ids``, where the data ended of every successful run of
    ``deployment`` that ran it (what a detector's cadence is decided by)."""
    out: dict[str, list[datetime]] = {d: [] for d in detector_ids}
    if not out:
        return out
    with ledger.session() as session:
        rows = session.execute(
            select(AnalysisRun.detectors, AnalysisRun.data_through).where(
                AnalysisRun.deployment == deployment,
                AnalysisRun.status == "ok",
                AnalysisRun.data_through.is_not(None),
            )
        )
        for ran, through in rows:
            if through is None:
                continue
            for d in set(ran or ()) & out.keys():
                out[d].append(aware(through))
    return out


def list_runs(ledger: Ledger, limit: int = 20) -> list[RunPublic]:
    with ledger.session() as session:
        rows = session.scalars(select(AnalysisRun).order_by(AnalysisRun.id.desc()).limit(limit))
        return [RunPublic.model_validate(r) for r in rows]


def list_findings(ledger: Ledger, f: FindingFilter) -> list[FindingPublic]:
    """Findings matching the filter, most severe and most recent first."""
    q = select(FindingRecord)
    if f.deployment:
        q = q.where(FindingRecord.deployment == f.deployment)
    if f.deployments is not None:
        q = q.where(FindingRecord.deployment.in_(f.deployments))
    if f.kind:
        q = q.where(FindingRecord.kind == f.kind)
    if f.detector:
        q = q.where(FindingRecord.detector == f.detector)
    if f.journey:
        q = q.where(FindingRecord.journey == f.journey)
    if f.metric:
        q = q.where(FindingRecord.metric == f.metric)
    if f.status:
        q = q.where(FindingRecord.status.in_(f.status))
    if f.min_severity is not None:
        q = q.where(FindingRecord.severity >= int(f.min_severity))
    q = q.order_by(FindingRecord.severity.desc(), FindingRecord.last_seen.desc(), FindingRecord.id)
    q = q.limit(f.limit).offset(f.offset)
    with ledger.session() as session:
        return [FindingPublic.from_row(r) for r in session.scalars(q)]


# Fingerprints per query of :func:`findings_by_fingerprint` (well under every store's limit on
# bound parameters).
FINGERPRINTS_PER_QUERY = 500


def findings_by_fingerprint(
    ledger: Ledger, fingerprints: Collection[str], *, deployment: str | None = None
) -> list[FindingPublic]:
    """The findings of ``fingerprints`` (of ``deployment``, when given), in the order
    :func:`list_findings` gives them: most severe first, then the most recently seen, then by
    id. What one run changed is read without reading every finding of the deployment."""
    wanted = sorted(set(fingerprints))
    out: list[FindingPublic] = []
    with ledger.session() as session:
        for i in range(0, len(wanted), FINGERPRINTS_PER_QUERY):
            q = select(FindingRecord).where(
                FindingRecord.fingerprint.in_(wanted[i : i + FINGERPRINTS_PER_QUERY])
            )
            if deployment:
                q = q.where(FindingRecord.deployment == deployment)
            out.extend(FindingPublic.from_row(r) for r in session.scalars(q))
    # Severity and last seen are never empty, ids are unique: the order is total (stable
    # sorts, the last key first).
    out.sort(key=lambda f: f.id)
    out.sort(key=lambda f: f.last_seen, reverse=True)
    out.sort(key=lambda f: f.severity_level, reverse=True)
    return out


def problems_of(
    rows: list[FindingPublic], known: Sequence[FindingPublic] = ()
) -> tuple[list[FindingPublic], Counter[str]]:
    """One row per problem: the findings of ``rows`` whose chain of roots reaches no other
    finding of ``rows``, and how many symptoms each of them stands for, by fingerprint. A
    symptom is one click below the highest finding of ``rows`` on its chain, on that finding's
    page.

    The chain is followed through ``known`` too (findings not shown, such as resolved ones):
    a fallback rise rooted at a knowledge gap that a later clustering folded into a larger one
    (the old gap resolved, rooted at the new one) is the new gap's symptom, as it is in the
    backlog's item, although the old gap is not in the default view."""
    parent: dict[str, str] = {}
    for f in [*known, *rows]:
        root = f.details.get("root")
        if isinstance(root, str) and root != f.fingerprint:
            parent[f.fingerprint] = root
    shown = {f.fingerprint for f in rows}
    symptoms: Counter[str] = Counter()
    top: list[FindingPublic] = []
    for f in rows:
        highest: str | None = None
        seen = {f.fingerprint}
        at = parent.get(f.fingerprint)
        while at is not None and at not in seen:
            seen.add(at)
            if at in shown:
                highest = at
            at = parent.get(at)
        if highest is None:
            top.append(f)
        else:
            symptoms[highest] += 1
    return top, symptoms


def finding_deployments(ledger: Ledger) -> list[str]:
    """Every deployment that has findings."""
    with ledger.session() as session:
        q = select(FindingRecord.deployment).distinct().order_by(FindingRecord.deployment)
        return [str(d) for d in session.scalars(q)]


def count_findings(ledger: Ledger, deployment: str | None = None) -> dict[str, int]:
    """Findings by status."""
    q = select(FindingRecord.status, func.count()).group_by(FindingRecord.status)
    if deployment:
        q = q.where(FindingRecord.deployment == deployment)
    with ledger.session() as session:
        return {str(s): int(n) for s, n in session.execute(q).all()}


def get_finding(ledger: Ledger, finding_id: int) -> FindingPublic:
    with ledger.session() as session:
        row = session.get(FindingRecord, finding_id)
        if row is None:
            raise NotFoundError(f"No finding with id {finding_id}.")
        return FindingPublic.from_row(row)
