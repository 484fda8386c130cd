"""From clustered candidates to gaps: ids kept across runs, labels, type, volume and growth.

Pure: numpy arrays and the :class:`~daytwo.detect.gaps.candidates.Candidates` in, frozen
:class:`Gap` values out. The service reads the stores and writes the ledger around it.

**Stable ids.** A gap found again keeps its id: each new gap is matched to a gap of the
previous run that shares at least ``match_overlap`` of the smaller one's utterances, or whose
centre is at least ``match_similarity`` close (same encoder only), best pairs first. A gap with
no match is new and takes an id derived from its earliest utterance, so clustering the same
data from scratch gives the same ids too.

**Type.** ``missing_knowledge`` when most of the gap's utterances were understood (an intent at
or above the low-confidence line, no fallback) and the customer still rephrased or went to a
person: the assistant knew what was asked but had no answer. ``misrouting`` when the gap is as
close to an intent the assistant handles well as its own utterances are to each other, or when
most of its low-confidence answers guessed one known intent: the intent exists, these
phrasings do not reach it. ``new_intent`` otherwise: nothing the assistant knows is near.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np

from daytwo.detect.gaps.candidates import SIGNALS, Candidates
from daytwo.detect.gaps.cluster import Clustering, ClusterParams, members
from daytwo.detect.gaps.labels import gap_keywords, gap_label
from daytwo.interactions.facts import LOW_CONFIDENCE
from daytwo.store.events.columns import epoch_us

GAP_KINDS = ("new_intent", "missing_knowledge", "misrouting", "off_topic")
# Business gaps, as against off-topic chit-chat, which is counted apart.
BUSINESS_KINDS = ("new_intent", "missing_knowledge", "misrouting")
LABEL_CHARS = 80
MemberKey = tuple[str, int]


@dataclass(frozen=True, slots=True)
class GapTuning:
    """Where gaps end, per encoder (see :mod:`daytwo.detect.gaps.granularity`)."""

    similarity: float  # without known intents to read the granularity from
    offset: float  # added to the similarity at which the known intents separate
    relax: tuple[float, ...]  # looser passes over what no gap holds
    plain: float | None = None  # uncentred, traffic too small to centre; None: the encoder's
    join: float | None = None  # centred, what no gap holds joins a gap this far below the cut
    # With known intents: what no gap holds goes to its nearest known intent this far above
    # the cut and this far ahead of the next intent (``ClusterParams.attach``; None: never).
    attach: float | None = None
    attach_margin: float = 0.0


@dataclass(frozen=True, slots=True)
class GapParams:
    """How gaps are built (the defaults are the product's choice)."""

    cluster: ClusterParams | None = None  # None: cut where the deployment's intents separate
    tuning: GapTuning | None = None  # None: the encoder's own
    keywords: int = 3
    examples: int = 5
    recent_days: int = 7
    match_overlap: float = 0.5
    match_similarity: float = 0.9
    understood_share: float = 0.5
    guessed_share: float = 0.6


@dataclass(frozen=True, slots=True)
class KnownIntents:
    """Centres of what each intent looks like when the assistant handles it well."""

    names: list[str]
    centroids: np.ndarray  # unit rows
    # How far the business reaches: the similarity at which its most isolated intent meets its
    # nearest neighbour. A gap farther than this from every intent the assistant handles is
    # outside the business (chit-chat, general knowledge).
    floor: float | None = None


@dataclass(frozen=True, slots=True)
class PreviousGap:
    """A gap of the previous run, for matching ids."""

    id: str
    members: frozenset[MemberKey]
    centroid: np.ndarray | None  # None when it was built with another encoder


@dataclass(frozen=True, slots=True)
class Gap:
    """One knowledge gap. ``members`` and ``examples`` index into the candidates."""

    id: str
    label: str
    keywords: list[str]
    kind: str
    intent: str | None
    kind_reason: str
    members: np.ndarray
    similarity: np.ndarray  # of each member to the centre
    examples: list[int]
    centroid: np.ndarray
    volume: int
    recent: int
    previous: int
    growth: float | None
    weekly: list[tuple[date, int]]
    journeys: dict[str, int]
    signals: dict[str, int]
    customers: int
    first_seen: datetime
    last_seen: datetime


def known_intents(names: Sequence[str], vectors: np.ndarray, min_count: int = 3) -> KnownIntents:
    """The unit centre of each intent with at least ``min_count`` examples."""
    by_name: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        by_name.setdefault(name, []).append(i)
    kept = sorted(n for n, rows in by_name.items() if len(rows) >= min_count)
    if not kept:
        return KnownIntents([], np.zeros((0, vectors.shape[1] if vectors.ndim == 2 else 0)))
    centres = np.stack([vectors[by_name[n]].mean(axis=0) for n in kept])
    centres /= np.maximum(np.linalg.norm(centres, axis=1, keepdims=True), 1e-12)
    floor = None
    if len(kept) >= MIN_DOMAIN_INTENTS:
        between = centres @ centres.T
        np.fill_diagonal(between, -1.0)
        floor = float(between.max(axis=1).min())
    return KnownIntents(kept, centres.astype(np.float32), floor)


MIN_DOMAIN_INTENTS = 5


def kind_phrase(kind: str, intent: str | None) -> str:
    """What the gap asks of its owner, in words: "new intent", "retrain intent X"..."""
    if kind == "misrouting" and intent:
        return f"retrain intent {intent}"
    if kind == "missing_knowledge" and intent:
        return f"missing answer in {intent}"
    return kind.replace("_", " ").replace("off topic", "off-topic")


def new_gap_id(deployment: str, members: Sequence[MemberKey]) -> str:
    """The id of a newly seen gap: from its first utterance (by interaction id, then seq)."""
    first = min(members)
    digest = hashlib.sha256(f"{deployment}\x1f{first[0]}\x1f{first[1]}".encode()).hexdigest()
    return f"gap-{digest[:12]}"


def assign_ids(
    deployment: str,
    members: Sequence[frozenset[MemberKey]],
    centroids: np.ndarray,
    previous: Sequence[PreviousGap],
    params: GapParams,
) -> list[str]:
    """An id per new gap: a previous gap's id where they match (see the module docstring)."""
    pairs: list[tuple[float, float, int, int]] = []
    for i, mine in enumerate(members):
        for j, old in enumerate(previous):
            shared = len(mine & old.members)
            overlap = shared / max(1, min(len(mine), len(old.members)))
            sim = float(centroids[i] @ old.centroid) if old.centroid is not None else -1.0
            if overlap >= params.match_overlap or sim >= params.match_similarity:
                pairs.append((overlap, sim, i, j))
    pairs.sort(key=lambda p: (-p[0], -p[1], p[2], p[3]))
    ids: list[str | None] = [None] * len(members)
    taken: set[int] = set()
    for _, _, i, j in pairs:
        if ids[i] is None and j not in taken:
            ids[i] = previous[j].id
            taken.add(j)
    used = {i for i in ids if i is not None} | {p.id for p in previous}
    out: list[str] = []
    for i, mine in enumerate(members):
        gid = ids[i]
        if gid is None:
            ordered = sorted(mine)
            k = 0
            gid = new_gap_id(deployment, ordered)
            while gid in used and k + 1 < len(ordered):
                k += 1
                gid = new_gap_id(deployment, ordered[k:])
            used.add(gid)
        out.append(gid)
    return out


def _to_datetime(value: np.datetime64) -> datetime:
    micros = int(value.astype("datetime64[us]").astype(np.int64))
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)


