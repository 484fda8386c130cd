"""Every query is written once, in the portable (DuckDB) dialect; this module says it in
ClickHouse's.

SQLGlot parses the portable SQL and writes ClickHouse SQL; the few places where the engines mean
different things by the same words are rewritten on the way (each rewrite below says why).
Parameters (``?`` and ``$n``) are bound as typed literals: the HTTP interface and chDB both take
a plain statement, and a literal keeps its type (a timestamp stays a UTC ``DateTime64``).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.dialects.clickhouse import ClickHouse
from sqlglot.generators.clickhouse import ClickHouseGenerator
from sqlglot.tokenizer_core import TokenType

from daytwo.errors import InputError
from daytwo.interactions.slice import FIRST_DAY, LAST_DAY

TIMESTAMP = "DateTime64(6, 'UTC')"

# The days a bound value may name (:data:`daytwo.interactions.slice.FIRST_DAY` to ``LAST_DAY``):
# what ClickHouse's ``Date32`` and ``DateTime64`` hold. Plain ``Date`` ends on 2149-06-06 and
# wraps round silently past it (a timestamp in 2200 cast to it reads 2020-07-27; a day string
# saturates, and one day later reads 1970-01-01), so every DATE of the portable SQL is written
# ``Date32`` and a value outside these days is refused.

# Settings every read runs with, so that ClickHouse answers as the portable SQL means:
# - final: reads see each interaction once (the ReplacingMergeTree's latest version, tombstones
#   dropped), whether or not the engine has merged the parts yet;
# - join_use_nulls: an unmatched outer-join column is NULL, not the type's default;
# - aggregate_functions_null_for_empty: sum/avg/min/max of no rows is NULL, not 0 or nan;
# - prefer_column_name_to_alias: a column named like an output alias is the column, as in
#   standard SQL (ClickHouse would read ``sum(x__n) AS x__n`` into another sum(x__n)).
# - enable_materialized_cte: ``WITH x AS MATERIALIZED`` is computed once, as in DuckDB.
# - group_by_use_nulls: a column a grouping set leaves out is NULL (ClickHouse would answer
#   its type's default, '' or 0, indistinguishable from a real value).
READ_SETTINGS: dict[str, Any] = {
    "final": 1,
    "group_by_use_nulls": 1,
    "enable_materialized_cte": 1,
    "prefer_column_name_to_alias": 1,
    "join_use_nulls": 1,
    "aggregate_functions_null_for_empty": 1,
    "session_timezone": "UTC",
    "max_query_size": 64 * 1024 * 1024,
    "output_format_arrow_string_as_string": 1,
    "output_format_arrow_low_cardinality_as_dictionary": 0,
}


class _Dialect(ClickHouse):
    """ClickHouse as SQLGlot writes it, with a UTC microsecond timestamp for TIMESTAMPTZ and
    ``Date32`` for DATE (see :data:`LAST_DAY`)."""

    class Generator(ClickHouseGenerator):
        TYPE_MAPPING = {  # noqa: RUF012 - SQLGlot's own class attribute
            **ClickHouseGenerator.TYPE_MAPPING,
            exp.DataType.Type.DATE: "Date32",
        }
        TRANSFORMS = {  # noqa: RUF012 - SQLGlot's own class attribute
            **ClickHouseGenerator.TRANSFORMS,
            exp.MapKeys: lambda self, e: self.func("mapKeys", e.this),
            # bool_or / bool_and: ClickHouse has no such aggregates; max / min of a boolean
            # mean the same (NULLs skipped, NULL over no rows).
            # epoch(ts): seconds since 1970 with the microseconds, as a float.
            exp.TimeToUnix: lambda self, e: (
                f"(toUnixTimestamp64Micro({self.sql(e, 'this')}) / 1000000)"
            ),
            exp.LogicalOr: lambda self, e: self.func("max", e.this),
            exp.LogicalAnd: lambda self, e: self.func("min", e.this),
            # regexp_extract_all(s, pattern): every match of the whole pattern, in order.
            exp.RegexpExtractAll: lambda self, e: self.func("extractAll", e.this, e.expression),
            exp.ArrayIntersect: lambda self, e: self.func("arrayIntersect", *e.expressions),
            # lower / upper: ClickHouse's change ASCII letters only ("ÉLODIE" -> "Élodie");
            # DuckDB's, which the portable SQL means, change every letter. A search's text
            # and the words the plan's gaps compare are lowered this way.
            exp.Lower: lambda self, e: self.func("lowerUTF8", e.this),
            exp.Upper: lambda self, e: self.func("upperUTF8", e.this),
        }

        def datatype_sql(self, expression: exp.DataType) -> str:
            # SQLGlot reads DuckDB's TIMESTAMP as TIMESTAMPNTZ: a plain DateTime there, which
            # drops the microseconds (a read's span bounds, ``CAST(? AS TIMESTAMP)``).
            if expression.this in (
                exp.DataType.Type.TIMESTAMPTZ,
                exp.DataType.Type.TIMESTAMP,
                exp.DataType.Type.TIMESTAMPNTZ,
            ):
                return TIMESTAMP
            return str(super().datatype_sql(expression))


def _in_range(day: date, value: date | datetime) -> None:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InputError(
            f"The date {value.isoformat()} is outside the days the ClickHouse events store "
            f"holds ({FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()})."
        )


def literal(value: Any) -> exp.Expression:
    """A Python value as a typed ClickHouse literal; a date or time outside
    :data:`FIRST_DAY` - :data:`LAST_DAY` is an input error (ClickHouse would clamp it)."""
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int):
        return exp.Literal.number(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InputError(f"Cannot query with the number {value!r}.")
        return exp.Literal.number(repr(value))
    if isinstance(value, datetime):
        at = value.astimezone(UTC) if value.tzinfo else value
        _in_range(at.date(), value)
        text = at.strftime("%Y-%m-%d %H:%M:%S.%f")
        return exp.Anonymous(
            this="toDateTime64",
            expressions=[
                exp.Literal.string(text),
                exp.Literal.number(6),
                exp.Literal.string("UTC"),
            ],
        )
    if isinstance(value, date):
        _in_range(value, value)
        return exp.Anonymous(this="toDate32", expressions=[exp.Literal.string(value.isoformat())])
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, list | tuple):
        return exp.Array(expressions=[literal(v) for v in value])
    raise TypeError(f"cannot bind a {type(value).__name__} as a query parameter")


def quote(value: str) -> str:
    """A string as a ClickHouse literal (backslash and quote escaped), without building a
    syntax tree: a batch's look-up of its ids quotes tens of thousands of them."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _numbered(sql: str) -> str:
    """``?`` placeholders renumbered ``$1, $2…`` in the order they appear in the text."""
    tokens = sqlglot.tokenize(sql, read="duckdb")
    out: list[str] = []
    last = 0
    k = 0
    for tok in tokens:
        if tok.token_type == TokenType.PLACEHOLDER and tok.text == "?":
            k += 1
            out.append(sql[last : tok.start])
            out.append(f"${k}")
            last = tok.end + 1
    out.append(sql[last:])
    return "".join(out)


