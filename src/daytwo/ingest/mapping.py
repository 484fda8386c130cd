"""Column mappings: how the columns of a flat (one row per turn) export become canonical fields.

A :class:`Mapping` is declared data, loaded from YAML by :func:`load_mapping` and checked on its
own (unknown fields, impossible combinations). :func:`resolve_mapping` then binds it to the
header of one file (every named source column must exist, ``id``, ``started_at`` and
``deployment`` must be provided) and returns a :class:`ResolvedMapping`, the plan the flat
reader executes. Without a mapping, canonical column names are recognised as they are (see
:meth:`Mapping.identity`). ``docs/import-mapping.md`` documents every key.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from daytwo.errors import InputError

Kind = Literal["string", "float", "int32", "int64", "bool", "timestamp"]
Scalar = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One canonical field a source column can feed."""

    key: str  # the mapping key: "csat", "turn.confidence", "segments.site"
    column: str  # the column of the canonical Arrow table: "csat", "confidence", "interaction_id"
    kind: Kind
    turn: bool  # a turn field (one value per turn row) or an interaction field


def _interaction(key: str, kind: Kind, column: str | None = None) -> FieldSpec:
    return FieldSpec(key, column or key, kind, turn=False)


def _turn(name: str, kind: Kind) -> FieldSpec:
    return FieldSpec(f"turn.{name}", name, kind, turn=True)


INTERACTION_FIELDS: dict[str, FieldSpec] = {
    spec.key: spec
    for spec in (
        _interaction("id", "string", "interaction_id"),
        _interaction("deployment", "string"),
        _interaction("started_at", "timestamp"),
        _interaction("ended_at", "timestamp"),
        _interaction("channel", "string"),
        _interaction("journey", "string"),
        _interaction("customer_ref", "string"),
        _interaction("agent_ref", "string"),
        _interaction("outcome", "string"),
        _interaction("csat", "float"),
        _interaction("handle_time_s", "float"),
        _interaction("cost", "float"),
        _interaction("ai_used", "bool"),
    )
}
TURN_FIELDS: dict[str, FieldSpec] = {
    spec.key: spec
    for spec in (
        _turn("seq", "int32"),
        _turn("ts", "timestamp"),
        _turn("role", "string"),
        _turn("text", "string"),
        _turn("intent", "string"),
        _turn("confidence", "float"),
        _turn("fallback", "bool"),
        _turn("latency_ms", "float"),
        _turn("error", "string"),
        _turn("model", "string"),
        _turn("tokens_in", "int64"),
        _turn("tokens_out", "int64"),
        _turn("cost", "float"),
    )
}
FIELDS: dict[str, FieldSpec] = {**INTERACTION_FIELDS, **TURN_FIELDS}
REQUIRED = ("id", "deployment", "started_at")
SEGMENT_PREFIXES = ("segments.", "segment.")


def segment_spec(name: str) -> FieldSpec:
    return FieldSpec(f"segments.{name}", name, "string", turn=False)


