"""Rows of a flat file grouped into records: one chunk's interaction and turn tables.

The rows of one interaction are contiguous (the reader in :mod:`daytwo.ingest.flat` cuts chunks
between interactions); interaction fields take each group's first non-empty value, turn fields
come from the rows that are turns, and every value that cannot be read is an error naming its
row and column.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from daytwo.errors import RecordError
from daytwo.ingest.flat_values import (
    as_bools,
    as_text,
    column_values,
    constant_column,
    convert,
    json_objects,
    source_values,
)
from daytwo.ingest.mapping import ResolvedMapping, Source
from daytwo.interactions.columns import (
    ASSIST_EVENTS,
    INTERACTIONS,
    SEGMENTS,
    TURNS,
    Batch,
    with_locators,
)

ROW = "_row"
_INTERACTION_SCHEMA = with_locators(INTERACTIONS, pos=False)
_TURN_SCHEMA = with_locators(TURNS, pos=True)
_ASSIST_SCHEMA = with_locators(ASSIST_EVENTS, pos=True)


@dataclass(slots=True)
class FlatChunk:
    """One chunk of a flat file: its canonical batch and the decode errors of its rows."""

    batch: Batch
    errors: list[RecordError]
    rows_read: int  # source rows in this chunk (turn rows, interaction-only rows, copies)
    turns: int
    source: pa.Table = field(repr=False)  # the chunk's rows as read, with their number in _row
    row_record: np.ndarray = field(repr=False)  # the record (first row) of each source row
    bytes_read: int = 0  # CSV: file bytes consumed since the previous chunk (for progress)

    def rejected_rows(self, records: Iterable[int]) -> pa.Table:
        """The source rows, as read, of the given records, with their row number in ``_row``."""
        wanted = np.fromiter(records, dtype=np.int64)
        return self.source.filter(pa.array(np.isin(self.row_record, wanted)))


@dataclass(slots=True)
class _Groups:
    """The layout of one block: which rows belong to which record, and which rows are turns."""

    rows: np.ndarray  # source row number of each block row
    starts: np.ndarray  # block index of each group's first row
    gid: np.ndarray  # group of each block row
    records: np.ndarray  # record index (first source row) of each group
    ids: pa.Array  # interaction id of each group, for messages (read only for those)
    turn_rows: np.ndarray  # block index of each turn row
    turn_gid: np.ndarray  # group of each turn
    turn_pos: np.ndarray  # position of each turn in its interaction


class _Errors:
    """Decode errors of one chunk, one per record and field (the first found)."""

    def __init__(self, groups: _Groups) -> None:
        self.groups = groups
        self.found: dict[tuple[int, str], RecordError] = {}

    def add(self, group: int, field: str, message: str) -> None:
        record = int(self.groups.records[group])
        key = (record, field)
        if key not in self.found:
            self.found[key] = RecordError(record, self.groups.ids[group].as_py(), field, message)

    def sorted(self) -> list[RecordError]:
        return [self.found[k] for k in sorted(self.found)]


def decode_block(
    block: pa.Table,
    keys: pa.Array,
    starts: np.ndarray,
    resolved: ResolvedMapping,
    seen: set[str],
) -> FlatChunk:
    n = block.num_rows
    rows = block[ROW].to_numpy()
    first = np.zeros(n, dtype=bool)
    first[starts] = True
    gid = np.cumsum(first) - 1
    records = rows[starts]
    ids = as_text(column_values(block, resolved.fields["id"])).take(pa.array(starts))
    turn_rows = np.flatnonzero(_turn_mask(block, resolved))
    turn_gid = gid[turn_rows]
    turn_pos = _positions(turn_gid)
    groups = _Groups(rows, starts, gid, records, ids, turn_rows, turn_gid, turn_pos)
    errors = _Errors(groups)

    copies = np.zeros(len(starts), dtype=bool)
    group_keys = keys.take(pa.array(starts)).to_pylist()
    fresh = set(group_keys)
    fresh.discard(None)
    if len(fresh) == len(group_keys) - group_keys.count(None) and fresh.isdisjoint(seen):
        seen |= fresh  # no id twice: the usual chunk, in two set operations instead of a loop
        group_keys = []
    for g, key in enumerate(group_keys):
        if key is None:
            continue  # no id: the shared rules report it
        if key in seen:
            copies[g] = True
            errors.add(
                g,
                "id",
                f"interaction {ids[g].as_py()!r} appears again at row {records[g]} after other "
                "interactions; rows of an interaction must be contiguous",
            )
        else:
            seen.add(key)

    interactions = _interaction_table(block, groups, resolved, errors)
    turns = _turn_table(block, groups, resolved, errors, interactions)
    keep = pa.array(~copies)
    interactions = interactions.filter(keep)
    turns = turns.filter(pa.array(~copies[turn_gid]))
    return FlatChunk(
        batch=Batch(interactions, turns, _ASSIST_SCHEMA.empty_table()),
        errors=errors.sorted(),
        rows_read=n,
        turns=turns.num_rows,
        source=block,
        row_record=records[gid],
    )


def _turn_mask(block: pa.Table, resolved: ResolvedMapping) -> np.ndarray:
    n = block.num_rows
    marks = [s for k, s in resolved.fields.items() if k in ("turn.text", "turn.role") and s.column]
    if not marks:
        marks = [s for s in resolved.turn_fields if s.column is not None]
    mask = np.zeros(n, dtype=bool)
    for source in marks:
        values = column_values(block, source)
        present = pc.is_valid(values)
        if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
            present = pc.and_(present, pc.greater(pc.utf8_length(values), 0))
        mask |= as_bools(present)
    return mask


def _positions(turn_gid: np.ndarray) -> np.ndarray:
    if len(turn_gid) == 0:
        return np.empty(0, dtype=np.int32)
    new = np.concatenate([[True], turn_gid[1:] != turn_gid[:-1]])
    run_starts = np.flatnonzero(new)
    run = np.cumsum(new) - 1
    positions: np.ndarray = (np.arange(len(turn_gid)) - run_starts[run]).astype(np.int32)
    return positions


# --- interaction-level fields -----------------------------------------------------------------


def _interaction_table(
    block: pa.Table, groups: _Groups, resolved: ResolvedMapping, errors: _Errors
) -> pa.Table:
    g = len(groups.starts)
    cols: dict[str, pa.Array] = {}
    for source in resolved.interaction_fields:
        cols[source.spec.column] = _group_field(block, groups, source, resolved, errors)
    if resolved.segments:
        values = [_group_field(block, groups, s, resolved, errors) for s in resolved.segments]
        cols["segments"] = _segment_maps([s.spec.column for s in resolved.segments], values)
    if resolved.attributes:
        firsts = []
        for name in resolved.attributes:
            values = _first_per_group(block, groups, name, f"attributes.{name}", errors)
            firsts.append((name, values))
        cols["attributes"] = json_objects(firsts)
    cols["n_turns"] = pa.array(np.bincount(groups.turn_gid, minlength=g).astype(np.int32))
    cols["_record"] = pa.array(groups.records)
    return _assemble(cols, _INTERACTION_SCHEMA, g)


def _group_field(
    block: pa.Table, groups: _Groups, source: Source, resolved: ResolvedMapping, errors: _Errors
) -> pa.Array:
    g = len(groups.starts)
    if source.column is None:
        return constant_column(source, resolved.timezone, g)
    values = _first_per_group(block, groups, source.column, source.spec.key, errors)
    converted, problems = convert(values, source, resolved.timezone)
    for mask, reason in problems:
        bad = np.flatnonzero(as_bools(mask))
        shown = values.take(pa.array(bad)).to_pylist()
        firsts = _first_valid_rows(source_values(block, source.column), groups, bad)
        for grp, value, row in zip(bad.tolist(), shown, firsts, strict=True):
            errors.add(grp, source.spec.key, f"row {row}, {source.label}: {value!r} {reason}")
    return converted


def _first_per_group(
    block: pa.Table, groups: _Groups, column: str, field: str, errors: _Errors
) -> pa.Array:
    """Each group's first non-empty value of ``column``; later rows that differ are errors."""
    values = source_values(block, column)
    if len(groups.starts) == len(groups.rows):
        return values
    n = len(values)
    if values.null_count == 0:
        # Usually every row repeats its interaction's value: each row equal to the one before
        # it within its group proves that with zero-copy slices, without gathering the firsts
        # for every row (differences and gaps take the exact path below, for the messages).
        inner = np.ones(n - 1, dtype=bool)
        inner[groups.starts[1:] - 1] = False
        same = as_bools(pc.fill_null(pc.equal(values.slice(1), values.slice(0, n - 1)), False))
        if same[inner].all():
            return values.take(pa.array(groups.starts))
    valid = as_bools(pc.is_valid(values))
    index = np.where(valid, np.arange(n), n)
    first = np.minimum.reduceat(index, groups.starts)
    firsts = values.take(pa.array(first, mask=first >= n))
    per_row = firsts.take(pa.array(groups.gid))
    differs = as_bools(pc.fill_null(pc.and_(valid, pc.not_equal(values, per_row)), False))
    if differs.any():
        bad_rows = np.flatnonzero(differs)
        grp, at = np.unique(groups.gid[bad_rows], return_index=True)
        bad_rows = bad_rows[at]
        shown = values.take(pa.array(bad_rows)).to_pylist()
        earlier = values.take(pa.array(first[grp])).to_pylist()
        for gg, row, value, before, first_row in zip(
            grp.tolist(), bad_rows.tolist(), shown, earlier, first[grp].tolist(), strict=True
        ):
            errors.add(
                gg,
                field,
                f"row {groups.rows[row]} has {value!r} in column {column}, but row "
                f"{groups.rows[first_row]} of the same interaction has {before!r}; "
                "interaction fields must agree on every row"
                + (
                    " (list per-row columns under turn_attributes)" if "attributes" in field else ""
                ),
            )
    return firsts


