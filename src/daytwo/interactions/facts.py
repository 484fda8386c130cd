"""Per-interaction facts derived from its turns and assist events, computed once at ingest.

Conversation metrics (fallback, repeats, errors, latency, tokens, assist usage) are counts over
an interaction's turns. Computing them when the interaction is written, from exactly the turns
written with it, keeps every metric query a scan of one row per interaction, and stays exact:
an interaction and its facts are always replaced together.
"""

from __future__ import annotations

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from daytwo.interactions.columns import Batch

# An assistant answer below this confidence counts as low-confidence (NLU convention).
LOW_CONFIDENCE = 0.5

# A small, transparent word list for the sentiment trend; a model-based scorer can replace it.
POSITIVE_WORDS = (
    r"\b(thanks|thank you|thx|great|perfect|helpful|awesome|excellent|brilliant|appreciate"
    r"|amazing|wonderful|love it|that worked|sorted|solved|fantastic|cheers)\b"
)
NEGATIVE_WORDS = (
    r"\b(useless|terrible|awful|angry|frustrat\w*|ridiculous|annoy\w*|worst|hate|stupid"
    r"|not helpful|waste of time|disappoint\w*|complain\w*|rubbish|pointless|unacceptable"
    r"|doesn'?t work|not working|still broken|speak to a (human|person|real person))\b"
)

FACTS = pa.schema(
    [
        ("n_user_turns", pa.int32()),
        ("n_assistant_turns", pa.int32()),
        ("n_fallback_turns", pa.int32()),
        ("n_low_confidence_turns", pa.int32()),
        ("n_error_turns", pa.int32()),
        ("n_repeats", pa.int32()),
        ("n_positive_turns", pa.int32()),
        ("n_negative_turns", pa.int32()),
        ("first_fallback_seq", pa.int32()),
        ("first_agent_seq", pa.int32()),
        ("latency_ms_sum", pa.float64()),
        ("latency_ms_max", pa.float64()),
        ("n_latency", pa.int32()),
        ("tokens_in", pa.int64()),
        ("tokens_out", pa.int64()),
        ("ai_cost", pa.float64()),
        ("n_assist_shown", pa.int32()),
        ("n_assist_accepted", pa.int32()),
        ("n_assist_edited", pa.int32()),
        ("n_assist_dismissed", pa.int32()),
        ("nps", pa.float64()),
    ]
)


_PUNCTUATION = ",.!?;:'\"()-"
# Byte map: each punctuation mark to a space, every other byte to itself. The marks are ASCII,
# and an ASCII byte never occurs inside a multi-byte UTF-8 character, so mapping bytes in place
# keeps every text valid and every offset where it was.
_TO_SPACE = np.arange(256, dtype=np.uint8)
_TO_SPACE[[ord(c) for c in _PUNCTUATION]] = ord(" ")


def _words(lowered: pa.Array) -> pa.Array:
    """Lower-cased texts with punctuation turned into spaces, runs of spaces made one and the
    ends trimmed, for repeat detection.

    One pass over the texts' bytes in NumPy (a replace per mark in Arrow read them 14 times).
    """
    texts = lowered.combine_chunks() if isinstance(lowered, pa.ChunkedArray) else lowered
    texts = texts.cast(pa.string())
    n = len(texts)
    validity, offsets_buf, data_buf = texts.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int32)[texts.offset : texts.offset + n + 1]
    begin, end = int(offsets[0]), int(offsets[-1])
    data = _TO_SPACE[np.frombuffer(data_buf, dtype=np.uint8)[begin:end]] if end > begin else None
    if data is None:
        return texts
    # A space right after a space of the same text goes.
    space = data == ord(" ")
    drop = np.zeros(len(data), dtype=bool)
    drop[1:] = space[1:] & space[:-1]
    firsts = offsets[:-1] - begin
    drop[firsts[firsts < len(data)]] = False
    kept = np.concatenate([[0], np.cumsum(~drop)]).astype(np.int32)
    words = pa.StringArray.from_buffers(
        n,
        pa.py_buffer(kept[offsets - begin]),
        pa.py_buffer(data[~drop]),
        None if validity is None else _validity(validity, texts.offset, n),
    )
    return pc.utf8_trim_whitespace(words)