def _quantile(node: exp.Expression) -> exp.Expression:
    """DuckDB's ``quantile_cont`` interpolates linearly between the two nearest ranks; so does
    ClickHouse's ``quantileExactInclusive`` (not its sampling ``quantile``). A list of levels
    gives an array, as ``quantilesExactInclusive`` does."""
    if not isinstance(node, exp.PercentileCont):
        return node
    level = node.expression
    levels = level.expressions if isinstance(level, exp.Array) else [level]
    name = "quantilesExactInclusive" if isinstance(level, exp.Array) else "quantileExactInclusive"
    # SQLGlot's ParameterizedAgg: ``this(expressions)(params)``, the levels first.
    return exp.ParameterizedAgg(this=name, expressions=list(levels), params=[node.this])


def _filtered_parametric(node: exp.Expression) -> exp.Expression:
    """``quantile…(q)(x) FILTER (WHERE c)`` as ClickHouse's ``-If`` combinator,
    ``quantile…If(q)(x, c)``: the FILTER clause does not carry a parametric function's
    levels."""
    if not (isinstance(node, exp.Filter) and isinstance(node.this, exp.ParameterizedAgg)):
        return node
    agg = node.this
    where = node.expression
    cond = where.this if isinstance(where, exp.Where) else where
    return exp.ParameterizedAgg(
        this=f"{agg.name}If",
        expressions=[e.copy() for e in agg.expressions],
        params=[*(p.copy() for p in agg.args.get("params") or []), cond.copy()],
    )


