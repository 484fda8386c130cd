"""The ``no_emerging_gap`` check: no new subject among the questions a journey left unanswered.

Unlike the other checks, which read the ledger, this one reads the events: every question of
the scope (a journey, or the whole deployment) whose answer was a fallback, from the start of
the baseline window to the end of the evaluated day, and the scope's conversations per day.
Its window's days are tested against everything before them (see
:mod:`daytwo.plan.gap_calc`), each evaluation on its own, so a gap is seen on the day its
words turn up rather than at the analysis's weekly clustering of the gaps.

Counting the words of every unanswered question since the baseline began is the costly part
(a hundred thousand questions on a large deployment). The engine counts them, per day and word
the conversations that used it, for the conversations whose questions are plain ASCII; only
the others' questions are read and split in Python (:func:`gap_calc.words` is Unicode's, the
engines' regular expressions agree with it on ASCII only). A day's words do not change once
the day is over. Each day's words are therefore kept per store and scope (:func:`read_counts`)
with the day's fingerprint: its unanswered questions, the conversations that asked them and
their characters, which one grouped query reads without sending any text. A day whose
fingerprint is unchanged is reused; only the days that changed (the evaluated day, late
deliveries, text cleared by retention) are counted again. A change that kept a past day's
questions, conversations and characters all the same would not be seen until the process
restarts.
"""

from __future__ import annotations

import threading
import weakref
from collections import Counter, OrderedDict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode

from daytwo.deployments.schemas import DeploymentPublic
from daytwo.metrics.service import baseline_window
from daytwo.plan import gap_calc
from daytwo.plan.ledger import MAX_BLOCKING
from daytwo.plan.schemas import CheckCriterion, CriterionResult, Evidence, Verdict
from daytwo.store.events import EventStore

# The questions whose next turn is the assistant's fallback answer (the same pairing as the
# fallback rate and the gap detector's candidates). Only the conversations with a fallback
# answer can hold one: their turns alone are paired, not every turn of the scope.
_PAIRS = (
    "FROM (SELECT interaction_id, role, text, "
    "lead(role) OVER (PARTITION BY interaction_id ORDER BY seq) AS next_role, "
    "lead(fallback) OVER (PARTITION BY interaction_id ORDER BY seq) AS next_fallback "
    "FROM turns WHERE deployment = ? AND interaction_id IN ("
    "SELECT interaction_id FROM interactions WHERE {where} AND n_fallback_turns > 0)) q "
    "JOIN interactions i ON i.interaction_id = q.interaction_id AND i.deployment = ? "
    "WHERE q.role = 'user' AND q.next_role = 'assistant' AND q.next_fallback"
)
_UNANSWERED = (
    "SELECT q.interaction_id AS interaction_id, q.text AS text, "
    "date_trunc('day', i.started_at) AS day " + _PAIRS
)
# Each day's fingerprint: its questions, the conversations that asked them, their characters.
_FINGERPRINTS = (
    "SELECT date_trunc('day', i.started_at) AS day, count(*) AS n, "
    "count(DISTINCT q.interaction_id) AS conversations, sum(length(q.text)) AS chars "
    + _PAIRS
    + " GROUP BY 1"
)
# In one query, with the questions paired once: the conversations among them with a question
# that is not plain ASCII (``w``), whose questions are read and split into words in Python
# (:func:`gap_calc.words`, whose letters and lower case are Unicode's; the engine's regular
# expressions agree with it on ASCII text only), one row each with its day, conversation and
# text; and per day, for the other conversations, the conversations whose questions used each
# word, one row each with its day, word and count: the words as :func:`gap_calc.words` finds
# them in ASCII text (runs of letters and digits, lower case, at least MIN_WORD characters,
# not all digits), counted by the engine (the function words are left out afterwards).
_WORDS = (
    "WITH u AS MATERIALIZED (" + _UNANSWERED + "), "  # noqa: S608
    r"w AS (SELECT DISTINCT interaction_id FROM u WHERE regexp_matches(coalesce(text, ''), "
    r"'[^\x01-\x7f]')) "
    "SELECT day, CAST(NULL AS VARCHAR) AS word, CAST(NULL AS BIGINT) AS n, "
    "CAST(interaction_id AS VARCHAR) AS interaction_id, CAST(text AS VARCHAR) AS text FROM u "
    "WHERE interaction_id IN (SELECT interaction_id FROM w) "
    "UNION ALL SELECT day, word, CAST(count(DISTINCT interaction_id) AS BIGINT) AS n, "
    "CAST(NULL AS VARCHAR) AS interaction_id, CAST(NULL AS VARCHAR) AS text FROM ("
    "SELECT interaction_id, day, unnest(regexp_extract_all(lower(text), '[a-z0-9]+')) AS word "
    "FROM u WHERE interaction_id NOT IN (SELECT interaction_id FROM w)) x "
    f"WHERE length(word) >= {gap_calc.MIN_WORD} AND NOT regexp_matches(word, '^[0-9]+$') "
    "GROUP BY day, word"
)
# Days kept per store: every (deployment, scope, day) of a quarter for a few hundred scopes.
KEPT_DAYS = 50_000
_PER_DAY = (
    "SELECT date_trunc('day', started_at) AS day, count(*) AS n FROM interactions "
    "WHERE {where} GROUP BY 1"
)


