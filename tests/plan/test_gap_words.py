"""The ``no_emerging_gap`` check's words per day come from the events engine for the
conversations whose unanswered questions are plain ASCII, and from Python for the others: on
both engines they are what splitting every unanswered question in Python gives (words counted
once per conversation, function words, short tokens and numbers left out)."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import orjson
import pytest

from daytwo.ingest.decode import decode_json
from daytwo.plan import gap_check
from daytwo.store.events import EventStore
from tests.conftest import ENGINES
from tests.plan.conftest import DEPLOYMENT, START, day_of

DAYS = 6
ASCII = [
    "Why was my CARD charged twice?", "card_blocked again!!", "refund 2024 order 12345",
    "It's the set-up of direct deposit", "ok", "what about the 3ds code", "  spaced\tout  ",
    "Cancel cancel CANCEL", "a b cd efg", "",
]  # fmt: skip
WIDE = [
    "Ma carte bloquée à l'étranger", "İstanbul şubesi kapalı", "naïve café question",
    "über ÜBER Straße", "カードが使えない", "card ½ refunds²", "٣٤٥ digits ١٢٣",
]  # fmt: skip


def _records(rnd: random.Random) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for day in range(DAYS):
        for k in range(40):
            at = START + timedelta(days=day, minutes=20 * k + 3)
            turns: list[dict[str, Any]] = []
            for _ in range(rnd.randint(1, 3)):
                pool = WIDE if rnd.random() < 0.2 else ASCII
                text = rnd.choice(pool) if rnd.random() < 0.95 else None
                fell = rnd.random() < 0.6
                turns += [
                    {"role": "user", "text": text},
                    {"role": "assistant", "text": "Sorry?" if fell else "Done.", "fallback": fell},
                ]
            out.append({
                "id": f"w-{len(out):05d}", "deployment": DEPLOYMENT,
                "started_at": at.isoformat().replace("+00:00", "Z"),
                "journey": rnd.choice(["payments", "billing"]), "outcome": "contained",
                "turns": [{"seq": n, **t} for n, t in enumerate(turns)],
            })  # fmt: skip
    return out


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("journey", [None, "payments"])
def test_words_per_day_are_those_python_splits_out_of_every_question(
    new_events: Callable[[], EventStore], journey: str | None
) -> None:
    events = new_events()
    decoded = decode_json(orjson.dumps(_records(random.Random(7))))
    events.write(decoded.batch, source="t", batch_id="1")
    start, end = day_of(0), day_of(DAYS)
    got = gap_check.read_counts(events, DEPLOYMENT, journey, start, end)
    where, params = gap_check._scope(DEPLOYMENT, journey, gap_check._midnight(start), end)
    # Every unanswered question split in Python, as the check did before.
    rows = events.query(
        gap_check._UNANSWERED.format(where=where), [DEPLOYMENT, *params, DEPLOYMENT]
    ).to_pylist()
    days: set[date] = {gap_check._day(r["day"]) for r in rows}
    want = {d: c for d, c in gap_check._split(rows, days).items() if c}
    assert got[1] == want
    assert len(want) == DAYS
    # Both sides took part: words only ASCII questions use, and words only the others do.
    used = set().union(*want.values())
    assert {"card", "cancel", "deposit", "refund", "efg", "3ds"} <= used
    assert {"bloquée", "şubesi", "straße", "naïve", "refunds²"} <= used
    assert not used & {"why", "the", "2024", "12345", "cd", "card_blocked"}