def _first_valid_rows(values: pa.Array, groups: _Groups, bad: np.ndarray) -> list[int]:
    """Source row numbers of the first non-empty value of the given groups (for messages)."""
    valid = as_bools(pc.is_valid(values))
    out = []
    for grp in bad.tolist():
        start = int(groups.starts[grp])
        end = int(groups.starts[grp + 1]) if grp + 1 < len(groups.starts) else len(valid)
        offset = int(np.argmax(valid[start:end]))
        out.append(int(groups.rows[start + offset]))
    return out


def _segment_maps(names: list[str], values: list[pa.Array]) -> pa.Array:
    """Per-group ``map<string, string>`` of the segments that have a value (null if none)."""
    g = len(values[0])
    texts = [as_text(v) for v in values]
    valid = np.column_stack([as_bools(pc.is_valid(v)) for v in texts])
    counts = valid.sum(axis=1)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    row, col = np.nonzero(valid)  # row-major: each group's entries together, keys in order
    items = pa.concat_arrays(texts).take(pa.array(col * g + row))
    keys = pa.array(names, type=pa.string()).take(pa.array(col))
    maps = pa.MapArray.from_arrays(pa.array(offsets), keys, items, mask=pa.array(counts == 0))
    return maps.cast(SEGMENTS)


# --- turn-level fields ------------------------------------------------------------------------


