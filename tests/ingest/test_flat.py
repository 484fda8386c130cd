"""Flat CSV / Parquet exports with a column mapping become canonical batches."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daytwo.errors import InputError, RecordError
from daytwo.ingest.flat import FlatChunk, iter_flat_batches
from daytwo.ingest.mapping import Mapping, load_mapping, parse_mapping
from daytwo.interactions.columns import ASSIST_EVENTS, INTERACTIONS, TURNS, Batch, with_locators
from daytwo.interactions.validate import drop_records, validate_batch

HEADER = (
    "conversation_id,conv_start,conv_end,channel,queue_name,customer_hash,agent_id,disposition,"
    "csat_score,aht_seconds,msg_index,msg_time,sender,message,nlu_intent,nlu_confidence,"
    "is_fallback,bot_latency_ms,site,team,queue_id,ab_bucket"
)
ROWS = [
    "c-1,2026-03-02 09:14:05,2026-03-02 09:17:40,chat,billing,u-1,,XFER_AGENT,2,215,0,"
    "2026-03-02 09:14:05,CUSTOMER,why was I charged twice,,,,,leeds,t1,q7,A",
    "c-1,2026-03-02 09:14:05,2026-03-02 09:17:40,chat,billing,u-1,,XFER_AGENT,2,215,1,"
    '2026-03-02 09:14:06,BOT,"Sorry, I did not get ""that"".",fallback,0.31,YES,840,leeds,t1,q7,A',
    "c-1,2026-03-02 09:14:05,2026-03-02 09:17:40,chat,billing,u-1,a-17,XFER_AGENT,2,215,2,"
    "2026-03-02 09:15:00,AGENT,Hello I can help,,,,,leeds,t1,q7,A",
    "c-2,2026-07-01 10:00:00,,voice,orders,u-2,,SELF_SERVED,,,0,2026-07-01 10:00:01,CUSTOMER,"
    "where is my order,track,0.9,no,,york,,q8,B",
    "c-2,2026-07-01 10:00:00,,voice,orders,u-2,,SELF_SERVED,5,,1,2026-07-01 10:00:03,BOT,"
    "It ships today,track,0.95,false,120,york,,q8,B",
    "c-3,2026-03-03 08:00:00,2026-03-03 08:01:00,chat,billing,u-3,,HANGUP,,,,,,,,,,,leeds,t2,q7,A",
]
MAPPING_YAML = """\
format: csv
timezone: Europe/London
deployment: care-bot
csv: {delimiter: ",", encoding: utf-8}
columns:
  id: conversation_id
  started_at: conv_start
  ended_at: conv_end
  channel: channel
  journey: queue_name
  customer_ref: customer_hash
  agent_ref: agent_id
  outcome: disposition
  csat: csat_score
  handle_time_s: aht_seconds
  turn.seq: msg_index
  turn.ts: msg_time
  turn.role: sender
  turn.text: message
  turn.intent: nlu_intent
  turn.confidence: nlu_confidence
  turn.fallback: is_fallback
  turn.latency_ms: bot_latency_ms
segments:
  site: site
  team: team
values:
  outcome: {SELF_SERVED: contained, XFER_AGENT: escalated, HANGUP: abandoned}
  turn.role: {CUSTOMER: user, BOT: assistant, AGENT: agent}
