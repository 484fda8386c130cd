"""Golden cases for every validation rule, and a meta-test that no rule goes without one."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from daytwo.ingest.decode import decode_json, decode_ndjson
from daytwo.interactions.validate import RULES, drop_records, validate_batch
from tests.factory import interaction

# (rule field, rule message fragment, change to a valid record)
GOLDEN: list[tuple[str, str, dict[str, Any]]] = [
    ("id", "required", {"id": ""}),
    ("id", "longer than", {"id": "x" * 201}),
    ("id", "more than once", {"__duplicate__": True}),
    ("deployment", "letters", {"deployment": "-bad"}),
    ("started_at", "is required", {"__drop_started_at_after_decode__": True}),
    ("started_at", "out of range", {"started_at": "1990-01-01T00:00:00Z"}),
    ("ended_at", "out of range", {"ended_at": "2199-01-01T00:00:00Z"}),
    ("ended_at", "before started_at", {"ended_at": "2026-03-01T00:00:00Z"}),
    ("outcome", "must be one of", {"outcome": "resolved"}),
    ("csat", "between 0 and 10", {"csat": -1}),
    ("csat", "between 0 and 10", {"csat": 11}),
    ("handle_time_s", "negative", {"handle_time_s": -5}),
    ("cost", "negative", {"cost": -0.1}),
    ("turns.0.seq", "is required", {"__turn__": {"seq": None}}),
    ("turns.0.seq", "negative", {"__turn__": {"seq": -1}}),
    ("turns.1.seq", "repeats", {"__turn1__": {"seq": 0}}),
    ("turns.0.role", "must be one of", {"__turn__": {"role": "customer"}}),
    ("turns.0.role", "is required", {"__turn__": {"role": None}}),
    ("turns.0.ts", "out of range", {"__turn__": {"ts": "1970-01-01T00:00:00Z"}}),
    ("turns.0.confidence", "between 0 and 1", {"__turn__": {"confidence": -0.2}}),
    ("turns.0.confidence", "between 0 and 1", {"__turn__": {"confidence": 1.2}}),
    ("turns.0.latency_ms", "negative", {"__turn__": {"latency_ms": -1}}),
    ("turns.0.tokens_in", "negative", {"__turn__": {"tokens_in": -1}}),
    ("turns.0.tokens_out", "negative", {"__turn__": {"tokens_out": -1}}),
    ("turns.0.cost", "negative", {"__turn__": {"cost": -1}}),
    ("assist_events.0.action", "must be one of", {"__assist__": {"action": "clicked"}}),
    ("assist_events.0.action", "is required", {"__assist__": {"action": None}}),
    ("assist_events.0.ts", "out of range", {"__assist__": {"ts": "1999-01-01T00:00:00Z"}}),
    ("turns", "more than 100,000 turns", {"__turns__": 100_001}),
    ("segments", "longer than 1,000", {"segments": {"site": "x" * 1001}}),
    ("segments", "longer than 1,000", {"segments": {"s" * 1001: "leeds"}}),
    ("channel", "longer than 1,000", {"channel": "c" * 1001}),
    ("journey", "longer than 1,000", {"journey": "j" * 1001}),
    ("customer_ref", "longer than 1,000", {"customer_ref": "u" * 1001}),
    ("agent_ref", "longer than 1,000", {"agent_ref": "a" * 1001}),
    ("outcome", "longer than 1,000", {"outcome": "o" * 1001}),
    ("attributes", "longer than 1,048,576", {"notes": "n" * (1024 * 1024)}),
    ("csat", "finite", {"csat": "@NaN"}),
    ("handle_time_s", "finite", {"handle_time_s": "@Infinity"}),
    ("cost", "finite", {"cost": "@-Infinity"}),
    ("turns.0.role", "longer than 1,000", {"__turn__": {"role": "r" * 1001}}),
    ("turns.0.intent", "longer than 1,000", {"__turn__": {"intent": "i" * 1001}}),
    ("turns.0.model", "longer than 1,000", {"__turn__": {"model": "m" * 1001}}),
    ("turns.0.text", "longer than 1,048,576", {"__turn__": {"text": "t" * (1024 * 1024 + 1)}}),
    ("turns.0.error", "longer than 1,048,576", {"__turn__": {"error": "e" * (1024 * 1024 + 1)}}),
    ("turns.0.attributes", "longer than 1,048,576", {"__turn__": {"trace": "x" * 1024 * 1024}}),
    ("turns.0.confidence", "finite", {"__turn__": {"confidence": "@NaN"}}),
    ("turns.0.latency_ms", "finite", {"__turn__": {"latency_ms": "@Infinity"}}),
    ("turns.0.cost", "finite", {"__turn__": {"cost": "@NaN"}}),
    ("assist_events.0.agent_ref", "longer than 1,000", {"__assist__": {"agent_ref": "a" * 1001}}),
    ("assist_events.0.feature", "longer than 1,000", {"__assist__": {"feature": "f" * 1001}}),
    ("assist_events.0.action", "longer than 1,000", {"__assist__": {"action": "x" * 1001}}),
    ("assist_events.0.attributes", "longer than 1,048,576", {"__assist__": {"x": "y" * 2**20}}),
]


def _errors_for(change: dict[str, Any]) -> list[Any]:
    rec = interaction(1)
    records = [interaction(0), rec]
    for key, value in change.items():
        if key == "__duplicate__":
            records.append(interaction(1))
        elif key == "__turn__":
            rec["turns"][0].update(value)
        elif key == "__turn1__":
            rec["turns"][1].update(value)
        elif key == "__turns__":
            rec["turns"] = [{"seq": i, "role": "user"} for i in range(value)]
        elif key == "__assist__":
            rec["assist_events"] = [{"ts": "2026-03-02T09:15:00Z", "action": "shown", **value}]
        elif key != "__drop_started_at_after_decode__":
            rec[key] = value
    # Drop the keys set to None: "missing" and "null" are the same thing on the wire.
    for t in [*rec["turns"], *rec.get("assist_events", [])]:
        for k in [k for k, v in t.items() if v is None]:
            del t[k]
    lines = b"\n".join(orjson.dumps(r) for r in records)
    if b'"@' in lines:
        # NaN and infinities are not JSON, but Arrow's NDJSON reader takes the literals.
        for literal in (b"NaN", b"-Infinity", b"Infinity"):
            lines = lines.replace(b'"@' + literal + b'"', literal)
        decoded = decode_ndjson(lines)
    else:
        decoded = decode_json(orjson.dumps(records))
    batch = decoded.batch
    if "__drop_started_at_after_decode__" in change:
        # Only a flat file can carry a row without a start time past decoding.
        import pyarrow as pa

        col = batch.interactions.column("started_at").to_pylist()
        col[1] = None
        idx = batch.interactions.schema.get_field_index("started_at")
        field = batch.interactions.schema.field(idx).with_nullable(True)
        table = batch.interactions.set_column(idx, field, pa.array(col, type=field.type))
        batch = type(batch)(table, batch.turns, batch.assist_events)
    return decoded.errors + validate_batch(batch)


@pytest.mark.parametrize(
    ("field", "fragment", "change"), GOLDEN, ids=[f"{g[0]}:{g[1]}" for g in GOLDEN]
)
def test_rule_golden_case(field: str, fragment: str, change: dict[str, Any]) -> None:
    errors = _errors_for(change)
    hits = [e for e in errors if e.field == field and fragment in e.message]
    assert hits, errors
    assert all(e.index >= 1 for e in hits)
    assert not [e for e in errors if e.index == 0]  # the valid neighbour is never blamed


def test_a_valid_record_breaks_no_rule() -> None:
    assert _errors_for({}) == []


def test_every_rule_has_a_golden_case() -> None:
    covered = {(f.split(".")[-1], frag) for f, frag, _ in GOLDEN}
    for rule in RULES:
        assert any(field == rule.field and frag in rule.message for field, frag in covered), (
            f"rule {rule.table}.{rule.field} '{rule.message}' has no golden case"
        )


def test_drop_records_removes_a_record_whole() -> None:
    decoded = decode_json(orjson.dumps([interaction(0), interaction(1), interaction(2)]))
    kept = drop_records(decoded.batch, {1})
    assert kept.interactions["_record"].to_pylist() == [0, 2]
    assert set(kept.turns["_record"].to_pylist()) == {0, 2}


def test_repeated_keys_are_found_in_order_and_out_of_order() -> None:
    """Turns in order and one deployment's distinct ids pass a quick check; every other
    shape (a seq repeated in order or out of it, a duplicate among several deployments) is
    still found, and the same id in two deployments is not a duplicate."""

    def errors(records: list[dict[str, Any]]) -> list[tuple[int, str]]:
        decoded = decode_json(orjson.dumps(records))
        return [(e.index, e.field) for e in validate_batch(decoded.batch)]

    def turns(*seqs: int) -> list[dict[str, Any]]:
        return [{"seq": s, "role": "user", "text": "hi"} for s in seqs]

    assert errors([interaction(0), interaction(1)]) == []
    assert errors([{**interaction(0), "turns": turns(0, 1, 1)}]) == [
        (0, "turns.1.seq"),
        (0, "turns.2.seq"),
    ]
    assert errors([{**interaction(0), "turns": turns(2, 0, 2)}]) == [
        (0, "turns.0.seq"),
        (0, "turns.2.seq"),
    ]
    a, b = interaction(0, deployment="a"), interaction(0, deployment="b")
    assert errors([a, b]) == []
    assert errors([a, b, interaction(0, deployment="a")]) == [(0, "id"), (2, "id")]
