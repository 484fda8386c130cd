"""Casting a flat file's source values to the canonical types, on whole Arrow columns.

Each conversion returns the converted column and its *problems*: masks of the values that are
not what the field needs, with what is wrong with them, for the error messages that name the
row and column (see :mod:`daytwo.ingest.flat`).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from daytwo.errors import InputError
from daytwo.ingest.mapping import Scalar, Source
from daytwo.interactions.columns import TS

_NAIVE_TS = pa.timestamp("us")
_AWARE = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)$"
_ZONE = re.compile(r"\d:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}(:?\d{2})?)\s*$")
_NAIVE = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?)?$"
_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
_WHOLE = r"^[+-]?\d{1,18}(\.0*)?$"
_BOOL_TEXT = pa.array(["true", "1", "yes", "false", "0", "no"])
_INT32 = (-(2**31), 2**31 - 1)

Problems = list[tuple[pa.Array, str]]  # (mask of bad values, what is wrong with them)


def constant_column(source: Source, timezone: str | None, n: int) -> pa.Array:
    value = source.constant
    raw = pa.array([None if value is None else _scalar_text(value)], type=pa.string())
    converted, problems = convert(raw, source, timezone)
    for mask, reason in problems:
        if as_bools(mask).any():
            raise InputError(f"The mapping's {source.label}: {value!r} {reason}")
    return pa.repeat(converted[0], n) if n else converted.slice(0, 0)


def _scalar_text(value: Scalar) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def convert(values: pa.Array, source: Source, timezone: str | None) -> tuple[pa.Array, Problems]:
    """Source values as the field's canonical type, and the masks of values that are not."""
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    if source.values:
        values = _value_map(as_text(values), source.values)
    kind = source.spec.kind
    dtype = values.type
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype) or pa.types.is_null(dtype):
        return _from_text(values.cast(pa.string()), kind, timezone)
    if kind == "string":
        return as_text(values), []
    if kind == "float" and _numeric(dtype):
        out = values.cast(pa.float64())
        return out, [(pc.invert(pc.fill_null(pc.is_finite(out), True)), "is not a finite number")]
    if kind in ("int32", "int64") and (pa.types.is_integer(dtype) or pa.types.is_floating(dtype)):
        return _whole_numbers(values.cast(pa.float64()) if _floating(dtype) else values, kind)
    if kind == "bool" and pa.types.is_boolean(dtype):
        return values, []
    if kind == "bool" and pa.types.is_integer(dtype):
        bad = pc.fill_null(pc.and_(pc.not_equal(values, 0), pc.not_equal(values, 1)), False)
        return pc.not_equal(values, 0), [(bad, "is not a boolean (0 or 1)")]
    if kind == "timestamp" and (pa.types.is_timestamp(dtype) or pa.types.is_date(dtype)):
        return _typed_timestamps(values, timezone)
    return _from_text(as_text(values), kind, timezone)


def _numeric(dtype: pa.DataType) -> bool:
    return bool(pa.types.is_integer(dtype) or _floating(dtype) or pa.types.is_decimal(dtype))


def _floating(dtype: pa.DataType) -> bool:
    return bool(pa.types.is_floating(dtype))


def _from_text(values: pa.Array, kind: str, timezone: str | None) -> tuple[pa.Array, Problems]:
    if kind == "string":
        return values, []
    if kind == "float":
        return _text_numbers(values)
    if kind in ("int32", "int64"):
        return _text_whole_numbers(values, kind)
    if kind == "bool":
        index = pc.index_in(pc.utf8_lower(pc.utf8_trim_whitespace(values)), value_set=_BOOL_TEXT)
        bad = pc.and_(pc.is_valid(values), pc.is_null(index))
        return pc.less(index, 3), [(bad, "is not a boolean (true/false, yes/no or 1/0)")]
    return _text_timestamps(values, timezone)


def _text_numbers(values: pa.Array) -> tuple[pa.Array, Problems]:
    problems: Problems = []
    try:
        out = values.cast(pa.float64())
    except pa.ArrowInvalid:
        trimmed = pc.utf8_trim_whitespace(values)
        ok = pc.fill_null(pc.match_substring_regex(trimmed, _NUMBER), True)
        problems.append((pc.invert(ok), "is not a number"))
        out = _cast_or_null(
            pc.if_else(ok, trimmed, None), pa.float64(), problems, "is not a number"
        )
    problems.append((pc.invert(pc.fill_null(pc.is_finite(out), True)), "is not a finite number"))
    return out, problems


