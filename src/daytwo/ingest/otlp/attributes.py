"""A span's attributes, read once, with typed getters that name the attribute and the type it
should have had: a token count sent as text is an error on ``attributes.gen_ai.usage...``,
not a silent zero. What no rule maps (less the bulky copies of the messages) is kept with the
turn (:meth:`Attributes.rest`).
"""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue

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


class Attributes:
    """A span's attributes read once, with typed getters that name a wrong type."""

    __slots__ = ("names", "raw")

    def __init__(self, raw: dict[str, AnyValue], names: str | None = None) -> None:
        self.raw = raw
        self.names = names if names is not None else "\n".join(raw)

    def __contains__(self, key: str) -> bool:
        return key in self.raw

    def value(self, key: str) -> Any:
        v = self.raw.get(key)
        if v is None:
            return None
        return value_of(v)

    def _first(self, keys: tuple[str, ...]) -> tuple[str, AnyValue, str] | None:
        """The first of ``keys`` that holds a value: its key, value and kind."""
        for key in keys:
            v = self.raw.get(key)
            if v is not None:
                which = v.WhichOneof("value")
                if which is not None:
                    return key, v, which
        return None

    def text(self, *keys: str) -> str | None:
        found = self._first(keys)
        if found is None:
            return None
        key, v, which = found
        if which == "string_value":
            return v.string_value or None
        if which in ("int_value", "bool_value"):
            return str(getattr(v, which))
        raise SpanError(f"attributes.{key}", f"must be a string, got {_kind(which)}")

    def integer(self, *keys: str) -> int | None:
        found = self._first(keys)
        if found is None:
            return None
        key, v, which = found
        if which == "int_value":
            return int(v.int_value)
        if which == "double_value" and float(v.double_value).is_integer():
            return int(v.double_value)
        if which == "string_value" and v.string_value.strip().lstrip("-").isdigit():
            return int(v.string_value)
        raise SpanError(f"attributes.{key}", f"must be an integer, got {_kind(which, v)}")

    def number(self, *keys: str) -> float | None:
        found = self._first(keys)
        if found is None:
            return None
        key, v, which = found
        if which in ("int_value", "double_value"):
            return float(getattr(v, which))
        if which == "string_value":
            try:
                return float(v.string_value)
            except ValueError:
                pass
        raise SpanError(f"attributes.{key}", f"must be a number, got {_kind(which, v)}")

    def flag(self, key: str) -> bool | None:
        found = self._first((key,))
        if found is None:
            return None
        _, v, which = found
        if which == "bool_value":
            return bool(v.bool_value)
        if which == "string_value" and v.string_value.lower() in ("true", "false"):
            return v.string_value.lower() == "true"
        raise SpanError(f"attributes.{key}", f"must be a boolean, got {_kind(which, v)}")

    def flat(self, prefix: str) -> dict[str, Any]:
        out = {}
        for key, v in self.raw.items():
            if key.startswith(prefix):
                out[key[len(prefix) :]] = value_of(v)
        return out

    def rest(self) -> dict[str, Any]:
        """The attributes no rule maps, without the bulky ones: kept with the turn."""
        out = {}
        for key, v in self.raw.items():
            if key in _MAPPED or key.startswith(_FLAT_PREFIXES):
                continue
            out[key] = value_of(v)
        return out


def _kind(which: str | None, v: AnyValue | None = None) -> str:
    if which == "string_value" and v is not None:
        return f"the text {v.string_value[:40]!r}"
    return {
        "string_value": "a string",
        "int_value": "an integer",
        "double_value": "a float",
        "bool_value": "a boolean",
        "array_value": "an array",
        "kvlist_value": "a key-value list",
        "bytes_value": "bytes",
    }.get(which or "", "nothing")