class CsvOptions(BaseModel):
    """How to read a CSV file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    delimiter: str = Field(default=",", min_length=1, max_length=1)
    quote_char: str = Field(default='"', min_length=1, max_length=1)
    encoding: str = "utf-8"
    skip_rows: int = Field(default=0, ge=0, description="Lines to skip before the header.")
    null_values: list[str] = Field(
        default_factory=lambda: [""], description="Cell values read as missing."
    )


class Mapping(BaseModel):
    """A column mapping for flat CSV / Parquet exports (see ``docs/import-mapping.md``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["csv", "parquet"] | None = None
    timezone: str | None = None
    deployment: str | None = None
    csv: CsvOptions = Field(default_factory=CsvOptions)
    columns: dict[str, str] = Field(default_factory=dict)
    constants: dict[str, Scalar] = Field(default_factory=dict)
    segments: dict[str, str] = Field(default_factory=dict)
    values: dict[str, dict[str, Scalar]] = Field(default_factory=dict)
    attributes: list[str] = Field(default_factory=list)
    turn_attributes: list[str] = Field(default_factory=list)

    @classmethod
    def identity(cls) -> Mapping:
        """No mapping: the file's columns already carry canonical names."""
        return cls()

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                zoneinfo.ZoneInfo(value)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from None
        return value

    @field_validator("values", mode="before")
    @classmethod
    def _text_keys(cls, value: Any) -> Any:
        # YAML reads `1: user` with an integer key; source values are compared as text.
        if isinstance(value, dict):
            return {
                k: {_as_text(src): dst for src, dst in v.items()} if isinstance(v, dict) else v
                for k, v in value.items()
            }
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Mapping:
        for key in self.columns:
            if key not in FIELDS:
                raise ValueError(f"columns: {key!r} is not a canonical field; {_known_fields()}")
        for key in self.constants:
            if key == "deployment":
                raise ValueError("constants: set the deployment with the top-level `deployment`")
            if key == "id":
                raise ValueError("constants: id must come from a column")
            if key not in FIELDS:
                raise ValueError(f"constants: {key!r} is not a canonical field; {_known_fields()}")
            if key in self.columns:
                raise ValueError(f"{key!r} is both in columns and in constants; keep one")
        if self.deployment is not None and "deployment" in self.columns:
            raise ValueError("deployment is both a constant and columns.deployment; keep one")
        if self.columns:
            missing = [k for k in ("id", "started_at") if k not in self.columns]
            if missing:
                raise ValueError(f"columns: {' and '.join(missing)} must be mapped")
        for key in self.values:
            if key not in FIELDS and not key.startswith("segments."):
                raise ValueError(
                    f"values: {key!r} is not a canonical field or `segments.<name>`; "
                    + _known_fields()
                )
            if key in ("id", "deployment"):
                raise ValueError(f"values: {key!r} cannot have a value map")
        seen: dict[str, str] = {}
        for where, names in (
            ("attributes", self.attributes),
            ("turn_attributes", self.turn_attributes),
        ):
            for name in names:
                if name in seen:
                    raise ValueError(f"{where}: {name!r} is already in {seen[name]}")
                seen[name] = where
        return self


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _known_fields() -> str:
    return "known fields: " + ", ".join(FIELDS)


def load_mapping(path: Path | str) -> Mapping:
    """Read and check a mapping YAML file; problems raise :class:`InputError` naming the key."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"Cannot read the mapping {path.name}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise InputError(f"The mapping {path.name} is not valid YAML: {exc}") from None
    return parse_mapping(doc, source=path.name)


def parse_mapping(doc: Any, *, source: str = "mapping") -> Mapping:
    """Check an already-parsed mapping document (a dict)."""
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise InputError(f"The mapping {source} must be a YAML mapping of keys to values.")
    try:
        return Mapping.model_validate(doc)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            where = ".".join(str(p) for p in err["loc"])
            message = str(err["msg"]).removeprefix("Value error, ")
            problems.append(f"{where}: {message}" if where else message)
        raise InputError(
            f"The mapping {source} is invalid: " + "; ".join(problems),
            details={"problems": problems},
        ) from None


@dataclass(frozen=True, slots=True)
class Source:
    """Where one canonical field comes from: a source column or a constant."""

    spec: FieldSpec
    column: str | None = None
    constant: Scalar = None
    values: dict[str, Scalar] | None = None

    @property
    def label(self) -> str:
        """How error messages name the source: the column, or the mapping key of a constant."""
        return f"column {self.column}" if self.column is not None else f"constant {self.spec.key}"


@dataclass(frozen=True, slots=True)
class ResolvedMapping:
    """A mapping bound to the header of one file."""

    fields: dict[str, Source]
    segments: tuple[Source, ...]
    attributes: tuple[str, ...]
    turn_attributes: tuple[str, ...]
    timezone: str | None

    @property
    def interaction_fields(self) -> list[Source]:
        return [s for s in self.fields.values() if not s.spec.turn]

    @property
    def turn_fields(self) -> list[Source]:
        return [s for s in self.fields.values() if s.spec.turn]


def _identity_column(key: str, header: set[str]) -> str | None:
    """The column that carries canonical field ``key`` under its own name, if any."""
    spec = FIELDS[key]
    if spec.turn:
        candidates = [key]
        if spec.column not in INTERACTION_FIELDS:  # "cost" alone is the interaction's cost
            candidates.append(spec.column)
    elif key == "id":
        candidates = ["id", "interaction_id"]
    else:
        candidates = [key]
    return next((c for c in candidates if c in header), None)


def resolve_mapping(mapping: Mapping, header: Sequence[str]) -> ResolvedMapping:
    """Bind ``mapping`` to a file's columns; a missing column or required field is an error."""
    names = set(header)
    if len(names) != len(header):
        twice = sorted({n for n in header if list(header).count(n) > 1})
        raise InputError(f"The file has duplicate column names: {', '.join(twice)}.")
    identity = not mapping.columns
    columns = dict(mapping.columns)
    if identity:
        for key in FIELDS:
            found = _identity_column(key, names)
            if found is not None and key not in mapping.constants:
                columns[key] = found
    if mapping.deployment is not None:
        columns.pop("deployment", None)

    missing = [(f"columns.{k}", c) for k, c in columns.items() if c not in names]
    segment_columns = dict(mapping.segments)
    if identity:
        for name in header:
            for prefix in SEGMENT_PREFIXES:
                if name.startswith(prefix) and name[len(prefix) :]:
                    segment_columns.setdefault(name[len(prefix) :], name)
    missing += [(f"segments.{k}", c) for k, c in mapping.segments.items() if c not in names]
    missing += [("attributes", c) for c in mapping.attributes if c not in names]
    missing += [("turn_attributes", c) for c in mapping.turn_attributes if c not in names]
    if missing:
        listed = "; ".join(f"{key} -> {col!r}" for key, col in missing)
        raise InputError(
            f"The mapping names columns the file does not have: {listed}. "
            f"The file's columns are: {', '.join(header)}.",
            details={"missing": [{"key": k, "column": c} for k, c in missing]},
        )

    fields: dict[str, Source] = {}
    for key, column in columns.items():
        fields[key] = Source(FIELDS[key], column=column, values=mapping.values.get(key))
    for key, value in mapping.constants.items():
        fields[key] = Source(FIELDS[key], constant=value, values=mapping.values.get(key))
    if mapping.deployment is not None:
        fields["deployment"] = Source(FIELDS["deployment"], constant=mapping.deployment)
    absent = [k for k in REQUIRED if k not in fields]
    if absent:
        hint = {
            "id": "map columns.id to the conversation id column",
            "started_at": "map columns.started_at to the conversation start column",
            "deployment": "set `deployment: <name>` in the mapping (or --deployment), or map "
            "columns.deployment",
        }
        raise InputError(
            "The file cannot be imported: "
            + "; ".join(f"{k} is required ({hint[k]})" for k in absent)
            + ". The file's columns are: "
            + ", ".join(header)
            + "."
        )
    segments = tuple(
        Source(segment_spec(k), column=c, values=mapping.values.get(f"segments.{k}"))
        for k, c in sorted(segment_columns.items())
    )
    for key in mapping.values:
        if key.startswith("segments.") and key.removeprefix("segments.") not in segment_columns:
            raise InputError(f"The mapping has values.{key}, but no such segment is mapped.")
        if not key.startswith("segments.") and key not in fields:
            raise InputError(f"The mapping has values.{key}, but {key} is not mapped.")

    used = {s.column for s in fields.values() if s.column is not None}
    used |= {s.column for s in segments if s.column is not None}
    attributes = tuple(mapping.attributes)
    turn_attributes = tuple(mapping.turn_attributes)
    if identity and not attributes and not turn_attributes:
        # Unknown keys are kept, never dropped: per turn where the file has turns (a value can
        # differ from row to row), per interaction where it has none.
        canonical = {c for k in FIELDS if (c := _identity_column(k, names)) is not None}
        rest = tuple(n for n in header if n not in used and n not in canonical)
        if any(s.spec.turn for s in fields.values()):
            turn_attributes = rest
        else:
            attributes = rest
    return ResolvedMapping(
        fields=fields,
        segments=segments,
        attributes=attributes,
        turn_attributes=turn_attributes,
        timezone=mapping.timezone,
    )


__all__ = [
    "FIELDS",
    "INTERACTION_FIELDS",
    "TURN_FIELDS",
    "CsvOptions",
    "FieldSpec",
    "Mapping",
    "ResolvedMapping",
    "Source",
    "load_mapping",
    "parse_mapping",
    "resolve_mapping",
]