def _filtered_count_if(node: exp.Expression) -> exp.Expression:
    """``count_if(x) FILTER (WHERE c)`` as ``countIf(x AND c)``: ClickHouse writes FILTER as
    its ``-If`` combinator and refuses ``countIfIf``. A NULL ``x`` or ``c`` is not counted
    either way."""
    if not (isinstance(node, exp.Filter) and isinstance(node.this, exp.CountIf)):
        return node
    where = node.expression
    cond = where.this if isinstance(where, exp.Where) else where
    both = exp.and_(exp.paren(node.this.this.copy()), exp.paren(cond.copy()))
    return exp.CountIf(this=both)


def _named_columns(node: exp.Expression) -> exp.Expression:
    """``SELECT a.x`` names its column ``x`` in DuckDB, but ``a.x`` in ClickHouse where a join
    makes the name ambiguous, so an outer query's ``x`` would not find it: say ``AS x``."""
    if not isinstance(node, exp.Select):
        return node
    for i, projection in enumerate(node.expressions):
        if (
            isinstance(projection, exp.Column)
            and projection.table
            and isinstance(projection.this, exp.Identifier)
        ):
            node.expressions[i] = exp.alias_(projection, projection.name)
    return node


def _element_at(node: exp.Expression) -> exp.Expression:
    """DuckDB's ``element_at(map, key)[1]`` (the value under ``key``, NULL where missing) as
    ``map[key]``, which :func:`_map_lookup` then makes NULL where the key is missing."""
    if not (
        isinstance(node, exp.Bracket)
        and isinstance(node.this, exp.Anonymous)
        and node.this.name.lower() == "element_at"
        and len(node.this.expressions) == 2
        and len(node.expressions) == 1
        and isinstance(node.expressions[0], exp.Literal)
        and node.expressions[0].this in (0, "0", 1, "1")
    ):
        return node
    target, key = node.this.expressions
    return exp.Bracket(this=target.copy(), expressions=[key.copy()])


def _map_lookup(node: exp.Expression) -> exp.Expression:
    """``segments['site']``: NULL where the key is missing, as in DuckDB (ClickHouse answers
    the empty string)."""
    if not isinstance(node, exp.Bracket) or len(node.expressions) != 1:
        return node
    key = node.expressions[0]
    if not (isinstance(key, exp.Literal) and key.is_string):
        return node
    target = node.this
    if not (isinstance(target, exp.Column) and target.name == "segments"):
        return node
    return exp.If(
        this=exp.Anonymous(this="mapContains", expressions=[target.copy(), key.copy()]),
        true=node.copy(),
        false=exp.Null(),
    )


def _stddev(node: exp.Expression) -> exp.Expression:
    """The sample deviation of fewer than two values is NULL in DuckDB, nan in ClickHouse."""
    inner = node.this if isinstance(node, exp.Filter) else node
    if not isinstance(inner, exp.StddevSamp) or isinstance(node.parent, exp.Filter | exp.Anonymous):
        return node
    return exp.Anonymous(this="ifNotFinite", expressions=[node.copy(), exp.Null()])


def _lead_lag(node: exp.Expression) -> exp.Expression:
    """``lead``/``lag`` past the partition's edge: NULL in DuckDB, the type's default (1970)
    in ClickHouse unless the value is nullable."""
    if isinstance(node, exp.Lead | exp.Lag) and not (
        isinstance(node.this, exp.Anonymous) and node.this.name == "toNullable"
    ):
        node.set("this", exp.Anonymous(this="toNullable", expressions=[node.this.copy()]))
    return node


def _truncated(node: exp.Expression) -> exp.Expression:
    """``date_trunc`` keeps a UTC timestamp in DuckDB; ClickHouse answers a Date for weeks and
    months and a DateTime without the microseconds for hours."""
    if isinstance(node, exp.TimestampTrunc | exp.DateTrunc) and not (
        isinstance(node.parent, exp.Anonymous) and node.parent.name == "toDateTime64"
    ):
        return exp.Anonymous(
            this="toDateTime64",
            expressions=[node.copy(), exp.Literal.number(6), exp.Literal.string("UTC")],
        )
    return node


def _ordered_string_agg(node: exp.Expression) -> exp.Expression:
    """``string_agg(x, sep ORDER BY k)``: ClickHouse's groupArray keeps no order, so the pairs
    (k, x) are gathered, sorted by k and joined."""
    if not (isinstance(node, exp.GroupConcat) and isinstance(node.this, exp.Order)):
        return node
    order = node.this
    value = order.this
    key = order.expressions[0].this
    sep = node.args.get("separator") or exp.Literal.string(",")
    gathered = exp.Anonymous(
        this="groupArray", expressions=[exp.Tuple(expressions=[key.copy(), value.copy()])]
    )
    joined = sqlglot.parse_one(
        "arrayStringConcat(arrayMap(p -> p.2, arraySort(p -> p.1, arrayFilter(p -> p.2 IS NOT "
        f"NULL, {gathered.sql(dialect=_Dialect)}))), {sep.sql(dialect=_Dialect)})",
        read="clickhouse",
    )
    assert isinstance(joined, exp.Expression)
    return joined


