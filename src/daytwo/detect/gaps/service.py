"""Knowledge gaps over the stores: read candidates, embed, cluster, match ids, keep in the ledger.

:func:`refresh_gaps` is incremental: it does nothing when the deployment has no data newer than
its last run (unless forced), and a repeated run over the same data keeps every id. What reads
the gaps back (lists, pages, one gap) is :mod:`daytwo.detect.gaps.listing`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import numpy as np
import pyarrow as pa
from sqlalchemy import delete, insert, select

from daytwo import clock
from daytwo.clock import aware
from daytwo.detect.gaps.calc import (
    Gap,
    GapParams,
    GapTuning,
    PreviousGap,
    build_gaps,
    known_intents,
)
from daytwo.detect.gaps.candidates import (
    INTERACTION_COLUMNS,
    TURN_COLUMNS,
    Candidates,
    confident_turns,
)
from daytwo.detect.gaps.cluster import (
    MIN_REGIONS,
    ClusterParams,
    attach_to_intents,
    cluster_utterances,
    regions,
)
from daytwo.detect.gaps.encoders import Encoder, get_encoder
from daytwo.detect.gaps.granularity import Granularity, intent_granularity
from daytwo.detect.gaps.listing import (
    SORTS,
    gap_count,
    gap_listing,
    get_gap,
    last_run,
    list_gaps,
    priority,
    texts_of,
)
from daytwo.detect.gaps.models import GapMember, GapRecord, GapRun
from daytwo.detect.gaps.reads import CANDIDATES, CONFIDENT, candidates_of, confident_of
from daytwo.errors import InputError, NotFoundError
from daytwo.interactions.facts import LOW_CONFIDENCE
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger

# The reads (listing.py) stay importable from here, with what writes the gaps.
__all__ = [
    "CACHE_SIZE",
    "DEFAULT_WINDOW_DAYS",
    "SORTS",
    "Detection",
    "GapWindow",
    "NotInCache",
    "RefreshResult",
    "cache_only",
    "candidate_texts",
    "compute_gaps",
    "confident_texts",
    "detect_gaps",
    "effective_params",
    "gap_count",
    "gap_listing",
    "get_gap",
    "last_run",
    "latest_data",
    "list_gaps",
    "load_window",
    "priority",
    "read_gap_window",
    "record_gaps",
    "refresh_gaps",
    "settle_vectors",
    "texts_of",
    "warm_vectors",
    "warming",
]

DEFAULT_WINDOW_DAYS = 28


@dataclass(frozen=True, slots=True)
class RefreshResult:
    deployment: str
    run_id: int | None
    skipped: str | None = None
    candidates: int = 0
    gaps: int = 0
    new: int = 0
    gone: int = 0


def latest_data(events: EventStore, deployment: str) -> datetime | None:
    value = events.query(
        "SELECT max(started_at) AS m FROM interactions WHERE deployment = ?", [deployment]
    )["m"][0].as_py()
    return aware(cast(datetime, value)) if value is not None else None


def load_window(
    events: EventStore, deployment: str, start: datetime, end: datetime
) -> tuple[pa.Table, pa.Table]:
    """The interactions started in ``[start, end)`` and their turns (the columns gaps use)."""
    interactions = events.query(
        f"SELECT {', '.join(INTERACTION_COLUMNS)} FROM interactions "  # noqa: S608 - fixed names
        "WHERE deployment = ? AND started_at >= ? AND started_at < ?",
        [deployment, start, end],
    )
    cols = ", ".join(f"t.{c}" for c in ("interaction_id", "seq", *TURN_COLUMNS))
    turns = events.query(
        f"SELECT {cols} FROM turns t JOIN interactions i "  # noqa: S608 - fixed names
        "ON i.deployment = t.deployment AND i.interaction_id = t.interaction_id "
        "WHERE t.deployment = ? AND i.started_at >= ? AND i.started_at < ?",
        [deployment, start, end],
    )
    return interactions, turns


def candidate_texts(
    events: EventStore, deployment: str, since: datetime | None = None
) -> list[str]:
    """The distinct customer messages of the deployment that a clustering of some window of
    its history may embed: those of conversations where an answer fell back or had low
    confidence, and those before the first agent's turn in conversations that went to a
    person (:func:`find_candidates` picks among them); with ``since``, of the conversations
    started then or later only."""
    after = "AND i.started_at >= ? " if since is not None else ""
    table = events.query(
        "SELECT DISTINCT t.text FROM turns t JOIN interactions i "  # noqa: S608 - fixed text
        "ON i.deployment = t.deployment AND i.interaction_id = t.interaction_id "
        f"WHERE t.deployment = ? {after}AND t.role = 'user' AND t.text IS NOT NULL AND ("
        "(i.outcome IN ('escalated', 'transferred') "
        "AND (i.first_agent_seq IS NULL OR t.seq < i.first_agent_seq)) "
        "OR t.interaction_id IN (SELECT interaction_id FROM turns WHERE deployment = ? "
        "AND role = 'assistant' AND (fallback OR confidence < ?))) ORDER BY t.text",
        [deployment, *([since] if since is not None else []), deployment, LOW_CONFIDENCE],
    )
    return [str(t) for t in table["text"].to_pylist() if t and str(t).strip()]


def confident_texts(events: EventStore, deployment: str, window_days: int) -> list[str]:
    """The confidently answered messages a clustering of the deployment's latest
    ``window_days`` reads to learn how far apart its intents lie (:func:`confident_turns`):
    with :func:`candidate_texts`, every text that clustering embeds."""
    latest = latest_data(events, deployment)
    if latest is None:
        return []
    end = latest + timedelta(microseconds=1)
    interactions, turns = load_window(events, deployment, end - timedelta(days=window_days), end)
    return confident_turns(turns, interactions).text


_CACHE: dict[tuple[str, str], np.ndarray] = {}
CACHE_SIZE = 50_000  # texts; at 384 float32 dimensions about 80 MB


# Per encoder, the thread embedding texts ahead of the analysis (:func:`warm_vectors`).
_WARMING: dict[str, threading.Thread] = {}


def warm_vectors(encoder: str, texts: Iterable[str]) -> threading.Thread:
    """Embed ``texts`` into this process's vector cache on a thread of its own, while the
    caller goes on (ONNX Runtime releases the GIL, so the encoding takes another core).

    The next clustering waits for it before reading the cache. A text's vector does not
    depend on the texts it is batched with, so a warmed vector is the one the clustering would
    have computed itself: the gaps are the same, sooner. At most :data:`CACHE_SIZE` texts.
    """
    enc = get_encoder(encoder)  # loaded here: a model is loaded once, on one thread
    earlier = _WARMING.get(enc.name)
    wanted = list(dict.fromkeys(texts))

    def encode() -> None:
        # What an earlier warming is still embedding is not embedded twice: this one starts
        # where it ends (the caller does not wait for it).
        if earlier is not None:
            earlier.join()
        todo = [t for t in wanted if (enc.name, t) not in _CACHE][:CACHE_SIZE]
        if len(_CACHE) + len(todo) > CACHE_SIZE:
            _CACHE.clear()
        for i in range(0, len(todo), 1024):
            chunk = todo[i : i + 1024]
            _CACHE.update(((enc.name, t), v) for t, v in zip(chunk, enc.encode(chunk), strict=True))

    thread = threading.Thread(target=encode, name=f"daytwo-gap-vectors-{enc.name}")
    _WARMING[enc.name] = thread
    thread.start()
    return thread


def warming(encoder: str) -> bool:
    """Whether a warming of this process's vector cache for ``encoder`` is still at work."""
    thread = _WARMING.get(get_encoder(encoder).name)
    return thread is not None and thread.is_alive()