attributes: [queue_id, ab_bucket]
"""


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def write(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def mapping(tmp_path: Path, text: str = MAPPING_YAML) -> Mapping:
    path = tmp_path / "mapping.yaml"
    path.write_text(text, encoding="utf-8")
    return load_mapping(path)


def read(path: Path, m: Mapping | None = None, chunk_rows: int = 250_000) -> list[FlatChunk]:
    return list(iter_flat_batches(path, m, chunk_rows=chunk_rows))


def merged(chunks: list[FlatChunk]) -> tuple[Batch, list[RecordError]]:
    if not chunks:
        return Batch.empty(), []
    batch = Batch(
        pa.concat_tables([c.batch.interactions for c in chunks]).combine_chunks(),
        pa.concat_tables([c.batch.turns for c in chunks]).combine_chunks(),
        pa.concat_tables([c.batch.assist_events for c in chunks]).combine_chunks(),
    )
    return batch, [e for c in chunks for e in c.errors]


def by_field(errors: list[RecordError]) -> dict[str, RecordError]:
    return {e.field: e for e in errors}


# --- the worked example -----------------------------------------------------------------------


def test_contact_center_export_maps_to_canonical_batch(tmp_path: Path) -> None:
    batch, errors = merged(read(write(tmp_path / "export.csv", HEADER, ROWS), mapping(tmp_path)))
    assert errors == []
    assert validate_batch(batch) == []
    assert batch.interactions.schema == with_locators(INTERACTIONS, pos=False)
    assert batch.turns.schema == with_locators(TURNS, pos=True)
    assert batch.assist_events.schema == with_locators(ASSIST_EVENTS, pos=True)
    assert batch.assist_events.num_rows == 0

    first, second, third = batch.interactions.to_pylist()
    assert first == {
        "interaction_id": "c-1",
        "deployment": "care-bot",
        "started_at": utc(2026, 3, 2, 9, 14, 5),  # GMT in March: London = UTC
        "ended_at": utc(2026, 3, 2, 9, 17, 40),
        "channel": "chat",
        "journey": "billing",
        "customer_ref": "u-1",
        "agent_ref": "a-17",  # first non-empty value: the agent joined on row 2
        "segments": [("site", "leeds"), ("team", "t1")],
        "outcome": "escalated",
        "csat": 2.0,
        "handle_time_s": 215.0,
        "cost": None,
        "ai_used": None,
        "attributes": '{"ab_bucket":"A","queue_id":"q7"}',
        "n_turns": 3,
        "_record": 0,
    }
    assert second["started_at"] == utc(2026, 7, 1, 9, 0)  # BST in July: London = UTC+1
    assert second["csat"] == 5.0  # empty on its first row, given on the second
    assert second["segments"] == [("site", "york")]
    assert (second["outcome"], second["n_turns"], second["_record"]) == ("contained", 2, 3)
    assert (third["outcome"], third["n_turns"], third["_record"]) == ("abandoned", 0, 5)

    turns = batch.turns.to_pylist()
    assert [(t["interaction_id"], t["seq"], t["role"], t["_record"], t["_pos"]) for t in turns] == [
        ("c-1", 0, "user", 0, 0),
        ("c-1", 1, "assistant", 0, 1),
        ("c-1", 2, "agent", 0, 2),
        ("c-2", 0, "user", 3, 0),
        ("c-2", 1, "assistant", 3, 1),
    ]
    bot = turns[1]
    assert bot["text"] == 'Sorry, I did not get "that".'
    assert (bot["intent"], bot["confidence"], bot["fallback"], bot["latency_ms"]) == (
        "fallback",
        0.31,
        True,
        840.0,
    )
    assert bot["ts"] == utc(2026, 3, 2, 9, 14, 6)
    assert turns[3]["fallback"] is False


def test_parquet_with_typed_columns_gives_the_same_batch_as_csv(tmp_path: Path) -> None:
    csv_path = write(tmp_path / "export.csv", HEADER, ROWS)
    m = mapping(tmp_path)
    expected, _ = merged(read(csv_path, m))
    table = pacsv.read_csv(csv_path)  # Arrow infers numbers, booleans and timestamps
    table = table.set_column(
        table.schema.get_field_index("msg_index"), "msg_index", table["msg_index"].cast(pa.int32())
    )
    assert pa.types.is_timestamp(table.schema.field("conv_start").type)
    pq.write_table(table, tmp_path / "export.parquet")
    got, errors = merged(read(tmp_path / "export.parquet", m.model_copy(update={"format": None})))
    assert errors == []
    assert got.interactions.equals(expected.interactions)
    assert got.turns.equals(expected.turns)


def test_parquet_timestamps_with_zone_are_kept_and_naive_ones_need_a_timezone(
    tmp_path: Path,
) -> None:
    aware = pa.array([datetime(2026, 3, 2, 9, 0, tzinfo=UTC)], pa.timestamp("ns", tz="UTC"))
    naive = pa.array([datetime(2026, 7, 1, 9, 0)], pa.timestamp("ms"))
    base = {"id": ["a"], "deployment": ["d"], "role": ["user"], "text": ["hi"]}
    pq.write_table(pa.table({**base, "started_at": aware}), tmp_path / "aware.parquet")
    pq.write_table(pa.table({**base, "started_at": naive}), tmp_path / "naive.parquet")
    (chunk,) = read(tmp_path / "aware.parquet")
    assert chunk.batch.interactions["started_at"].to_pylist() == [utc(2026, 3, 2, 9, 0)]
    with pytest.raises(InputError, match=r"started_at.*timezone"):
        read(tmp_path / "naive.parquet")
    (chunk,) = read(tmp_path / "naive.parquet", Mapping(timezone="Europe/London"))
    assert chunk.batch.interactions["started_at"].to_pylist() == [utc(2026, 7, 1, 8, 0)]


# --- identity mapping -------------------------------------------------------------------------


def test_canonical_column_names_need_no_mapping(tmp_path: Path) -> None:
    path = write(
        tmp_path / "canonical.csv",
        "id,deployment,started_at,outcome,segments.site,turn.seq,role,text,turn.cost,cost,msg_id",
        [
            "a,bot,2026-03-02T09:00:00Z,contained,leeds,0,user,hi,,0.5,m1",
            'a,bot,2026-03-02T09:00:00Z,contained,leeds,1,assistant,"hello, you",0.01,0.5,m2',
            "b,bot,2026-03-02T10:00:00+01:00,escalated,,0,user,help,,,m3",
        ],
    )
    batch, errors = merged(read(path))
    assert errors == []
    assert validate_batch(batch) == []
    rows = batch.interactions.to_pylist()
    assert [(r["interaction_id"], r["deployment"], r["cost"], r["segments"]) for r in rows] == [
        ("a", "bot", 0.5, [("site", "leeds")]),
        ("b", "bot", None, None),
    ]
    assert rows[1]["started_at"] == utc(2026, 3, 2, 9, 0)
    turns = batch.turns.to_pylist()
    assert [(t["seq"], t["text"], t["cost"]) for t in turns] == [
        (0, "hi", None),
        (1, "hello, you", 0.01),
        (0, "help", None),
    ]
    # Columns without a canonical name are kept, per turn, never dropped.
    assert [t["attributes"] for t in turns] == [
        '{"msg_id":"m1"}',
        '{"msg_id":"m2"}',
        '{"msg_id":"m3"}',
    ]


def test_one_row_per_interaction_keeps_unknown_columns_on_the_interaction(tmp_path: Path) -> None:
    path = write(
        tmp_path / "calls.csv",
        "interaction_id,deployment,started_at,handle_time_s,wrap_code",
        ["a,bot,2026-03-02T09:00:00Z,120,W1", "b,bot,2026-03-02T09:05:00Z,,"],
    )
    batch, errors = merged(read(path))
    assert errors == []
    assert batch.turns.num_rows == 0
    assert batch.interactions["n_turns"].to_pylist() == [0, 0]
    assert batch.interactions["attributes"].to_pylist() == ['{"wrap_code":"W1"}', None]


def test_deployment_from_cli_overrides_a_mapping_without_one(tmp_path: Path) -> None:
    path = write(tmp_path / "x.csv", "id,started_at,role,text", ["a,2026-03-02T09:00:00Z,user,hi"])
    with pytest.raises(InputError, match="deployment is required"):
        read(path)
    (chunk,) = read(path, Mapping.identity().model_copy(update={"deployment": "care-bot"}))
    assert chunk.batch.turns["deployment"].to_pylist() == ["care-bot"]
    # ... also over a deployment column, which is then not kept as an attribute
    path = write(
        tmp_path / "y.csv", "id,deployment,started_at,text", ["a,x,2026-03-02T09:00:00Z,hi"]
    )
    (chunk,) = read(path, Mapping.identity().model_copy(update={"deployment": "care-bot"}))
    assert chunk.batch.turns.select(["deployment", "attributes"]).to_pylist() == [
        {"deployment": "care-bot", "attributes": None}
    ]


# --- value maps, constants, attributes --------------------------------------------------------


def test_value_maps_constants_and_yaml_typed_keys(tmp_path: Path) -> None:
    path = write(
        tmp_path / "x.csv",
        "cid,start,who,said,flag,err",
        [
            "a,2026-03-02T09:00:00Z,1,hi,Y,",
            "a,2026-03-02T09:00:00Z,2,hello,N,OK",
            "a,2026-03-02T09:00:00Z,3,ouch,N,TIMEOUT",
        ],
    )
    m = mapping(
        tmp_path,
        """