def _semi_join(node: exp.Expression) -> exp.Expression:
    """DuckDB's ``SEMI JOIN`` is ClickHouse's ``LEFT SEMI JOIN``."""
    if isinstance(node, exp.Join) and (node.args.get("kind") or "").upper() == "SEMI":
        node.set("side", "LEFT")
    return node


@functools.lru_cache(maxsize=2048)
def _parse(sql: str) -> exp.Expression:
    tree = sqlglot.parse_one(_numbered(sql), read="duckdb")
    for rewrite in (
        _quantile,
        _filtered_parametric,
        _filtered_count_if,
        _named_columns,
        _element_at,
        _map_lookup,
        _stddev,
        _lead_lag,
        _truncated,
        _ordered_string_agg,
        _semi_join,
    ):
        tree = tree.transform(rewrite, copy=False)
    assert isinstance(tree, exp.Expression)
    return tree


def _replace_tables(tables: Mapping[str, str]) -> Any:
    def replace(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and not node.args.get("db") and node.name in tables:
            alias = node.alias or node.name
            sub = sqlglot.parse_one(tables[node.name], read="clickhouse")
            return exp.Subquery(this=sub, alias=exp.TableAlias(this=exp.to_identifier(alias)))
        return node

    return replace


_PARAM = "__daytwo_param_{}__"
_PARAM_TEXT = re.compile(r"__daytwo_param_(\d+)__")


def _as_marker(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Placeholder) and node.this is not None:
        return exp.Var(this=_PARAM.format(int(node.this)))
    return node


@functools.lru_cache(maxsize=1024)
def _template(sql: str, tables: tuple[tuple[str, str], ...]) -> tuple[str, int]:
    """``sql`` in ClickHouse's dialect with ``tables`` replaced and each placeholder ``$k`` left
    as a marker; with the highest placeholder number. Transpiling costs milliseconds (a
    rollup query, tens of them: more than ClickHouse takes to answer it), so each query is
    transpiled once and its values spliced in as literals."""
    tree = _parse(sql).copy()
    wanted = dict(tables)
    if wanted and any(isinstance(n, exp.Table) and n.name in wanted for n in tree.walk()):
        tree = tree.transform(_replace_tables(wanted), copy=False)
    numbers = [int(n.this) for n in tree.walk() if isinstance(n, exp.Placeholder) and n.this]
    tree = tree.transform(_as_marker, copy=False)
    return str(tree.sql(dialect=_Dialect)), max(numbers, default=0)


def to_clickhouse(
    sql: str, params: Sequence[Any] | None = None, tables: Mapping[str, str] | None = None
) -> str:
    """``sql`` (portable dialect, ``?`` or ``$n`` placeholders) as one ClickHouse statement
    with ``params`` bound; ``tables`` replaces each named table by a query (ClickHouse SQL)."""
    text, highest = _template(sql, tuple(tables.items()) if tables else ())
    if not highest:
        return text
    if not params:
        raise ValueError("the query has placeholders but no parameters")
    if highest > len(params):
        raise ValueError(f"query parameter ${highest} has no value")
    values = [literal(v).sql(dialect=_Dialect) for v in params]
    return _PARAM_TEXT.sub(lambda m: values[int(m.group(1)) - 1], text)


def column_definitions(columns: str) -> list[tuple[str, str]]:
    """A DuckDB column list (``name TYPE [NOT NULL], …``) as ClickHouse (name, type) pairs:
    nullable unless NOT NULL."""
    tree = sqlglot.parse_one(f"CREATE TABLE _t ({columns})", read="duckdb")
    out = []
    for col in tree.find_all(exp.ColumnDef):
        kind = col.args["kind"]
        base = _Dialect().generator().sql(kind).removeprefix("Nullable(")
        if kind.sql(dialect=_Dialect).startswith("Nullable("):
            base = base[:-1]
        required = any(
            isinstance(c.args.get("kind"), exp.NotNullColumnConstraint)
            for c in col.args.get("constraints") or []
        )
        out.append((col.name, base if required else f"Nullable({base})"))
    return out