def vectors_settling() -> bool:
    """Whether a warming of this process's vector cache is still at work (what
    :func:`settle_vectors` would wait for)."""
    return any(thread.is_alive() for thread in _WARMING.values())


def settle_vectors() -> None:
    """Wait for every warming of this process's vector cache to finish (before a fork: the
    child finds the vectors in its copy of the cache, and no half-filled one)."""
    for name in list(_WARMING):
        _wait_for_warming(name)


def _wait_for_warming(encoder: str) -> None:
    pending = _WARMING.pop(encoder, None)
    if pending is not None:
        pending.join()


class NotInCache(RuntimeError):
    """Vectors asked of a process that only reads its cache (:func:`cache_only`)."""


# Whether this process may run an encoder (a forked worker may not: see :func:`cache_only`).
_ENCODE_HERE = True


def cache_only() -> None:
    """Read vectors from this process's cache only, never running an encoder: for a process
    forked from one that loaded an encoder, whose inference session (its thread pools were not
    copied by the fork) can neither run nor be released there. A clustering that needs a
    vector the cache lacks raises :class:`NotInCache`."""
    global _ENCODE_HERE
    _ENCODE_HERE = False


def _embed(encoder: Encoder, texts: Sequence[str]) -> np.ndarray:
    """Embed each distinct text once (support traffic repeats itself), and each text seen by a
    recent run of this process not again: the scheduled analysis and the gap refresh cluster
    the same weeks' messages. One row per text (:func:`_embed_distinct` without repeating
    them)."""
    vectors, index = _embed_distinct(encoder, texts)
    out: np.ndarray = vectors[index] if len(index) else vectors
    return out


