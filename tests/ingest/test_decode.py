"""The fast and exact decode paths agree; ingest is idempotent; splitting never matters."""

from __future__ import annotations

from typing import Any

import orjson
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daytwo.ingest.decode import decode_json, decode_ndjson
from daytwo.ingest.service import ingest
from daytwo.store.events import open_event_store
from tests.factory import interaction

texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
maybe = st.one_of(st.none(), st.just(None))


@st.composite
def turn(draw: st.DrawFn, seq: int) -> dict[str, Any]:
    t: dict[str, Any] = {"seq": seq, "role": draw(st.sampled_from(["user", "assistant", "tool"]))}
    if draw(st.booleans()):
        t["text"] = draw(texts)
    if draw(st.booleans()):
        t["confidence"] = draw(st.floats(0, 1))
        t["fallback"] = draw(st.booleans())
        t["latency_ms"] = draw(st.integers(0, 10_000))
    if draw(st.booleans()):
        t["error"] = draw(st.one_of(st.booleans(), texts))
    if draw(st.booleans()):
        t["x_extra"] = draw(
            st.one_of(st.integers(-(2**62), 2**62), texts, st.lists(st.integers(0, 99), max_size=2))
        )
    return t


@st.composite
def record(draw: st.DrawFn, n: int) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "id": f"r{n}" if draw(st.booleans()) else n,  # numbers are coerced to text
        "deployment": draw(st.sampled_from(["a", "b-2"])),
        "started_at": draw(
            st.sampled_from(
                ["2026-03-02T09:14:05Z", "2026-03-02T10:14:05+01:00", "2026-03-02T09:14:05.250Z"]
            )
        ),
    }
    if draw(st.booleans()):
        rec["segments"] = draw(
            st.dictionaries(
                st.sampled_from(["site", "team", "tenure"]),
                st.one_of(texts, st.integers(0, 50)),
                max_size=3,
            )
        )
    if draw(st.booleans()):
        rec["outcome"] = draw(st.sampled_from(["contained", "escalated", "abandoned"]))
    if draw(st.booleans()):
        rec["csat"] = draw(st.integers(1, 5))
    if draw(st.booleans()):
        rec["note"] = draw(texts)
    k = draw(st.integers(0, 4))
    rec["turns"] = [draw(turn(i)) for i in range(k)]
    if draw(st.booleans()):
        rec["assist_events"] = [
            {"action": draw(st.sampled_from(["shown", "accepted"])), "feature": "reply"}
        ]
    return rec


batches = st.integers(1, 8).flatmap(lambda n: st.tuples(*[record(i) for i in range(n)]))


def _rows(table: pa.Table) -> list[dict[str, Any]]:
    return table.to_pylist()


@settings(max_examples=60, deadline=None)
@given(batches)
def test_fast_and_exact_paths_produce_identical_columns(
    records: tuple[dict[str, Any], ...],
) -> None:
    body = b"\n".join(orjson.dumps(r) for r in records)
    fast = decode_ndjson(body)
    exact = decode_ndjson(body, exact=True)
    assert fast.errors == exact.errors == []
    for name in ("interactions", "turns", "assist_events"):
        assert _rows(getattr(fast.batch, name)) == _rows(getattr(exact.batch, name)), name


def test_json_body_and_ndjson_decode_the_same() -> None:
    records = [interaction(i) for i in range(4)]
    a = decode_json(orjson.dumps({"interactions": records}))
    b = decode_ndjson(b"\n".join(orjson.dumps(r) for r in records))
    assert _rows(a.batch.turns) == _rows(b.batch.turns)
    assert _rows(a.batch.interactions) == _rows(b.batch.interactions)


def _state(url: str) -> dict[str, list[dict[str, Any]]]:
    with open_event_store(url) as store:
        return {
            t: store.query(f"SELECT * FROM {t} ORDER BY ALL").to_pylist()
            for t in ("interactions", "turns", "assist_events")
        }


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches, st.lists(st.integers(0, 7), min_size=1, max_size=12), st.integers(1, 4))
def test_reingest_is_idempotent_and_split_then_merge_equals_whole(
    records: tuple[dict[str, Any], ...], replay: list[int], parts: int
) -> None:
    # Distinct (deployment, id) within the batch: duplicates in one batch are rejected by rule.
    unique = list({(str(r["deployment"]), str(r["id"])): r for r in records}.values())
    whole = "duckdb:///:memory:"
    with open_event_store(whole) as store:
        ingest(store, decode_json(orjson.dumps(unique)))
        expected = {
            t: store.query(f"SELECT * FROM {t} ORDER BY ALL").to_pylist()
            for t in ("interactions", "turns", "assist_events")
        }
        # Re-sending any subset, any number of times, changes nothing.
        for i in replay:
            sub = unique[i % len(unique) :]
            ingest(store, decode_json(orjson.dumps(sub)))
        again = {
            t: store.query(f"SELECT * FROM {t} ORDER BY ALL").to_pylist()
            for t in ("interactions", "turns", "assist_events")
        }
    assert again == expected
    with open_event_store(whole) as store:
        size = max(1, len(unique) // parts)
        for start in range(0, len(unique), size):
            ingest(store, decode_json(orjson.dumps(unique[start : start + size])))
        split = {
            t: store.query(f"SELECT * FROM {t} ORDER BY ALL").to_pylist()
            for t in ("interactions", "turns", "assist_events")
        }
    assert split == expected