@dataclass(frozen=True, slots=True)
class GapInput:
    """What the check is evaluated on: the deployment, its evaluated day and first data."""

    events: EventStore
    deployment: DeploymentPublic
    through: date
    first_data: datetime | None


def _midnight(d: date) -> datetime:
    return datetime.combine(d, time(), tzinfo=UTC)


def _day(value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    raise TypeError(f"not a day: {value!r}")


Fingerprint = tuple[int, int, int]
_lock = threading.Lock()
_kept: weakref.WeakKeyDictionary[
    EventStore, OrderedDict[tuple[str, str | None, date], tuple[Fingerprint, Counter[str]]]
] = weakref.WeakKeyDictionary()


def _scope(
    deployment: str, journey: str | None, start: date, end: date
) -> tuple[str, list[object]]:
    where = "deployment = ? AND started_at >= ? AND started_at < ?"
    params: list[object] = [deployment, start, end]
    if journey is not None:
        where += " AND journey = ?"
        params.append(journey)
    return where, params


def _split(rows: list[dict[str, object]], days: set[date]) -> dict[date, Counter[str]]:
    """Per day of ``days``, the conversations whose questions in ``rows`` used each word."""
    used: dict[tuple[date, str], set[str]] = {}
    for r in rows:
        key = _day(r["day"])
        if key not in days:
            continue
        for word in gap_calc.words(str(r["text"] or "")):
            used.setdefault((key, word), set()).add(str(r["interaction_id"]))
    words: dict[date, Counter[str]] = {d: Counter() for d in days}
    for (key, word), ids in used.items():
        words[key][word] = len(ids)
    return words


def _words_per_day(
    events: EventStore, where: str, params: list[object], days: set[date]
) -> dict[date, Counter[str]]:
    """:func:`_split` of the unanswered questions ``where`` picks, for ``days``: the engine
    counts the words of the conversations whose questions are plain ASCII, Python splits the
    others' (each conversation counted on one side only, so the two add up)."""
    rows = events.query(_WORDS.format(where=where), params).to_pylist()
    words = _split([r for r in rows if r["word"] is None], days)
    for r in rows:
        if r["word"] is None:
            continue
        day, word = _day(r["day"]), str(r["word"])
        if day in days and word not in gap_calc.STOPWORDS:
            words[day][word] += int(r["n"])
    return words


def read_counts(
    events: EventStore,
    deployment: str,
    journey: str | None,
    start: date,
    end: date,
) -> tuple[dict[date, int], dict[date, Counter[str]]]:
    """The scope's conversations per day, and per day the conversations whose unanswered
    questions used each word (a word counts once per conversation). The days whose
    fingerprint is unchanged since an earlier call on this store are not read again (the
    counters are shared with later calls: they must not be changed)."""
    start = start if isinstance(start, datetime) else _midnight(start)
    where, params = _scope(deployment, journey, start, end)
    per_day = events.query(_PER_DAY.format(where=where), params).to_pylist()
    conversations = {_day(r["day"]): int(r["n"]) for r in per_day}
    pair_params = [deployment, *params, deployment]
    stamps: dict[date, Fingerprint] = {
        _day(r["day"]): (int(r["n"]), int(r["conversations"]), int(r["chars"] or 0))
        for r in events.query(_FINGERPRINTS.format(where=where), pair_params).to_pylist()
    }
    words: dict[date, Counter[str]] = {}
    with _lock:
        kept = _kept.setdefault(events, OrderedDict())
        for d, stamp in stamps.items():
            entry = kept.get((deployment, journey, d))
            if entry is not None and entry[0] == stamp:
                kept.move_to_end((deployment, journey, d))
                words[d] = entry[1]
    changed = {d for d in stamps if d not in words}
    if changed:
        # Only from the first changed day on: usually the evaluated day alone.
        where, params = _scope(deployment, journey, max(start, _midnight(min(changed))), end)
        fresh = _words_per_day(events, where, [deployment, *params, deployment], changed)
        with _lock:
            kept = _kept.setdefault(events, OrderedDict())
            for d, counted in fresh.items():
                kept[(deployment, journey, d)] = (stamps[d], counted)
            while len(kept) > KEPT_DAYS:
                kept.popitem(last=False)
        words.update(fresh)
    return conversations, {d: c for d, c in words.items() if c}


def _conversations_href(
    deployment: str, journey: str | None, word: str, start: date, end: date
) -> str:
    params = [("deployment", deployment), ("q", word)]
    if journey:
        params.append(("journey", journey))
    params += [("start", start.isoformat()), ("end", end.isoformat())]
    return "/conversations?" + urlencode(params)


def evaluate_emerging_gap(
    src: GapInput, spec: CheckCriterion, cid: str, label: str
) -> CriterionResult:
    """Not met while a word emerges among the scope's unanswered questions in the window;
    not enough data before the window has a baseline behind it."""
    scope = spec.journey or "the deployment"
    first = src.through - timedelta(days=spec.window_days - 1)

    def result(verdict: Verdict, summary: str, **extra: object) -> CriterionResult:
        return CriterionResult.model_validate(
            {
                "id": cid,
                "kind": "check",
                "label": label,
                "verdict": verdict,
                "summary": summary,
                "unit": "count",
                "window_start": first,
                "window_end": src.through,
                **extra,
            }
        )

    window = baseline_window(src.deployment, src.first_data)
    if window is None or window[0] >= _midnight(first):
        return result("no_data", f"no history before the last {spec.window_days} days")
    end = _midnight(src.through + timedelta(days=1))
    conversations, used = read_counts(src.events, src.deployment.name, spec.journey, window[0], end)
    days = [
        gap_calc.Counts(conversations.get(d, 0), used.get(d, Counter()))
        for d in (src.through - timedelta(days=k) for k in range(spec.window_days))
    ]
    before = gap_calc.Counts(
        sum(n for d, n in conversations.items() if d < first),
        sum((used.get(d, Counter()) for d in conversations if d < first), Counter()),
    )
    recent = sum(c.conversations for c in days)
    if before.conversations == 0 or recent == 0:
        return result("no_data", f"no conversations in {scope} to compare", n=recent)
    scan = gap_calc.emerging_words(days, before)
    evidence = [
        Evidence(
            label=f"unanswered questions with “{w.word}”",
            href=_conversations_href(
                src.deployment.name,
                spec.journey,
                w.word,
                src.through - timedelta(days=w.days - 1),
                src.through,
            ),
        )
        for w in scan.emerging[:MAX_BLOCKING]
    ]
    evidence.append(
        Evidence(label="knowledge gaps", href=f"/gaps?deployment={src.deployment.name}")
    )
    extra = {"value": float(len(scan.emerging)), "n": recent, "evidence": evidence}
    return result(
        "not_met" if scan.emerging else "met", gap_summary(scan, scope, spec.window_days), **extra
    )


def gap_summary(scan: gap_calc.Scan, scope: str, window_days: int) -> str:
    """One line a person reads: the words that emerged, the leading one's count against what
    the rate before would give; or that none did, with the strongest word's test."""
    if scan.emerging:
        lead = scan.emerging[0]
        shown = ", ".join(f"“{w.word}”" for w in scan.emerging[:5])
        more = len(scan.emerging) - 5
        return (
            f"new in the unanswered questions of {scope}: {shown}"
            + (f" and {more} more" if more > 0 else "")
            + f"; “{lead.word}” in {lead.now} conversations over the last {lead.days} "
            f"day{'s' if lead.days != 1 else ''} against {lead.expected:.1f} at the rate before "
            f"(p = {lead.p_value:.1e}, below {scan.threshold:.1e})"
        )
    text = f"no new subject in the unanswered questions of {scope} over {window_days} days"
    s = scan.strongest
    if s is not None:
        text += (
            f" (strongest: “{s.word}”, {s.now} conversations against {s.expected:.1f}, "
            f"p = {s.p_value:.1e}, above {scan.threshold:.1e})"
        )
    return text