def _embed_distinct(encoder: Encoder, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The distinct texts' vectors, in the order each first appears, and for each text its row
    among them (see :func:`_embed`).

    The distinct texts' vectors are held in one array (the encoder's own when every text is
    new: no second copy of them); the cache keeps rows of it (views: not to be changed)."""
    _wait_for_warming(encoder.name)
    unique: dict[str, int] = {}
    index = np.array([unique.setdefault(t, len(unique)) for t in texts], dtype=np.int64)
    cached = [_CACHE.get((encoder.name, t)) for t in unique]
    missing = [t for t, v in zip(unique, cached, strict=True) if v is None]
    if missing and not _ENCODE_HERE:
        raise NotInCache(f"{len(missing)} texts have no {encoder.name} vector in the cache")
    if missing and len(missing) == len(unique):
        vectors = encoder.encode(missing)  # every text new: already in the order of ``unique``
    else:
        vectors = np.zeros((len(unique), encoder.dim), dtype=np.float32)
        for i, v in enumerate(cached):
            if v is not None:
                vectors[i] = v
        if missing:
            rows = np.fromiter((unique[t] for t in missing), dtype=np.int64, count=len(missing))
            vectors[rows] = encoder.encode(missing)
    del cached
    if missing:
        if len(_CACHE) + len(missing) > CACHE_SIZE:
            _CACHE.clear()
        if len(missing) <= CACHE_SIZE:
            _CACHE.update(((encoder.name, t), vectors[unique[t]]) for t in missing)
    return vectors, index


# The granularity of the last few sets of confidently answered turns: up to 20 per intent, the
# first of the window, so a replay's weekly looks mostly read the same ones.
_GRANULARITY: dict[bytes, Granularity | None] = {}
_GRANULARITY_LOCK = threading.Lock()  # a server's scheduled analysis and the API may both ask
GRANULARITY_KEPT = 16


def _granularity(vectors: np.ndarray, names: Sequence[str]) -> Granularity | None:
    """:func:`intent_granularity`, computed once per distinct input (the same vectors and
    intents give the same cut: it is a pure function of them)."""
    rows = np.ascontiguousarray(vectors)
    key = hashlib.sha256(
        repr((rows.shape, rows.dtype.str, list(names))).encode() + rows.tobytes()
    ).digest()
    with _GRANULARITY_LOCK:
        if key in _GRANULARITY:
            return _GRANULARITY[key]
    found = intent_granularity(vectors, names)  # outside the lock: a second or two of linkage
    with _GRANULARITY_LOCK:
        if len(_GRANULARITY) >= GRANULARITY_KEPT:
            _GRANULARITY.pop(next(iter(_GRANULARITY)))
        _GRANULARITY[key] = found
    return found


def _previous(ledger: Ledger, deployment: str, encoder: str) -> list[PreviousGap]:
    with ledger.session() as session:
        records = session.scalars(
            select(GapRecord).where(GapRecord.deployment == deployment, GapRecord.status == "open")
        ).all()
        members: dict[str, set[tuple[str, int]]] = {r.id: set() for r in records}
        for gap_id, iid, seq in session.execute(
            select(GapMember.gap_id, GapMember.interaction_id, GapMember.seq).where(
                GapMember.gap_id.in_(list(members))
            )
        ):
            members[gap_id].add((iid, int(seq)))
        return [
            PreviousGap(
                r.id,
                frozenset(members[r.id]),
                np.asarray(r.centroid, dtype=np.float32) if r.encoder == encoder else None,
            )
            for r in records
        ]


def effective_params(
    params: GapParams | None,
    encoder: Encoder,
    granularity: Granularity | None = None,
    traffic_regions: float = float(MIN_REGIONS),
) -> GapParams:
    """``params`` with the similarity this deployment's own intents show (plus the encoder's
    offset), or the encoder's own without them, and the encoder's looser passes, where no
    clustering was given. Without known intents the similarity is measured centred on the
    deployment's own traffic (``ClusterParams.centre``), the only scale it has, unless that
    traffic holds fewer than :data:`MIN_REGIONS` regions of near-paraphrases
    (``traffic_regions``): then the encoder's uncentred similarity. Centred, what no gap holds
    then joins its nearest gap down to the tuning's ``join`` below the cut; with known
    intents, what no gap holds and clearly belongs to one of them is attached to it
    (``ClusterParams.attach``)."""
    params = params or GapParams()
    if params.cluster is None:
        tuning = params.tuning or GapTuning(
            encoder.min_similarity,
            encoder.offset,
            encoder.relax,
            join=encoder.join,
            attach=encoder.attach,
            attach_margin=encoder.attach_margin,
        )
        centre = granularity is None and traffic_regions >= MIN_REGIONS
        if granularity is not None:
            similarity = granularity.similarity + tuning.offset
        elif centre:
            similarity = tuning.similarity
        else:
            similarity = tuning.plain if tuning.plain is not None else encoder.plain_similarity
        params = dataclasses.replace(
            params,
            cluster=ClusterParams(
                min_similarity=round(similarity, 3),
                relax=tuning.relax,
                centre=centre,
                join=tuning.join if centre else None,
                attach=tuning.attach if granularity is not None else None,
                attach_margin=tuning.attach_margin,
            ),
        )
    return params


@dataclass(frozen=True, slots=True)
class Detection:
    """One clustering of candidates into gaps, and how it was cut."""

    gaps: list[Gap]
    clustered: int  # candidates that ended in a gap
    params: GapParams
    granularity: Granularity | None


def detect_gaps(
    cand: Candidates,
    encoder: Encoder,
    deployment: str,
    as_of: datetime,
    *,
    confident: tuple[list[str], list[str]] = ([], []),
    previous: Sequence[PreviousGap] = (),
    params: GapParams | None = None,
) -> Detection:
    """Embed and cluster candidates, cut where this deployment's own intents separate."""
    texts, names = confident
    known_vectors = _embed(encoder, texts) if texts else None
    granularity = _granularity(known_vectors, names) if known_vectors is not None else None
    # One vector per distinct text, and each candidate's row among them: the candidates
    # repeat their wordings (care-bot's 181,465 at 2 M interactions hold 6,808 texts), and a
    # vector per candidate was the gaps' largest hold that grew with the traffic.
    vectors, index = _embed_distinct(encoder, cand.text)
    spread = regions(vectors, index=index) if granularity is None else float(MIN_REGIONS)
    params = effective_params(params, encoder, granularity, spread)
    assert params.cluster is not None  # effective_params always sets it
    # The clustering makes the vectors unit in place; the attachment of a known intent's
    # misses reads them after, unit as it needs them (in place too: nothing reads them after
    # it). In a copy: the rows are the cache's own (views).
    vectors = np.array(vectors, dtype=np.float32, order="C")
    clustering = cluster_utterances(vectors, params.cluster, overwrite=True, index=index)
    known = known_intents(names, known_vectors) if known_vectors is not None else None
    attached: dict[int, str] = {}
    if known is not None and len(known.names) and params.cluster.attach is not None:
        clustering, rows = attach_to_intents(
            vectors, clustering, known.centroids, params.cluster, overwrite=True, index=index
        )
        attached = {g: known.names[r] for g, r in rows.items()}
    gaps = build_gaps(
        deployment,
        cand,
        clustering,
        as_of,
        known=known,
        previous=previous,
        params=params,
        attached=attached,
    )
    return Detection(gaps, int((clustering.labels >= 0).sum()), params, granularity)