def _turn_table(
    block: pa.Table,
    groups: _Groups,
    resolved: ResolvedMapping,
    errors: _Errors,
    interactions: pa.Table,
) -> pa.Table:
    t = len(groups.turn_rows)
    every_row = t == block.num_rows  # then turn_rows is 0..n-1: the columns are the turns'
    take = pa.array(groups.turn_rows)

    def turn_values(column: str) -> pa.Array:
        values = source_values(block, column)
        return values if every_row else values.take(take)

    parents = pa.array(groups.turn_gid)
    cols: dict[str, pa.Array] = {
        "interaction_id": interactions["interaction_id"].combine_chunks().take(parents),
        "deployment": interactions["deployment"].combine_chunks().take(parents),
        "seq": pa.array(groups.turn_pos),
    }
    for source in resolved.turn_fields:
        if source.column is None:
            cols[source.spec.column] = constant_column(source, resolved.timezone, t)
            continue
        values = turn_values(source.column)
        converted, problems = convert(values, source, resolved.timezone)
        for mask, reason in problems:
            bad = np.flatnonzero(as_bools(mask))
            shown = values.take(pa.array(bad)).to_pylist()
            for k, value in zip(bad.tolist(), shown, strict=True):
                row = groups.rows[groups.turn_rows[k]]
                errors.add(
                    int(groups.turn_gid[k]),
                    f"turns.{groups.turn_pos[k]}.{source.spec.column}",
                    f"row {row}, {source.label}: {value!r} {reason}",
                )
        cols[source.spec.column] = converted
    if resolved.turn_attributes:
        cols["attributes"] = json_objects(
            [(name, turn_values(name)) for name in resolved.turn_attributes]
        )
    cols["_record"] = pa.array(groups.records[groups.turn_gid])
    cols["_pos"] = pa.array(groups.turn_pos)
    return _assemble(cols, _TURN_SCHEMA, t)


def _assemble(cols: dict[str, pa.Array], schema: pa.Schema, n: int) -> pa.Table:
    arrays = []
    for f in schema:
        value = cols.get(f.name)
        arrays.append(pa.nulls(n, type=f.type) if value is None else value.cast(f.type))
    return pa.Table.from_arrays(arrays, schema=schema)