def _validity(buffer: pa.Buffer, offset: int, n: int) -> pa.Buffer:
    """A validity bitmap re-based to start at bit 0."""
    if offset == 0:
        return buffer
    bits = np.unpackbits(np.frombuffer(buffer, dtype=np.uint8), bitorder="little")
    return pa.py_buffer(np.packbits(bits[offset : offset + n], bitorder="little"))


def _per_record(keys: np.ndarray, values: np.ndarray, n: int, how: str) -> np.ndarray:
    """Aggregate ``values`` by record position ``keys`` into an array of length ``n``."""
    if how == "sum":
        return np.bincount(keys, weights=values, minlength=n)
    out = np.full(n, np.nan)
    if how == "max":
        np.fmax.at(out, keys, values)
    elif how == "min":
        np.fmin.at(out, keys, values)
    return out


def add_facts(batch: Batch) -> Batch:
    """The batch with :data:`FACTS` columns appended to its interactions table."""
    inter = batch.interactions
    n = inter.num_rows
    turns = _in_order(batch.turns)
    rows = _rows_of(inter, turns)

    flag = flag_array
    role = turns["role"]
    is_user = flag(pc.equal(role, "user"))
    is_assistant = flag(pc.equal(role, "assistant"))
    is_agent = flag(pc.equal(role, "agent"))
    fallback = flag(pc.equal(turns["fallback"], True)) & is_assistant
    low_conf = flag(pc.less(turns["confidence"], LOW_CONFIDENCE)) & is_assistant
    error = flag(pc.is_valid(turns["error"]))
    seq = turns["seq"].to_numpy(zero_copy_only=False).astype(np.float64)

    # A repeat: a user turn right after a fallback answer, or the same words sent again.
    same_record_as_prev = np.zeros(len(rows), dtype=bool)
    same_record_as_prev[1:] = rows[1:] == rows[:-1]
    after_fallback = np.zeros(len(rows), dtype=bool)
    after_fallback[1:] = fallback[:-1]
    # Text work only on the customer's messages: about half the turns.
    user_idx = np.flatnonzero(is_user)
    user_lowered = pc.utf8_lower(pc.take(turns["text"], pa.array(user_idx, type=pa.int64())))
    repeated_text = np.zeros(len(rows), dtype=bool)
    if len(user_idx) > 1:
        # Only consecutive messages of one conversation with near-equal lengths can hold the
        # same words; normalise just those (a small share) instead of every message.
        length = pc.fill_null(pc.utf8_length(user_lowered), -1).to_numpy(zero_copy_only=False)
        prev, cur = np.arange(len(user_idx) - 1), np.arange(1, len(user_idx))
        cand = (rows[user_idx[prev]] == rows[user_idx[cur]]) & (length[cur] > 0)
        cand &= np.abs(length[cur] - length[prev]) <= 8
        pairs = np.flatnonzero(cand)
        if len(pairs):
            a = _words(pc.take(user_lowered, pa.array(prev[pairs], type=pa.int64())))
            b = _words(pc.take(user_lowered, pa.array(cur[pairs], type=pa.int64())))
            same = flag(pc.and_(pc.equal(a, b), pc.greater(pc.utf8_length(b), 0)))
            repeated_text[user_idx[cur[pairs[same]]]] = True
    # Only a message after the customer's first can repeat anything: a first message that
    # follows an opening fallback is not a rephrase.
    later_user = np.zeros(len(rows), dtype=bool)
    later_user[user_idx[1:]] = rows[user_idx[1:]] == rows[user_idx[:-1]]
    repeat = later_user & same_record_as_prev & (after_fallback | repeated_text)
    positive = np.zeros(len(rows), dtype=bool)
    negative = np.zeros(len(rows), dtype=bool)
    positive[user_idx] = flag(pc.match_substring_regex(user_lowered, POSITIVE_WORDS))
    negative[user_idx] = flag(pc.match_substring_regex(user_lowered, NEGATIVE_WORDS))

    def count(mask: np.ndarray) -> pa.Array:
        return pa.array(np.bincount(rows[mask], minlength=n).astype(np.int32))

    def first_seq(mask: np.ndarray) -> pa.Array:
        first = _per_record(rows[mask], seq[mask], n, "min")
        return pa.array(first, mask=np.isnan(first)).cast(pa.int32())

    latency = turns["latency_ms"].to_numpy(zero_copy_only=False).astype(np.float64)
    has_latency = ~np.isnan(latency) & is_assistant
    lat_max = _per_record(rows[has_latency], latency[has_latency], n, "max")

    def total(col: str, dtype: pa.DataType) -> pa.Array:
        values = turns[col].to_numpy(zero_copy_only=False).astype(np.float64)
        present = ~np.isnan(values)
        sums = _per_record(rows[present], values[present], n, "sum")
        # Null, not 0, where no turn reported the value: unknown is not free.
        reported = np.bincount(rows[present], minlength=n) > 0
        return pa.array(sums, mask=~reported).cast(dtype)

    assist = batch.assist_events
    a_rows = _rows_of(inter, assist)
    action = assist["action"]

    def assist_count(name: str) -> pa.Array:
        mask = flag(pc.equal(action, name)) if assist.num_rows else np.zeros(0, dtype=bool)
        return pa.array(np.bincount(a_rows[mask], minlength=n).astype(np.int32))

    columns = {
        "n_user_turns": count(is_user),
        "n_assistant_turns": count(is_assistant),
        "n_fallback_turns": count(fallback),
        "n_low_confidence_turns": count(low_conf),
        "n_error_turns": count(error),
        "n_repeats": count(repeat),
        "n_positive_turns": count(positive),
        "n_negative_turns": count(negative),
        "first_fallback_seq": first_seq(fallback),
        "first_agent_seq": first_seq(is_agent),
        "latency_ms_sum": pa.array(_per_record(rows[has_latency], latency[has_latency], n, "sum")),
        "latency_ms_max": pa.array(lat_max, mask=np.isnan(lat_max)),
        "n_latency": count(has_latency),
        "tokens_in": total("tokens_in", pa.int64()),
        "tokens_out": total("tokens_out", pa.int64()),
        "ai_cost": total("cost", pa.float64()),
        "n_assist_shown": assist_count("shown"),
        "n_assist_accepted": assist_count("accepted"),
        "n_assist_edited": assist_count("edited"),
        "n_assist_dismissed": assist_count("dismissed"),
        "nps": _nps(inter["attributes"]),
    }
    table = inter
    for field in FACTS:
        table = table.append_column(field, columns[field.name].cast(field.type))
    return Batch(table, batch.turns, batch.assist_events)