def refresh_gaps(
    ledger: Ledger,
    events: EventStore,
    deployment: str,
    *,
    encoder: str,
    window_days: int = DEFAULT_WINDOW_DAYS,
    as_of: datetime | None = None,
    force: bool = False,
    params: GapParams | None = None,
) -> RefreshResult:
    """Find the deployment's gaps over the last ``window_days`` and keep them in the ledger."""
    window = read_gap_window(
        ledger, events, deployment, encoder=encoder, window_days=window_days, as_of=as_of,
        force=force, params=params,
    )  # fmt: skip
    if isinstance(window, RefreshResult):
        return window
    return record_gaps(ledger, window, *compute_gaps(window))


@dataclass(frozen=True, slots=True)
class GapWindow:
    """What one clustering of a deployment's gaps reads from the stores (:func:`read_gap_window`):
    its computation (:func:`compute_gaps`) reads nothing else, so another process may run it."""

    deployment: str
    encoder: str
    params: GapParams
    read_at: datetime
    start: datetime
    end: datetime
    # The engine's reads of the window (``reads.py``): its candidate turns and its confidently
    # answered turns, not every turn.
    candidates: pa.Table
    confident: pa.Table
    previous: list[PreviousGap]


def read_gap_window(
    ledger: Ledger,
    events: EventStore,
    deployment: str,
    *,
    encoder: str,
    window_days: int = DEFAULT_WINDOW_DAYS,
    as_of: datetime | None = None,
    force: bool = False,
    params: GapParams | None = None,
) -> GapWindow | RefreshResult:
    """The reads of :func:`refresh_gaps`, or its result when it has nothing to do."""
    if window_days < 1:
        raise InputError("The gaps window must be at least one day.")
    params = params or GapParams()
    read_at = datetime.now(UTC)  # deliveries after this are new to the next run
    latest = latest_data(events, deployment)
    if latest is None:
        raise NotFoundError(f"Deployment {deployment!r} has no interactions.")
    end = as_of or latest + timedelta(microseconds=1)
    previous_run = last_run(ledger, deployment)
    if (
        not force
        and previous_run is not None
        and previous_run.data_through is not None
        and aware(previous_run.data_through) >= end
        and previous_run.encoder == encoder
        # New data is what was delivered since, whatever its dates (a backfill too).
        and not events.arrived_since(deployment, aware(previous_run.started_at))
    ):
        return RefreshResult(deployment, previous_run.id, skipped="no new data since the last run")
    start = end - timedelta(days=window_days)
    from daytwo.detect.runner import engine_read  # the runner imports the detectors: here late

    return GapWindow(
        deployment, encoder, params, read_at, start, end,
        engine_read(events, deployment, CANDIDATES, start, end),
        engine_read(events, deployment, CONFIDENT, start, end),
        _previous(ledger, deployment, encoder),
    )  # fmt: skip


