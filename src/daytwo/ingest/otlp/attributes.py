"""A span's attributes, read once into a dict of plain Python values, with typed getters that
name the attribute and the type it should have had: a token count sent as text is an error on
``attributes.gen_ai.usage...``, not a silent zero. What no rule maps (less the bulky copies of
the messages) is kept with the turn (:meth:`Attributes.rest`).

Each protobuf ``AnyValue`` is touched once, when the attributes are read
(:func:`read_attributes`): every later lookup is a dict lookup on a Python value, whose type
says which ``AnyValue`` field it came from (bytes are kept as :class:`HexBytes`, so that a
getter can still tell them from text).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

# Attributes that decide nothing and repeat what the mapped ones say (or hold the whole
# request): not kept with the turn.
_BULKY = frozenset(
    {
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "input.value",
        "output.value",
        "input.mime_type",
        "output.mime_type",
        "llm.invocation_parameters",
        "llm.tools",
        "gen_ai.tool.definitions",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
        "tool.parameters",
    }
)
_MAPPED = _BULKY | frozenset(
    {
        "agent.name",
        "daytwo.channel",
        "daytwo.confidence",
        "daytwo.deployment",
        "daytwo.fallback",
        "daytwo.intent",
        "daytwo.journey",
        "daytwo.outcome",
        "enduser.id",
        "error.type",
        "gen_ai.agent.name",
        "gen_ai.conversation.id",
        "gen_ai.input.messages",
        "gen_ai.operation.name",
        "gen_ai.output.messages",
        "gen_ai.provider.name",
        "gen_ai.request.model",
        "gen_ai.response.model",
        "gen_ai.system",
        "gen_ai.system_instructions",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.id",
        "gen_ai.tool.call.result",
        "gen_ai.tool.name",
        "gen_ai.usage.completion_tokens",
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.prompt_tokens",
        "input.mime_type",
        "input.value",
        "llm.cost.completion",
        "llm.cost.prompt",
        "llm.cost.total",
        "llm.model_name",
        "llm.provider",
        "llm.system",
        "llm.token_count.completion",
        "llm.token_count.prompt",
        "openinference.span.kind",
        "output.mime_type",
        "output.value",
        "service.name",
        "session.id",
        "tool.name",
        "tool.parameters",
        "tool_call.id",
        "user.id",
    }
)
_FLAT_PREFIXES = (
    "llm.input_messages.",
    "llm.output_messages.",
    "gen_ai.prompt.",
    "gen_ai.completion.",
)


class SpanError(Exception):
    """A span that breaks the conventions: the attribute (``field``) and what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class HexBytes(str):
    """A ``bytes_value`` attribute, as hex: text to every reader, bytes to a typed getter."""

    __slots__ = ()


_SCALARS = frozenset({"string_value", "int_value", "double_value", "bool_value"})


def value_of(v: AnyValue) -> Any:
    """A Python value of an OTLP ``AnyValue`` (bytes as hex)."""
    which = v.WhichOneof("value")
    if which is None:
        return None
    if which == "string_value":
        return v.string_value
    if which == "int_value":
        return v.int_value
    if which == "double_value":
        return v.double_value
    if which == "bool_value":
        return v.bool_value
    if which == "array_value":
        return [value_of(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: value_of(kv.value) for kv in v.kvlist_value.values}
    return v.bytes_value.hex()


def read_attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    """Key-value pairs as a dict of Python values, each protobuf value read once (an empty
    ``AnyValue`` as ``None``; bytes as :class:`HexBytes`; a later duplicate key wins)."""
    out: dict[str, Any] = {}
    for kv in pairs:
        v = kv.value
        text = v.string_value
        if text:  # most attributes: a non-empty text is a set string_value, no oneof lookup
            out[kv.key] = text
            continue
        # A non-zero integer or a true flag is the one field set (the value is a oneof): no
        # oneof lookup either, which costs more than both reads.
        number = v.int_value
        if number:
            out[kv.key] = number
            continue
        if v.bool_value:
            out[kv.key] = True
            continue
        which = v.WhichOneof("value")
        if which == "string_value":
            out[kv.key] = text
        elif which in _SCALARS:
            out[kv.key] = getattr(v, which)
        elif which == "bytes_value":
            out[kv.key] = HexBytes(v.bytes_value.hex())
        else:
            out[kv.key] = None if which is None else value_of(v)
    return out


def _plain(value: Any) -> Any:
    return str(value) if type(value) is HexBytes else value


class Attributes:
    """A span's attributes read once (see :func:`read_attributes`), with typed getters that
    name a wrong type."""

    __slots__ = ("names", "raw")

    def __init__(self, raw: dict[str, Any], names: str | None = None) -> None:
        self.raw = raw
        self.names = names if names is not None else "\n".join(raw)

    def __contains__(self, key: str) -> bool:
        return key in self.raw

    def value(self, key: str) -> Any:
        return _plain(self.raw.get(key))

    def _first(self, keys: tuple[str, ...]) -> tuple[str, Any] | None:
        """The first of ``keys`` that holds a value, and its value."""
        raw = self.raw
        for key in keys:
            v = raw.get(key)
            if v is not None:
                return key, v
        return None

    def text(self, *keys: str) -> str | None:
        # The lookup of _first, inline: text is read a dozen times per span.
        raw = self.raw
        for key in keys:
            v = raw.get(key)
            if v is not None:
                break
        else:
            return None
        t = type(v)
        if t is str:
            return v or None
        if t is int or t is bool:
            return str(v)
        raise SpanError(f"attributes.{key}", f"must be a string, got {_kind(v)}")

    def integer(self, *keys: str) -> int | None:
        found = self._first(keys)
        if found is None:
            return None
        key, v = found
        t = type(v)
        if t is int or (t is float and v.is_integer()):
            return int(v)
        if t is str and v.strip().lstrip("-").isdigit():
            return int(v)
        raise SpanError(f"attributes.{key}", f"must be an integer, got {_kind(v)}")

    def number(self, *keys: str) -> float | None:
        found = self._first(keys)
        if found is None:
            return None
        key, v = found
        t = type(v)
        if t is int or t is float:
            return float(v)
        if t is str:
            try:
                return float(v)
            except ValueError:
                pass
        raise SpanError(f"attributes.{key}", f"must be a number, got {_kind(v)}")

    def flag(self, key: str) -> bool | None:
        v = self.raw.get(key)
        if v is None:
            return None
        t = type(v)
        if t is bool:
            return bool(v)
        if t is str and v.lower() in ("true", "false"):
            return bool(v.lower() == "true")
        raise SpanError(f"attributes.{key}", f"must be a boolean, got {_kind(v)}")

    def flat(self, prefix: str) -> dict[str, Any]:
        n = len(prefix)
        return {k[n:]: _plain(v) for k, v in self.raw.items() if k.startswith(prefix)}

    def rest(self) -> dict[str, Any]:
        """The attributes no rule maps, without the bulky ones: kept with the turn."""
        if self.raw.keys() <= _MAPPED:  # usually every name is a mapped one: one set test
            return {}
        return {
            k: _plain(v)
            for k, v in self.raw.items()
            if k not in _MAPPED and not k.startswith(_FLAT_PREFIXES)
        }


def _kind(v: Any) -> str:
    t = type(v)
    if t is str:
        return f"the text {v[:40]!r}"
    return {
        int: "an integer",
        float: "a float",
        bool: "a boolean",
        list: "an array",
        dict: "a key-value list",
        HexBytes: "bytes",
    }.get(t, "nothing")