def _nps(attributes: pa.ChunkedArray | pa.Array) -> pa.Array:
    """A 0-10 ``nps`` answer sent as an extra key of the interaction, where there is one."""
    mask = flag_array(pc.match_substring(attributes, '"nps"'))
    out: list[float | None] = [None] * len(attributes)
    for i in np.flatnonzero(mask):
        value = orjson.loads(attributes[int(i)].as_py()).get("nps")
        if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 10:
            out[int(i)] = float(value)
    return pa.array(out, type=pa.float64())


def flag_array(mask: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


def _in_order(turns: pa.Table) -> pa.Table:
    """Turns ordered by record and seq; most sources send them so, and then nothing is moved."""
    rec = turns["_record"].to_numpy()
    seq = turns["seq"].to_numpy(zero_copy_only=False)
    if len(rec) < 2:
        return turns
    step_rec = np.diff(rec)
    ordered = np.all((step_rec > 0) | ((step_rec == 0) & (np.diff(seq) > 0)))
    return turns if ordered else turns.sort_by([("_record", "ascending"), ("seq", "ascending")])


def _rows_of(interactions: pa.Table, children: pa.Table) -> np.ndarray:
    """For each child row (turn, assist event), the row of its interaction in the batch."""
    records = interactions["_record"].to_numpy()
    order = np.argsort(records, kind="stable")
    child = children["_record"].to_numpy()
    rows: np.ndarray = order[np.searchsorted(records[order], child)].astype(np.int64)
    return rows
