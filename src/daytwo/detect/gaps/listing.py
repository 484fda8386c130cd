"""Knowledge gaps as the pages, the API and the command line read them: lists, one page of a
deployment's open gaps, one gap with its members and wordings, the last finished run.

What writes them (a refresh over the stores) is :mod:`daytwo.detect.gaps.service`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import defer

from daytwo.clock import aware
from daytwo.detect.gaps.calc import BUSINESS_KINDS, GAP_KINDS
from daytwo.detect.gaps.models import GapMember, GapRecord, GapRun
from daytwo.detect.gaps.schemas import (
    GapListing,
    GapPublic,
    GapRunPublic,
    GapUtterance,
    GapWording,
    OffTopic,
    WeekCount,
)
from daytwo.errors import InputError, NotFoundError
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger


def last_run(ledger: Ledger, deployment: str) -> GapRunPublic | None:
    with ledger.session() as session:
        run = session.scalars(
            select(GapRun)
            .where(GapRun.deployment == deployment, GapRun.finished_at.is_not(None))
            .order_by(GapRun.id.desc())
            .limit(1)
        ).first()
        return _run_public(run) if run else None


def _run_public(run: GapRun) -> GapRunPublic:
    return GapRunPublic(
        id=run.id,
        deployment=run.deployment,
        encoder=run.encoder,
        started_at=run.started_at,
        finished_at=run.finished_at,
        data_start=run.data_start,
        data_through=run.data_through,
        candidates=run.candidates,
        clustered=run.clustered,
        gaps=run.gaps,
        params=dict(run.params),
    )


def texts_of(
    events: EventStore, deployment: str, keys: Sequence[tuple[str, int]]
) -> dict[tuple[str, int], str | None]:
    """The stored text of each (interaction id, seq)."""
    if not keys:
        return {}
    ids = sorted({k[0] for k in keys})
    out: dict[tuple[str, int], str | None] = {}
    for i in range(0, len(ids), 5000):
        chunk = ids[i : i + 5000]
        rows = events.query(
            "SELECT interaction_id, seq, text FROM turns WHERE deployment = ? "  # noqa: S608
            f"AND interaction_id IN ({', '.join('?' for _ in chunk)})",
            [deployment, *chunk],
        ).to_pylist()
        for row in rows:
            out[(str(row["interaction_id"]), int(row["seq"]))] = row["text"]
    wanted = set(keys)
    return {k: v for k, v in out.items() if k in wanted}


SORTS = ("priority", "volume", "growth", "recent", "newest")


def priority(record: GapRecord) -> float:
    """Volume × growth (see :class:`GapPublic`)."""
    return float(record.volume) * (record.recent + 1) / (record.previous + 1)


def _sort_key(sort: str) -> Any:
    keys: dict[str, Any] = {
        "priority": lambda r: (-priority(r), r.id),
        "volume": lambda r: (-r.volume, r.id),
        "growth": lambda r: (-(r.recent + 1) / (r.previous + 1), -r.volume, r.id),
        "recent": lambda r: (-r.recent, -r.volume, r.id),
        "newest": lambda r: (-aware(r.first_seen).timestamp(), r.id),
    }
    if sort not in keys:
        raise InputError(f"sort must be one of {', '.join(SORTS)}, not {sort!r}.")
    return keys[sort]


def _records(ledger: Ledger, deployment: str | None, status: str | None) -> list[GapRecord]:
    with ledger.session() as session:
        # Not the centres: 384 numbers of JSON a gap, which no page or answer shows.
        query = select(GapRecord).options(defer(GapRecord.centroid))
        if deployment is not None:
            query = query.where(GapRecord.deployment == deployment)
        if status is not None:
            query = query.where(GapRecord.status == status)
        records = list(session.scalars(query.order_by(GapRecord.volume.desc(), GapRecord.id)))
        session.expunge_all()
        return records


def _members(ledger: Ledger, gap_ids: Sequence[str]) -> dict[str, list[tuple[str, int]]]:
    members: dict[str, list[tuple[str, int]]] = {g: [] for g in gap_ids}
    if not gap_ids:
        return members
    with ledger.session() as session:
        for gap_id, iid, seq in session.execute(
            select(GapMember.gap_id, GapMember.interaction_id, GapMember.seq)
            .where(GapMember.gap_id.in_(list(gap_ids)))
            .order_by(GapMember.gap_id, GapMember.similarity.desc(), GapMember.interaction_id)
        ):
            members[gap_id].append((iid, int(seq)))
    return members


def _public(
    records: Sequence[GapRecord],
    events: EventStore,
    members: dict[str, list[tuple[str, int]]] | None = None,
    *,
    wordings: bool = False,
) -> list[GapPublic]:
    """Public gaps with their examples' texts (and their members' and wordings, when given)."""
    members = members or {}
    by_dep: dict[str, list[tuple[str, int]]] = {}
    for r in records:
        keys = [(e["interaction_id"], int(e["seq"])) for e in r.examples] + members.get(r.id, [])
        by_dep.setdefault(r.deployment, []).extend(keys)
    texts: dict[str, dict[tuple[str, int], str | None]] = {
        dep: texts_of(events, dep, keys) for dep, keys in by_dep.items()
    }

    def utterance(dep: str, key: tuple[str, int]) -> GapUtterance:
        return GapUtterance(interaction_id=key[0], seq=key[1], text=texts[dep].get(key))

    return [
        GapPublic(
            id=r.id,
            deployment=r.deployment,
            status=r.status,
            label=r.label,
            keywords=list(r.keywords),
            kind=r.kind,
            intent=r.intent,
            kind_reason=r.kind_reason,
            volume=r.volume,
            recent=r.recent,
            previous=r.previous,
            growth=r.growth,
            weekly=[WeekCount(week=w["week"], n=w["n"]) for w in r.weekly],
            journeys={str(k): int(v) for k, v in r.journeys.items()},
            signals={k: int(v) for k, v in r.signals.items() if k != "customers"},
            customers=int(r.signals.get("customers", 0)),
            examples=[
                utterance(r.deployment, (e["interaction_id"], int(e["seq"]))) for e in r.examples
            ],
            encoder=r.encoder,
            first_seen=aware(r.first_seen),
            last_seen=aware(r.last_seen),
            runs_seen=r.runs_seen,
            members=(
                [utterance(r.deployment, k) for k in members[r.id]] if r.id in members else None
            ),
            wordings=(_wordings(members.get(r.id, []), texts[r.deployment]) if wordings else None),
            priority=round(priority(r), 3),
        )
        for r in records
    ]


def _wordings(
    keys: Sequence[tuple[str, int]], texts: dict[tuple[str, int], str | None]
) -> list[GapWording]:
    """Distinct wordings, most used first (then nearest the centre: ``keys`` come that way)."""
    seen: dict[str, GapWording] = {}
    for key in keys:
        text = texts.get(key)
        norm = " ".join((text or "").lower().split())
        if norm in seen:
            seen[norm].count += 1
        else:
            seen[norm] = GapWording(text=text, count=1, interaction_id=key[0], seq=key[1])
    return sorted(seen.values(), key=lambda w: -w.count)


def list_gaps(
    ledger: Ledger,
    events: EventStore,
    deployment: str | None = None,
    *,
    status: str | None = "open",
    with_members: bool = False,
    limit: int | None = None,
) -> list[GapPublic]:
    """Gaps, largest first, with their examples' texts (and every member's, when asked)."""
    records = _records(ledger, deployment, status)[:limit]
    members = _members(ledger, [r.id for r in records]) if with_members else None
    return _public(records, events, members)


def gap_listing(
    ledger: Ledger,
    events: EventStore,
    deployment: str,
    *,
    kind: str | None = None,
    journey: str | None = None,
    search: str | None = None,
    sort: str = "priority",
    page: int = 1,
    per_page: int = 25,
) -> GapListing:
    """One page of the deployment's open gaps: business gaps unless ``kind`` asks for another,
    filtered by journey and by words of their label or keywords; off-topic ones counted apart."""
    if page < 1 or not 1 <= per_page <= 500:
        raise InputError("page starts at 1 and per_page is between 1 and 500.")
    if kind is not None and kind not in GAP_KINDS:
        raise InputError(f"kind must be one of {', '.join(GAP_KINDS)}, not {kind!r}.")
    order = _sort_key(sort)
    records = _records(ledger, deployment, "open")
    off = [r for r in records if r.kind == "off_topic"]
    words = (search or "").lower().split()
    chosen = [
        r
        for r in records
        if (r.kind == kind if kind else r.kind in BUSINESS_KINDS)
        and (journey is None or journey in r.journeys)
        and all(w in f"{r.label} {' '.join(r.keywords)} {r.intent or ''}".lower() for w in words)
    ]
    chosen.sort(key=order)
    run = last_run(ledger, deployment)
    shown = chosen[(page - 1) * per_page : page * per_page]
    return GapListing(
        gaps=_public(shown, events),
        total=len(chosen),
        page=page,
        per_page=per_page,
        utterances=sum(r.volume for r in chosen),
        off_topic=OffTopic(
            gaps=len(off),
            utterances=sum(r.volume for r in off),
            recent=sum(r.recent for r in off),
            previous=sum(r.previous for r in off),
            scattered=(run.candidates - run.clustered) if run else 0,
        ),
        journeys=sorted({str(j) for r in records for j in r.journeys}),
    )


def get_gap(ledger: Ledger, events: EventStore, gap_id: str) -> GapPublic:
    """One gap with every member and its distinct wordings (this gap's rows only)."""
    with ledger.session() as session:
        record = session.get(GapRecord, gap_id, options=[defer(GapRecord.centroid)])
        if record is None:
            raise NotFoundError(f"No knowledge gap with id {gap_id!r}.")
        session.expunge(record)
    return _public([record], events, _members(ledger, [gap_id]), wordings=True)[0]


def gap_count(ledger: Ledger, deployment: str) -> int:
    with ledger.session() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(GapRecord)
                .where(GapRecord.deployment == deployment, GapRecord.status == "open")
            )
            or 0
        )