def _instant(value: datetime) -> np.datetime64:
    """An aware datetime as a UTC ``datetime64[us]``, to the microsecond."""
    return np.datetime64(epoch_us(value), "us")


_WEEK_US = 7 * 86_400 * 1_000_000


def _weekly(started: np.ndarray, as_of: datetime) -> list[tuple[date, int]]:
    """How many of ``started`` (``datetime64[us]``, UTC) fell in each 7 days ending at
    ``as_of``, oldest first, from the period of the earliest to the last (an empty period
    counts 0), each named by its first day. Every point is a whole week, so the last one (the
    recent days) does not read as a collapse the way a calendar week that has only begun
    would."""
    if not len(started):
        return []
    # Each period holds its first instant, not its last: the last period is the recent days
    # exactly ([as_of - 7 days, as_of)), the one before the previous ones.
    ago = (_instant(as_of) - started).astype(np.int64) - 1
    counts = np.bincount(np.maximum(ago // _WEEK_US, 0))
    week = timedelta(days=7)
    return [
        ((as_of - week * (p + 1)).date(), int(counts[p])) for p in range(len(counts) - 1, -1, -1)
    ]


def classify(
    cand: Candidates,
    rows: np.ndarray,
    centroid: np.ndarray,
    similarity: np.ndarray,
    known: KnownIntents | None,
    params: GapParams,
) -> tuple[str, str | None, str]:
    """The gap's type, the intent it concerns (if any) and why, in words."""
    n = len(rows)
    conf = cand.answer_confidence[rows]
    fell_back = cand.signals["fallback"][rows]
    intents = [cand.answer_intent[int(r)] for r in rows]
    understood = (
        (~fell_back) & (conf >= LOW_CONFIDENCE) & np.array([i is not None for i in intents])
    )
    if understood.sum() >= params.understood_share * n:
        top, count = Counter(i for i, u in zip(intents, understood, strict=True) if u).most_common(
            1
        )[0]
        return (
            "missing_knowledge",
            top,
            f"{int(understood.sum())} of {n} were understood ({count} as {top!r}) "
            "and the customer still rephrased or went to a person",
        )
    known_names = set(known.names) if known is not None else set()
    guesses = Counter(i for i, f in zip(intents, fell_back, strict=True) if i and not f)
    if guesses and known_names:
        guess, count = guesses.most_common(1)[0]
        if guess in known_names and count >= params.guessed_share * n:
            return (
                "misrouting",
                guess,
                f"{count} of {n} were answered as {guess!r} with low confidence",
            )
    if known is not None and len(known.names):
        sims = known.centroids @ centroid
        best = int(np.argmax(sims))
        cohesion = float(np.median(similarity))
        if float(sims[best]) >= cohesion:
            return (
                "misrouting",
                known.names[best],
                f"as close to the known intent {known.names[best]!r} ({sims[best]:.2f}) as its "
                f"own utterances are to their centre ({cohesion:.2f})",
            )
        if known.floor is not None and float(sims[best]) < known.floor:
            return (
                "off_topic",
                None,
                f"outside what the assistant is for: its closest intent, {known.names[best]!r}, "
                f"is {sims[best]:.2f} alike, less than the assistant's most isolated intent is "
                f"to its nearest one ({known.floor:.2f})",
            )
        return (
            "new_intent",
            None,
            f"nothing the assistant handles is near: closest is {known.names[best]!r} "
            f"({sims[best]:.2f}, utterances to their centre {cohesion:.2f})",
        )
    return "new_intent", None, "no intent the assistant handles well to compare with"


def build_gaps(
    deployment: str,
    cand: Candidates,
    clustering: Clustering,
    as_of: datetime,
    *,
    known: KnownIntents | None = None,
    previous: Sequence[PreviousGap] = (),
    params: GapParams | None = None,
    attached: dict[int, str] | None = None,
) -> list[Gap]:
    """The gaps of one clustering of ``cand``, largest first. ``attached``: the gaps made of
    a known intent's misses (:func:`~daytwo.detect.gaps.cluster.attach_to_intents`), by
    gap index, with that intent: each is typed ``misrouting`` for it."""
    params = params or GapParams()
    k = clustering.n_gaps
    if k == 0:
        return []
    keywords = gap_keywords(cand.text, clustering.labels, k, params.keywords)
    member_rows = members(clustering.labels, k)
    member_keys = [
        frozenset((cand.interaction_id[int(r)], int(cand.seq[int(r)])) for r in rows)
        for rows in member_rows
    ]
    ids = assign_ids(deployment, member_keys, clustering.centroids, previous, params)
    recent_start = as_of - timedelta(days=params.recent_days)
    previous_start = recent_start - timedelta(days=params.recent_days)
    # The same instants compared as numbers, not as a datetime object a member.
    stamps = cand.started_at.astype("datetime64[us]")
    end, recent_from, previous_from = (_instant(t) for t in (as_of, recent_start, previous_start))
    words = wordings(cand)
    gaps: list[Gap] = []
    for g, rows in enumerate(member_rows):
        sim = clustering.similarity[rows]
        when = stamps[rows]
        recent = int(((when >= recent_from) & (when < end)).sum())
        before = int(((when >= previous_from) & (when < recent_from)).sum())
        weekly = _weekly(when, as_of)
        intent: str | None
        if attached and g in attached:
            kind, intent = "misrouting", attached[g]
            reason = (
                f"{len(rows)} utterances no gap holds, each clearly nearest the known intent "
                f"{intent!r} (closer to its well-answered turns than to any other intent's)"
            )
        else:
            kind, intent, reason = classify(cand, rows, clustering.centroids[g], sim, known, params)
        gaps.append(
            Gap(
                id=ids[g],
                label=representative(cand, rows, sim, words) or gap_label(keywords[g]),
                keywords=keywords[g],
                kind=kind,
                intent=intent,
                kind_reason=reason,
                members=rows,
                similarity=sim,
                examples=_examples(cand, rows, sim, params.examples),
                centroid=clustering.centroids[g],
                volume=len(rows),
                recent=recent,
                previous=before,
                growth=(recent - before) / before if before else None,
                weekly=weekly,
                journeys=dict(
                    Counter(cand.journey[int(r)] or "(none)" for r in rows).most_common()
                ),
                signals={s: int(cand.signals[s][rows].sum()) for s in SIGNALS},
                customers=len({cand.customer_ref[int(r)] for r in rows} - {None}),
                first_seen=_to_datetime(when.min()),
                last_seen=_to_datetime(when.max()),
            )
        )
    return gaps


@dataclass(frozen=True, slots=True)
class Wordings:
    """Each candidate's wording as :func:`representative` compares them, worked out once per
    distinct text (support traffic repeats itself) instead of once per member of each gap."""

    key: np.ndarray  # per candidate: the number of its wording's key (-1: no words)
    keys: list[str]  # per key number: the wording, spaces collapsed, lower case, no end marks
    text: np.ndarray  # per candidate: the number of its text as shown
    shown: list[str]  # per text number: the text, spaces collapsed


def wordings(cand: Candidates) -> Wordings:
    """The :class:`Wordings` of every candidate of ``cand``."""
    texts: dict[str, int] = {}
    text = np.fromiter(
        (texts.setdefault(t, len(texts)) for t in cand.text), dtype=np.int64, count=len(cand.text)
    )
    shown = [" ".join(t.split()) for t in texts]
    numbers: dict[str, int] = {}
    key_of = np.array(
        [numbers.setdefault(k, len(numbers)) if k else -1
         for k in (s.lower().rstrip("?.! ") for s in shown)],
        dtype=np.int64,
    )  # fmt: skip
    key = key_of[text] if len(text) else np.zeros(0, dtype=np.int64)
    return Wordings(key, list(numbers), text, shown)


def representative(
    cand: Candidates, rows: np.ndarray, sim: np.ndarray, words: Wordings | None = None
) -> str | None:
    """The gap's label in its users' words: of its wordings, the one nearest its centre
    (repeats weigh in: the wording most members share wins a near tie), cut at a word
    boundary when long. ``words``: :func:`wordings` of ``cand``, when the caller has them.

    Per wording: its members' highest similarity (a NaN never wins, nor anything below -1),
    how many members say it, and the text of the first of them, as shown."""
    words = words if words is not None else wordings(cand)
    rows = np.asarray(rows, dtype=np.int64)
    ids = words.key[rows]
    said = ids >= 0
    if not said.any():
        return None
    ids, rows, sim = ids[said], rows[said], np.asarray(sim, dtype=np.float64)[said]
    found, first, inverse, count = np.unique(
        ids, return_index=True, return_inverse=True, return_counts=True
    )
    weight = np.full(len(found), -1.0)
    np.fmax.at(weight, inverse, sim)
    most = int(count.max())
    best = max(
        range(len(found)),
        key=lambda j: (
            float(weight[j]) + 0.05 * int(count[j]) / most,
            -len(words.keys[found[j]]),
            words.keys[found[j]],
        ),
    )
    text = words.shown[int(words.text[rows[first[best]]])]
    if len(text) > LABEL_CHARS:
        text = text[: LABEL_CHARS - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"
    return text


def _examples(cand: Candidates, rows: np.ndarray, sim: np.ndarray, k: int) -> list[int]:
    """The ``k`` utterances nearest the centre, one per distinct wording."""
    out: list[int] = []
    seen: set[str] = set()
    for i in np.argsort(-sim, kind="stable"):
        row = int(rows[int(i)])
        words = " ".join(cand.text[row].lower().split())
        if words in seen:
            continue
        seen.add(words)
        out.append(row)
        if len(out) >= k:
            break
    return out