def _text_whole_numbers(values: pa.Array, kind: str) -> tuple[pa.Array, Problems]:
    problems: Problems = []
    try:
        if (
            pc.any(pc.match_substring(values, "x")).as_py()
            or pc.any(pc.match_substring(values, "X")).as_py()
        ):
            raise pa.ArrowInvalid("hexadecimal")  # Arrow would read 0x10 as 16
        out = values.cast(pa.int64())
    except pa.ArrowInvalid:
        trimmed = pc.utf8_trim_whitespace(values)
        ok = pc.fill_null(pc.match_substring_regex(trimmed, _WHOLE), True)
        problems.append((pc.invert(ok), "is not a whole number (or has more than 18 digits)"))
        digits = pc.replace_substring_regex(
            pc.replace_substring_regex(trimmed, r"\.0*$", ""), r"^\+", ""
        )
        out = _cast_or_null(pc.if_else(ok, digits, None), pa.int64(), problems, "is not a number")
    result, more = _whole_numbers(out, kind)
    return result, problems + more


def _whole_numbers(values: pa.Array, kind: str) -> tuple[pa.Array, Problems]:
    problems: Problems = []
    if pa.types.is_floating(values.type):
        whole = pc.fill_null(pc.equal(pc.floor(values), values), True)
        fits = pc.fill_null(pc.less(pc.abs(values), 2.0**62), True)
        ok = pc.and_(whole, fits)
        problems.append((pc.invert(ok), "is not a whole number"))
        values = pc.if_else(ok, values, None).cast(pa.int64())
    if kind == "int32":
        low, high = _INT32
        fits = pc.fill_null(
            pc.and_(pc.greater_equal(values, low), pc.less_equal(values, high)), True
        )
        problems.append((pc.invert(fits), f"is out of range ({low} to {high})"))
        return pc.if_else(fits, values, None).cast(pa.int32()), problems
    if pa.types.is_uint64(values.type):
        fits = pc.fill_null(pc.less_equal(values, 2**63 - 1), True)
        problems.append((pc.invert(fits), "is out of range"))
        values = pc.if_else(fits, values, None)
    return values.cast(pa.int64()), problems


def _text_timestamps(values: pa.Array, timezone: str | None) -> tuple[pa.Array, Problems]:
    # A failed cast costs forty times a good one: guess the form from the first value.
    sample = _first_valid(values)
    if sample is None:
        return pa.nulls(len(values), TS), []
    try:
        if _ZONE.search(sample):
            return values.cast(TS), []
        if timezone is not None:
            return _assume(values.cast(_NAIVE_TS), timezone), []
    except pa.ArrowInvalid:
        pass
    problems: Problems = []
    text = pc.replace_substring_regex(pc.utf8_trim_whitespace(values), r"z$", "Z")
    text = pc.replace_substring_regex(text, r"(\.\d{6})\d+", r"\1")  # microseconds are kept
    aware = pc.fill_null(pc.match_substring_regex(text, _AWARE), False)
    naive = pc.fill_null(pc.match_substring_regex(text, _NAIVE), False)
    unknown = pc.and_(pc.is_valid(values), pc.invert(pc.or_(aware, naive)))
    problems.append((unknown, "is not an ISO-8601 timestamp"))
    out = _cast_or_null(pc.if_else(aware, text, None), TS, problems, "is not a valid timestamp")
    if timezone is None:
        problems.append(
            (
                naive,
                "has no time zone: add 'Z' or an offset such as +01:00, or set `timezone` "
                "in the mapping",
            )
        )
        return out, problems
    local = _cast_or_null(
        pc.if_else(naive, text, None), _NAIVE_TS, problems, "is not a valid timestamp"
    )
    return pc.coalesce(out, _assume(local, timezone)), problems


def _typed_timestamps(values: pa.Array, timezone: str | None) -> tuple[pa.Array, Problems]:
    if pa.types.is_timestamp(values.type) and values.type.tz is not None:
        return values.cast(TS, safe=False), []
    local = values.cast(_NAIVE_TS, safe=False)
    if timezone is None:  # only reachable for value-mapped columns; see flat._check_types
        return pa.nulls(len(values), TS), [(pc.is_valid(values), "has no time zone")]
    return _assume(local, timezone), []


def _assume(local: pa.Array, timezone: str) -> pa.Array:
    # A wall-clock time that occurs twice (clocks go back) or never (clocks go forward) takes
    # the earlier reading: deterministic, and off by at most the one hour of the change.
    aware = pc.assume_timezone(local, timezone, ambiguous="earliest", nonexistent="earliest")
    return aware.cast(TS)