def compute_gaps(window: GapWindow) -> tuple[Candidates, Detection]:
    """The candidates of ``window`` and their clustering into gaps: no store is read."""
    cand = candidates_of(window.candidates)
    good = confident_of(window.confident)
    found = detect_gaps(
        cand,
        get_encoder(window.encoder),
        window.deployment,
        window.end,
        confident=(good.text, good.intent),
        previous=window.previous,
        params=window.params,
    )
    return cand, found


def record_gaps(
    ledger: Ledger, window: GapWindow, cand: Candidates, found: Detection
) -> RefreshResult:
    """Keep the gaps :func:`compute_gaps` found in ``window`` in the ledger."""
    return _record(
        ledger, window.deployment, window.encoder, cand, found, window.previous, window.start,
        window.end, window.read_at,
    )  # fmt: skip


def _record(
    ledger: Ledger,
    deployment: str,
    encoder: str,
    cand: Candidates,
    found_gaps: Detection,
    previous: Sequence[PreviousGap],
    start: datetime,
    end: datetime,
    read_at: datetime,
) -> RefreshResult:
    now = clock.now()
    gaps = found_gaps.gaps
    params: dict[str, Any] = cast(dict[str, Any], _jsonable(dataclasses.asdict(found_gaps.params)))
    if found_gaps.granularity is not None:
        params["granularity"] = dataclasses.asdict(found_gaps.granularity)
    found = {g.id for g in gaps}
    with ledger.session() as session:
        run = GapRun(
            deployment=deployment,
            encoder=encoder,
            started_at=read_at,
            finished_at=now,
            data_start=start,
            data_through=end,
            candidates=len(cand),
            clustered=found_gaps.clustered,
            gaps=len(gaps),
            params=params,
        )
        session.add(run)
        session.flush()
        existing = {
            r.id: r for r in session.scalars(select(GapRecord).where(GapRecord.id.in_(list(found))))
        }
        new = 0
        for gap in gaps:
            record = existing.get(gap.id)
            if record is None:
                new += 1
                record = GapRecord(id=gap.id, deployment=deployment, runs_seen=0)
                session.add(record)
            _fill(record, gap, cand, encoder, run.id)
            record.runs_seen = (record.runs_seen or 0) + 1
        session.flush()
        if found:
            session.execute(delete(GapMember).where(GapMember.gap_id.in_(list(found))))
        # One multi-row insert: tens of thousands of members, no ORM objects to build.
        started = cand.started_at.astype("datetime64[us]").astype(datetime)
        rows = [
            {
                "gap_id": gap.id,
                "interaction_id": cand.interaction_id[int(r)],
                "seq": int(cand.seq[int(r)]),
                "started_at": started[int(r)].replace(tzinfo=UTC),
                "similarity": float(s),
            }
            for gap in gaps
            for r, s in zip(gap.members, gap.similarity, strict=True)
        ]
        if rows:
            session.execute(insert(GapMember), rows)
        gone_ids = [p.id for p in previous if p.id not in found]
        for record in session.scalars(select(GapRecord).where(GapRecord.id.in_(gone_ids))):
            record.status = "gone"
        return RefreshResult(
            deployment, run.id, candidates=len(cand), gaps=len(gaps), new=new, gone=len(gone_ids)
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def _fill(record: GapRecord, gap: Gap, cand: Candidates, encoder: str, run_id: int) -> None:
    record.status = "open"
    record.label = gap.label[:200]
    record.keywords = list(gap.keywords)
    record.kind = gap.kind
    record.intent = gap.intent
    record.kind_reason = gap.kind_reason
    record.volume = gap.volume
    record.recent = gap.recent
    record.previous = gap.previous
    record.growth = gap.growth
    record.weekly = [{"week": w.isoformat(), "n": n} for w, n in gap.weekly]
    record.journeys = dict(gap.journeys)
    record.signals = {**gap.signals, "customers": gap.customers}
    record.examples = [
        {"interaction_id": cand.interaction_id[r], "seq": int(cand.seq[r])} for r in gap.examples
    ]
    record.centroid = [round(float(v), 6) for v in gap.centroid]
    record.encoder = encoder
    record.first_seen = (
        min(aware(record.first_seen), gap.first_seen) if record.first_seen else gap.first_seen
    )
    record.last_seen = gap.last_seen
    record.last_run_id = run_id