deployment: care-bot
columns: {id: cid, started_at: start, turn.role: who, turn.text: said, turn.fallback: flag,
          turn.error: err}
constants: {channel: voice, turn.model: gpt-4o-mini, ai_used: true}
values:
  turn.role: {1: user, 2: assistant, 3: tool}
  turn.fallback: {Y: true, N: false}
  turn.error: {OK: null}
""",
    )
    batch, errors = merged(read(path, m))
    assert errors == []
    (row,) = batch.interactions.to_pylist()
    assert (row["channel"], row["ai_used"]) == ("voice", True)
    turns = batch.turns.to_pylist()
    assert [t["role"] for t in turns] == ["user", "assistant", "tool"]
    assert [t["fallback"] for t in turns] == [True, False, False]
    assert [t["error"] for t in turns] == [None, None, "TIMEOUT"]
    assert {t["model"] for t in turns} == {"gpt-4o-mini"}
    # seq defaults to the turn's position when no column carries it
    assert [t["seq"] for t in turns] == [0, 1, 2]


def test_unmapped_values_pass_through_to_the_shared_rules(tmp_path: Path) -> None:
    path = write(tmp_path / "x.csv", HEADER, [ROWS[5].replace("HANGUP", "VOICEMAIL")])
    batch, errors = merged(read(path, mapping(tmp_path)))
    assert errors == []
    assert [(e.index, e.field) for e in validate_batch(batch)] == [(0, "outcome")]


def test_attributes_are_valid_json_whatever_the_text(tmp_path: Path) -> None:
    tricky = 'say "hi"\\ now\nplease\t\x01 — ok'
    table = pa.table(
        {
            "id": ["a", "a"],
            "deployment": ["d", "d"],
            "started_at": ["2026-03-02T09:00:00Z"] * 2,
            "text": ["one", "two"],
            "note": [tricky, None],
            "n": [3, 4],
            "score": [0.5, float("nan")],
        }
    )
    pq.write_table(table, tmp_path / "x.parquet")
    (chunk,) = read(tmp_path / "x.parquet")
    attrs = chunk.batch.turns["attributes"].to_pylist()
    assert [orjson.loads(a) for a in attrs] == [
        {"n": 3, "note": tricky, "score": 0.5},
        {"n": 4},
    ]


# --- timezones --------------------------------------------------------------------------------


def test_naive_timestamps_use_the_mapping_timezone_including_dst(tmp_path: Path) -> None:
    path = write(
        tmp_path / "x.csv",
        "id,deployment,started_at,ts,role",
        [
            "a,d,2026-07-01 10:00:00,2026-07-01T10:00:01.123456789,user",  # BST, ns truncated
            "b,d,2026-10-25 01:30:00,2026-10-25T01:30:00+00:00,user",  # ambiguous; aware ts
            "c,d,2026-03-02,2026-03-02T00:00:00z,user",  # a date alone is midnight
        ],
    )
    batch, errors = merged(read(path, Mapping(timezone="Europe/London")))
    assert errors == []
    assert batch.interactions["started_at"].to_pylist() == [
        utc(2026, 7, 1, 9, 0),
        utc(2026, 10, 25, 0, 30),  # the earlier of the two readings (still BST)
        utc(2026, 3, 2, 0, 0),
    ]
    assert batch.turns["ts"].to_pylist() == [
        datetime(2026, 7, 1, 9, 0, 1, 123456, tzinfo=UTC),
        utc(2026, 10, 25, 1, 30),
        utc(2026, 3, 2, 0, 0),
    ]


def test_naive_timestamp_without_a_timezone_is_an_error_naming_row_and_field(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path / "x.csv",
        "id,deployment,started_at,ts,role",
        ["a,d,2026-03-02T09:00:00Z,2026-03-02T09:00:00Z,user", "a,d,,2026-03-02 09:00:01,user"],
    )
    (chunk,) = read(path)
    (error,) = chunk.errors
    assert (error.index, error.id, error.field) == (0, "a", "turns.1.ts")
    assert "row 1" in error.message
    assert "column ts" in error.message
    assert "'2026-03-02 09:00:01'" in error.message
    assert "timezone" in error.message


# --- decode errors ----------------------------------------------------------------------------

BAD_VALUES = [
    # (column, bad value, canonical field of the error, words of the message)
    ("csat_score", "great", "csat", "is not a number"),
    ("aht_seconds", "inf", "handle_time_s", "is not a finite number"),
    ("conv_start", "yesterday", "started_at", "is not an ISO-8601 timestamp"),
    ("conv_end", "2026-02-30 10:00:00", "ended_at", "is not a valid timestamp"),
    ("msg_index", "1.5", "turns.1.seq", "is not a whole number"),
    ("msg_index", "9999999999", "turns.1.seq", "is out of range"),
    ("msg_index", "0x1", "turns.1.seq", "is not a whole number"),
    ("msg_time", "02/03/2026 09:14", "turns.1.ts", "is not an ISO-8601 timestamp"),
    ("nlu_confidence", "high", "turns.1.confidence", "is not a number"),
    ("is_fallback", "maybe", "turns.1.fallback", "is not a boolean"),
    ("bot_latency_ms", "12ms", "turns.1.latency_ms", "is not a number"),
]


@pytest.mark.parametrize(("column", "value", "field", "words"), BAD_VALUES)
def test_each_decode_error_names_row_field_column_and_value(
    tmp_path: Path, column: str, value: str, field: str, words: str
) -> None:
    names = HEADER.split(",")
    turn_field = field.startswith("turns.")
    rows = [ROWS[0], ROWS[1].replace('"Sorry, I did not get ""that""."', "Sorry"), *ROWS[2:]]
    for i in (1,) if turn_field else (0, 1, 2):  # interaction fields: the same on every row
        cells = rows[i].split(",")
        cells[names.index(column)] = value
        rows[i] = ",".join(cells)
    batch, errors = merged(read(write(tmp_path / "x.csv", HEADER, rows), mapping(tmp_path)))
    (error,) = errors
    assert (error.index, error.id, error.field) == (0, "c-1", field)
    row = 1 if turn_field else 0
    assert f"row {row}, column {column}: {value!r} {words}" in error.message
    # The record is still in the batch (with the value empty), so every problem is reported;
    # the shared path then drops it whole.
    kept = drop_records(batch, {e.index for e in errors})
    assert kept.interactions["interaction_id"].to_pylist() == ["c-2", "c-3"]
    assert set(kept.turns["interaction_id"].to_pylist()) == {"c-2"}


def test_whitespace_and_signs_are_read_leniently(tmp_path: Path) -> None:
    path = write(
        tmp_path / "x.csv",
        "id,deployment,started_at,csat,seq,role,confidence,fallback",
        ["a,d,2026-03-02T09:00:00Z, 4 ,+1 ,user,.5,  True", "a,d,,,2.0,user,1e-1,0"],
    )
    batch, errors = merged(read(path))
    assert errors == []
    assert batch.interactions["csat"].to_pylist() == [4.0]
    assert batch.turns["seq"].to_pylist() == [1, 2]
    assert batch.turns["confidence"].to_pylist() == [0.5, 0.1]
    assert batch.turns["fallback"].to_pylist() == [True, False]


# --- grouping: contiguity and conflicts ---------------------------------------------------------


def test_interaction_appearing_again_later_is_an_error_on_the_later_copy(tmp_path: Path) -> None:
    rows = [
        *ROWS[:3],
        *ROWS[3:5],
        ROWS[0].replace(",0,2026-03-02 09:14:05,", ",3,2026-03-02 09:16:05,"),
    ]
    for chunk_rows in (100, 2):
        batch, errors = merged(
            read(write(tmp_path / "x.csv", HEADER, rows), mapping(tmp_path), chunk_rows)
        )
        (error,) = errors
        assert (error.index, error.id, error.field) == (5, "c-1", "id")
        assert error.message == (
            "interaction 'c-1' appears again at row 5 after other interactions; "
            "rows of an interaction must be contiguous"
        )
        # The first copy stays, whole; the later one is left out of the batch.
        assert batch.interactions["interaction_id"].to_pylist() == ["c-1", "c-2"]
        assert batch.interactions["n_turns"].to_pylist() == [3, 2]
        assert validate_batch(batch) == []


def test_conflicting_interaction_value_on_a_later_row_is_an_error(tmp_path: Path) -> None:
    rows = [ROWS[0], ROWS[1].replace(",XFER_AGENT,2,215,", ",XFER_AGENT,4,215,"), ROWS[2]]
    _, errors = merged(read(write(tmp_path / "x.csv", HEADER, rows), mapping(tmp_path)))
    (error,) = errors
    assert (error.index, error.id, error.field) == (0, "c-1", "csat")
    assert "row 1 has '4' in column csat_score, but row 0 of the same interaction has '2'" in (
        error.message
    )


def test_conflicts_in_segments_and_attributes_name_their_key(tmp_path: Path) -> None:
    rows = [ROWS[0], ROWS[1].replace(",leeds,t1,q7,A", ",york,t1,q9,A"), ROWS[2]]
    _, errors = merged(read(write(tmp_path / "x.csv", HEADER, rows), mapping(tmp_path)))
    assert sorted(e.field for e in errors) == ["attributes.queue_id", "segments.site"]
    assert all(e.index == 0 for e in errors)


def test_same_id_in_two_deployments_is_two_interactions(tmp_path: Path) -> None:
    path = write(
        tmp_path / "x.csv",
        "id,deployment,started_at,role",
        ["a,one,2026-03-02T09:00:00Z,user", "a,two,2026-03-02T09:00:00Z,user"],
    )
    batch, errors = merged(read(path))
    assert errors == []
    assert batch.interactions["deployment"].to_pylist() == ["one", "two"]


def test_rows_without_id_are_left_to_the_shared_rules(tmp_path: Path) -> None:
    path = write(
        tmp_path / "x.csv",
        "id,deployment,started_at,role",
        [
            ",d,2026-03-02T09:00:00Z,user",
            "a,d,2026-03-02T09:00:00Z,user",
            ",d,2026-03-02T09:00:00Z,user",
        ],
    )
    batch, errors = merged(read(path))
    assert errors == []
    assert [(e.index, e.field) for e in validate_batch(batch)] == [(0, "id"), (2, "id")]


def test_rejected_rows_returns_every_source_row_of_the_records(tmp_path: Path) -> None:
    chunks = read(write(tmp_path / "x.csv", HEADER, ROWS), mapping(tmp_path), chunk_rows=4)
    rows = [r for c in chunks for r in c.rejected_rows({0, 5}).to_pylist()]
    assert [(r["_row"], r["conversation_id"], r["msg_index"]) for r in rows] == [
        (0, "c-1", "0"),
        (1, "c-1", "1"),
        (2, "c-1", "2"),
        (5, "c-3", None),
    ]
    assert rows[1]["message"] == 'Sorry, I did not get "that".'


# --- chunking ---------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_rows", [1, 2, 3, 4, 5, 7])
def test_chunk_boundaries_never_split_an_interaction(tmp_path: Path, chunk_rows: int) -> None:
    path = write(tmp_path / "x.csv", HEADER, ROWS)
    m = mapping(tmp_path)
    whole, whole_errors = merged(read(path, m))
    chunks = read(path, m, chunk_rows)
    for chunk in chunks:
        # Interaction-level rows of one chunk hold their interactions' turns, all of them.
        counts = dict(
            zip(
                chunk.batch.interactions["_record"].to_pylist(),
                chunk.batch.interactions["n_turns"].to_pylist(),
                strict=True,
            )
        )
        turns = chunk.batch.turns["_record"].to_pylist()
        assert {r: turns.count(r) for r in counts} == counts
    assert sum(c.rows_read for c in chunks) == len(ROWS)
    split, split_errors = merged(chunks)
    assert split.interactions.equals(whole.interactions)
    assert split.turns.equals(whole.turns)
    assert split_errors == whole_errors


@st.composite
def flat_rows(draw: st.DrawFn) -> list[str]:
    """Rows of a flat export: mostly contiguous interactions, some ids again later, bad values."""
    rows = []
    for _ in range(draw(st.integers(1, 8))):
        iid = draw(st.sampled_from(["a", "b", "c", "d", "e", "f"]))
        csat = draw(st.sampled_from(["", "3", "4", "x"]))
        for seq in range(draw(st.integers(1, 4))):
            role = draw(st.sampled_from(["user", "assistant", ""]))
            text = draw(st.sampled_from(["hi", "", "ok, sure"]))
            conf = draw(st.sampled_from(["", "0.5", "1.5", "bad"]))
            row_csat = draw(st.sampled_from([csat, csat, ""]))
            rows.append(f'{iid},d,2026-03-02T09:00:0{seq}Z,{row_csat},{seq},{role},"{text}",{conf}')
    return rows


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=flat_rows(), chunk_rows=st.integers(1, 12), parquet=st.booleans())
def test_any_chunk_size_gives_the_same_result_as_one_chunk(
    tmp_path: Path, rows: list[str], chunk_rows: int, parquet: bool
) -> None:
    path = write(tmp_path / "h.csv", "id,deployment,started_at,csat,seq,role,text,confidence", rows)
    if parquet:
        table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
        pq.write_table(table, tmp_path / "h.parquet")
        path = tmp_path / "h.parquet"
    whole, whole_errors = merged(read(path))
    split, split_errors = merged(read(path, chunk_rows=chunk_rows))
    assert split.interactions.equals(whole.interactions)
    assert split.turns.equals(whole.turns)
    assert split_errors == whole_errors
    # Whatever survives the shared rules is complete: no interaction without its turns.
    checked = validate_batch(whole)
    kept = drop_records(whole, {e.index for e in [*whole_errors, *checked]})
    assert validate_batch(kept) == []
    n_turns = dict(
        zip(
            kept.interactions["_record"].to_pylist(),
            kept.interactions["n_turns"].to_pylist(),
            strict=True,
        )
    )
    turn_records = kept.turns["_record"].to_pylist()
    assert {r: turn_records.count(r) for r in n_turns} == n_turns


# --- file formats -----------------------------------------------------------------------------


def test_gzip_semicolons_and_latin1(tmp_path: Path) -> None:
    text = "id;deployment;started_at;role;text\na;d;2026-03-02T09:00:00Z;user;café crème\n"
    path = tmp_path / "x.csv.gz"
    path.write_bytes(gzip.compress(text.encode("latin-1")))
    m = parse_mapping({"csv": {"delimiter": ";", "encoding": "latin-1"}})
    chunks = read(path, m)
    assert chunks[0].batch.turns["text"].to_pylist() == ["café crème"]
    assert sum(c.bytes_read for c in chunks) == path.stat().st_size


def test_bytes_read_add_up_to_the_file_size(tmp_path: Path) -> None:
    path = write(tmp_path / "x.csv", HEADER, ROWS * 3)
    chunks = read(path, mapping(tmp_path), chunk_rows=2)
    assert sum(c.bytes_read for c in chunks) == path.stat().st_size


def test_header_only_file_yields_nothing(tmp_path: Path) -> None:
    assert read(write(tmp_path / "x.csv", HEADER, []), mapping(tmp_path)) == []


def test_malformed_csv_line_is_an_input_error(tmp_path: Path) -> None:
    path = write(tmp_path / "x.csv", "id,deployment,started_at", ["a,d,2026-03-02T09:00:00Z,extra"])
    with pytest.raises(InputError, match="Expected 3 columns, got 4"):
        read(path)


# --- the mapping itself -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        ({"columns": {"id": "a", "started_at": "b", "custmer_ref": "c"}}, "columns: 'custmer_ref'"),
        ({"columns": {"id": "a"}}, "started_at must be mapped"),
        ({"columns": {"started_at": "a"}}, "id must be mapped"),
        ({"colums": {}}, "colums"),
        ({"timezone": "Europe/Londn"}, "unknown time zone"),
        ({"format": "xlsx"}, "format"),
        (
            {
                "constants": {"channel": "x"},
                "columns": {"id": "a", "started_at": "b", "channel": "c"},
            },
            "both",
        ),
        ({"deployment": "x", "columns": {"id": "a", "started_at": "b", "deployment": "c"}}, "both"),
        ({"values": {"turn.rol": {"A": "user"}}}, "values: 'turn.rol'"),
        ({"attributes": ["x"], "turn_attributes": ["x"]}, "already in attributes"),
        ({"csv": {"delimiter": ";;"}}, "csv.delimiter"),
    ],
)
def test_invalid_mappings_are_rejected_naming_the_key(doc: dict[str, Any], words: str) -> None:
    with pytest.raises(InputError, match="invalid") as info:
        parse_mapping(doc)
    assert words in info.value.message


def test_mapping_naming_missing_columns_lists_them_all(tmp_path: Path) -> None:
    path = write(tmp_path / "x.csv", HEADER, ROWS)
    text = MAPPING_YAML.replace("csat: csat_score", "csat: csat").replace(
        "team: team", "team: team_name"
    )
    with pytest.raises(InputError) as info:
        iter_flat_batches(path, mapping(tmp_path, text))  # raised before the first chunk
    assert "columns.csat -> 'csat'" in info.value.message
    assert "segments.team -> 'team_name'" in info.value.message
    assert info.value.details["missing"] == [
        {"key": "columns.csat", "column": "csat"},
        {"key": "segments.team", "column": "team_name"},
    ]


def test_mapping_without_deployment_or_id_cannot_import(tmp_path: Path) -> None:
    path = write(tmp_path / "x.csv", HEADER, ROWS)
    with pytest.raises(InputError, match="deployment is required"):
        iter_flat_batches(path, mapping(tmp_path, MAPPING_YAML.replace("deployment: care-bot", "")))
    with pytest.raises(InputError, match="id is required"):
        iter_flat_batches(path)  # identity: no column is called id


def test_bad_yaml_and_bad_constants(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not valid YAML"):
        mapping(tmp_path, "columns: [")
    with pytest.raises(InputError, match="must be a YAML mapping"):
        mapping(tmp_path, "- a\n- b\n")
    path = write(tmp_path / "x.csv", "id,started_at", ["a,2026-03-02T09:00:00Z"])
    m = parse_mapping({"deployment": "d", "constants": {"csat": "lots"}})
    with pytest.raises(InputError, match="constant csat: 'lots' is not a number"):
        read(path, m)


# --- through the import path ------------------------------------------------------------------


def test_import_stores_valid_interactions_whole_and_rejects_the_rest(
    tmp_path: Path, events: Any
) -> None:
    from daytwo.ingest.files import import_file

    rows = [ROWS[0], ROWS[1].replace(",0.31,", ",high,"), *ROWS[2:]]
    path = write(tmp_path / "export.csv", HEADER, rows)
    (tmp_path / "mapping.yaml").write_text(MAPPING_YAML, encoding="utf-8")
    summary = import_file(
        events, path, mapping=tmp_path / "mapping.yaml", rejects=tmp_path / "rejects.jsonl"
    )
    assert (summary.records, summary.accepted, summary.rejected) == (3, 2, 1)
    assert summary.turns == 2
    stored = events.query("SELECT interaction_id, n_turns FROM interactions ORDER BY 1")
    assert stored.to_pylist() == [
        {"interaction_id": "c-2", "n_turns": 2},
        {"interaction_id": "c-3", "n_turns": 0},
    ]
    rejected = [
        orjson.loads(line) for line in (tmp_path / "rejects.jsonl").read_bytes().splitlines()
    ]
    assert [r["index"] for r in rejected] == [0, 1, 2]  # every source row of record 0
    assert rejected[0]["errors"][0]["field"] == "turns.1.confidence"


def test_tsv_files_default_to_tabs(tmp_path: Path) -> None:
    path = write(
        tmp_path / "x.tsv",
        "id\tdeployment\tstarted_at\ttext",
        ["a\td\t2026-03-02T09:00:00Z\thi, you"],
    )
    (chunk,) = read(path)
    assert chunk.batch.turns["text"].to_pylist() == ["hi, you"]


# --- the documentation ------------------------------------------------------------------------

DOC = Path(__file__).parents[2] / "docs" / "import-mapping.md"


def _blocks(text: str, lang: str) -> list[str]:
    parts = text.split(f"```{lang}\n")[1:]
    return [p.split("```", 1)[0] for p in parts]


def test_the_documented_example_imports_as_documented(tmp_path: Path) -> None:
    doc = DOC.read_text(encoding="utf-8")
    sample = next(b for b in _blocks(doc, "text") if b.startswith("conversation_id,"))
    (tmp_path / "export.csv").write_text(sample, encoding="utf-8")
    m = mapping(tmp_path, _blocks(doc, "yaml")[0])
    batch, errors = merged(read(tmp_path / "export.csv", m))
    assert errors == []
    assert validate_batch(batch) == []
    rows = batch.interactions.to_pylist()
    assert [(r["interaction_id"], r["outcome"], r["n_turns"]) for r in rows] == [
        ("c-1", "escalated", 3),
        ("c-2", "contained", 2),
        ("c-3", "abandoned", 0),
    ]
    assert rows[0]["agent_ref"] == "a-17"
    assert rows[0]["segments"] == [("site", "leeds"), ("team", "t1")]
    assert orjson.loads(rows[0]["attributes"]) == {"ab_bucket": "A", "queue_id": "q7"}
    assert rows[0]["started_at"] == utc(2026, 3, 2, 9, 14, 5)
    assert rows[1]["started_at"] == utc(2026, 7, 1, 9, 0)


def test_every_mapping_key_and_field_is_documented() -> None:
    from daytwo.ingest.mapping import FIELDS, CsvOptions

    doc = DOC.read_text(encoding="utf-8")
    keys = [k for k in Mapping.model_fields if k != "csv"]
    keys += [f"csv.{k}" for k in CsvOptions.model_fields]
    assert [k for k in keys if f"| `{k}` |" not in doc] == []
    assert [f for f in FIELDS if f"`{f}`" not in doc] == []


def test_a_parquet_file_imported_twice_counts_once_redacted(tmp_path: Path, events: Any) -> None:
    """The whole import path on either engine: every row stored once however often the file
    is imported, the interaction fields of every row agreeing, and PII redacted."""
    from daytwo.ingest.files import import_file

    n, per = 40, 3
    path = tmp_path / "turns.parquet"
    pq.write_table(
        pa.table(
            {
                "id": [f"p-{i // per}" for i in range(n * per)],
                "deployment": ["bank-bot"] * (n * per),
                "started_at": [f"2026-03-02T09:{(i // per) % 60:02d}:00Z" for i in range(n * per)],
                "journey": [["billing", "cards"][(i // per) % 2] for i in range(n * per)],
                "role": [["user", "assistant", "user"][i % per] for i in range(n * per)],
                "text": [
                    "mail me at ann@example.com" if i % per == 0 else "ok, done"
                    for i in range(n * per)
                ],
            }
        ),
        path,
    )
    first = import_file(events, path)
    again = import_file(events, path)
    assert (first.accepted, first.inserted, first.turns) == (n, n, n * per)
    assert (again.accepted, again.replaced, again.inserted) == (n, n, 0)
    assert events.count("interactions") == n
    assert events.count("turns") == n * per
    texts = events.query("SELECT text FROM turns WHERE seq = 0")["text"].to_pylist()
    assert texts == ["mail me at <EMAIL>"] * n
    journeys = events.query("SELECT journey, COUNT(*) AS n FROM interactions GROUP BY 1 ORDER BY 1")
    assert journeys.to_pylist() == [{"journey": "billing", "n": 20}, {"journey": "cards", "n": 20}]