def _cast_or_null(
    values: pa.Array, dtype: pa.DataType, problems: Problems, reason: str
) -> pa.Array:
    """Cast; where Arrow refuses a value the pattern let through, find it and make it null.

    Such values are rare (a February 30th), so halves that cast cleanly are skipped whole.
    """
    try:
        return values.cast(dtype)
    except pa.ArrowInvalid:
        pass
    bad = np.zeros(len(values), dtype=bool)
    pending = [(0, len(values))]
    while pending:
        start, stop = pending.pop()
        try:
            values.slice(start, stop - start).cast(dtype)
            continue
        except pa.ArrowInvalid:
            pass
        if stop - start == 1:
            bad[start] = True
        else:
            middle = (start + stop) // 2
            pending += [(start, middle), (middle, stop)]
    mask = pa.array(bad)
    problems.append((mask, reason))
    return pc.if_else(mask, None, values).cast(dtype)


def _value_map(values: pa.Array, table: dict[str, Scalar]) -> pa.Array:
    keys = pa.array(list(table), type=pa.string())
    targets = pa.array([_scalar_text(v) for v in table.values()], type=pa.string())
    index = pc.index_in(values, value_set=keys)
    return pc.if_else(pc.is_valid(index), targets.take(index), values)


def as_text(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    if pa.types.is_string(values.type):
        return values
    if pa.types.is_floating(values.type):
        values = _nan_to_null(values)
    try:
        return values.cast(pa.string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        texts = [
            None if v is None else orjson.dumps(v, default=str).decode() for v in values.to_pylist()
        ]
        return pa.array(texts, type=pa.string())


def _first_valid(values: pa.Array) -> Any:
    valid = as_bools(pc.is_valid(values))
    return values[int(np.argmax(valid))].as_py() if valid.any() else None


def _nan_to_null(values: pa.Array) -> pa.Array:
    if pa.types.is_floating(values.type):
        return pc.if_else(pc.is_nan(values), None, values)
    return values


def column_values(block: pa.Table, source: Source) -> pa.Array:
    if source.column is None:
        return constant_column(source, None, block.num_rows)
    return source_values(block, source.column)


def source_values(block: pa.Table, column: str) -> pa.Array:
    """A source column with its empty cells (null, NaN, empty text) as nulls."""
    values = block[column].combine_chunks()
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    if pa.types.is_null(values.type):  # a column that is empty throughout (Parquet)
        return values.cast(pa.string())
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        empty = pc.equal(values, "")
        if pc.any(empty).as_py():
            values = pc.if_else(empty, None, values)
        return values
    return _nan_to_null(values)


def as_bools(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    if isinstance(mask, pa.ChunkedArray):
        mask = mask.combine_chunks()
    return np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool)


# --- attributes as JSON -----------------------------------------------------------------------

_CONTROL = r"[\x00-\x1f]"


def json_objects(columns: list[tuple[str, pa.Array]]) -> pa.Array:
    """One JSON object per row (keys sorted, nulls left out), or null where all are null."""
    pieces = []
    for name, values in sorted(columns, key=lambda c: c[0]):
        encoded = _json_values(values)
        key = orjson.dumps(name).decode()
        pieces.append(pc.fill_null(pc.binary_join_element_wise(f",{key}:", encoded, ""), ""))
    joined = pc.binary_join_element_wise(*pieces, "")
    body = pc.binary_join_element_wise("{", pc.utf8_slice_codeunits(joined, 1), "}", "")
    return pc.if_else(pc.equal(joined, ""), None, body)


def _json_values(values: pa.Array) -> pa.Array:
    values = _nan_to_null(
        values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    )
    dtype = values.type
    if pa.types.is_integer(dtype) or pa.types.is_boolean(dtype):
        return values.cast(pa.string())
    if pa.types.is_floating(dtype):
        return pc.if_else(pc.is_finite(values), values.cast(pa.string()), None)
    text = as_text(values)
    escaped = pc.replace_substring(pc.replace_substring(text, "\\", "\\\\"), '"', '\\"')
    quoted = pc.binary_join_element_wise('"', escaped, '"', "")
    control = pc.fill_null(pc.match_substring_regex(text, _CONTROL), False)
    if not pc.any(control).as_py():
        return quoted
    # Control characters need \uXXXX escapes: only those values go through orjson.
    exact = [orjson.dumps(v).decode() for v in text.filter(control).to_pylist()]
    return pc.replace_with_mask(quoted, control, pa.array(exact, type=pa.string()))
