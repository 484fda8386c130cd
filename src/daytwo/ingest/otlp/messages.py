"""Chat messages out of span attributes and events, in every convention daytwo reads.

A message is ``(role, text, call_id, tool_name)``. The conventions, in the order they are tried:

* GenAI (current): ``gen_ai.input.messages`` / ``gen_ai.output.messages`` (JSON arrays of
  ``{"role", "parts": [...]}``) and ``gen_ai.system_instructions``;
* OpenInference: ``llm.input_messages.N.message.*`` / ``llm.output_messages.N.message.*``;
* GenAI (deprecated, flattened): ``gen_ai.prompt.N.*`` / ``gen_ai.completion.N.*``;
* GenAI (deprecated events on the span): ``gen_ai.system.message``, ``gen_ai.user.message``,
  ``gen_ai.assistant.message``, ``gen_ai.tool.message``, ``gen_ai.choice``, and the older
  ``gen_ai.content.prompt`` / ``gen_ai.content.completion`` (``gen_ai.prompt`` /
  ``gen_ai.completion`` JSON);
* plain ``input.value`` / ``output.value`` (OpenInference) as one user and one assistant text.

:func:`span_messages` reads a model call's span through them in that order.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import orjson

from daytwo.ingest.otlp.attributes import Attributes, value_of


class Message(NamedTuple):
    role: str
    text: str | None
    call_id: str | None = None
    tool_name: str | None = None
    tool_calls: tuple[str, ...] = ()
    finish_reason: str | None = None


# A Message from a tuple of all its fields, without the keyword handling of Message(...).
_new = tuple.__new__


class MessageError(ValueError):
    """An attribute that should hold messages does not; the text names the problem."""


_ROLES = {
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "ai": "assistant",
    "model": "assistant",
    "bot": "assistant",
    "system": "system",
    "developer": "system",
    "tool": "tool",
    "function": "tool",
    "ipython": "tool",
}
_FLAT = re.compile(r"^(\d+)\.(.+)$")
_TEXT_PARTS = ("text", "output_text", "input_text", None)


def role_of(value: Any) -> str:
    # Most roles arrive as one of the names above, already in lower case: one lookup.
    if type(value) is str:
        found = _ROLES.get(value)
        if found is not None:
            return found
    return _ROLES.get(str(value).lower(), "user") if value is not None else "user"


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return orjson.dumps(value, default=str).decode()


def _parts_text(parts: Sequence[Any]) -> tuple[str | None, list[Any], list[Any]]:
    """Text of the text parts; the tool-call and tool-response parts apart."""
    if len(parts) == 1:
        # Most messages hold one text part: its text, without the lists of the general case.
        part = parts[0]
        if type(part) is dict and part.get("type") in _TEXT_PARTS:
            content = part.get("content", part.get("text"))
            return (content if isinstance(content, str) else None), [], []
    texts: list[str] = []
    calls: list[Any] = []
    responses: list[Any] = []
    for part in parts:
        if isinstance(part, str):
            texts.append(part)
            continue
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "tool_call":
            calls.append(part)
        elif kind == "tool_call_response":
            responses.append(part)
        elif kind in ("text", "output_text", "input_text", None):
            content = part.get("content", part.get("text"))
            if isinstance(content, str):
                texts.append(content)
    return ("\n".join(texts) if texts else None), calls, responses


def _json_array(raw: Any) -> list[Any]:
    doc = raw
    if isinstance(raw, str):
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise MessageError(f"is not a JSON array of messages ({exc})") from None
    if not isinstance(doc, list):
        raise MessageError(f"must be a JSON array of messages, got {type(doc).__name__}")
    return doc


def from_json_messages(raw: Any, attribute: str) -> list[Message]:
    """Messages of a GenAI ``gen_ai.*.messages`` value (a JSON array, or already a list)."""
    out: list[Message] = []
    for i, item in enumerate(_json_array(raw)):
        if not isinstance(item, dict):
            raise MessageError(f"item {i} is not a message object")
        out.extend(_message_of(item))
    return out


def new_json_messages(raw: Any) -> tuple[list[tuple[int, Message]], bool]:
    """The messages after the last assistant message of a ``gen_ai.input.messages`` value,
    with their positions, and whether the history had an assistant message at all.

    Only those are read: a call carries the whole conversation so far, and reading every
    earlier message again for every call would make a conversation cost its length squared.
    """
    doc = _json_array(raw)
    first = 0
    roles = _ROLES
    for i in range(len(doc) - 1, -1, -1):
        item = doc[i]
        if not isinstance(item, dict):
            raise MessageError(f"item {i} is not a message object")
        role = item.get("role")
        named = roles.get(role) if type(role) is str else None
        if (named or role_of(role)) == "assistant":
            first = i + 1
            break
    out: list[tuple[int, Message]] = []
    for i in range(first, len(doc)):
        item = doc[i]
        parts = item.get("parts")
        if type(parts) is list and len(parts) == 1:
            # The usual message, one text part: _message_of's first case, inline.
            part = parts[0]
            if type(part) is dict and part.get("type") in _TEXT_PARTS:
                role = item.get("role")
                named = roles.get(role) if type(role) is str else None
                content = part.get("content", part.get("text"))
                finish = item.get("finish_reason")
                message = _new(
                    Message,
                    (
                        named or role_of(role),
                        content if isinstance(content, str) else None,
                        None,
                        None,
                        (),
                        None if finish is None else str(finish),
                    ),
                )
                out.append((i, message))
                continue
        messages = _message_of(item)
        if len(messages) == 1:
            out.append((i, messages[0]))
        else:
            out.extend((i, m) for m in messages)
    return out, first > 0


def _message_of(item: Mapping[str, Any]) -> list[Message]:
    role = role_of(item.get("role"))
    parts = item.get("parts")
    finish = item.get("finish_reason")
    if type(parts) is list and len(parts) == 1:
        # The usual GenAI message: one text part (what _parts_text reads, without its lists).
        part = parts[0]
        if type(part) is dict and part.get("type") in _TEXT_PARTS:
            content = part.get("content", part.get("text"))
            return [
                _new(
                    Message,
                    (
                        role,
                        content if isinstance(content, str) else None,
                        None,
                        None,
                        (),
                        None if finish is None else str(finish),
                    ),
                )
            ]
    if isinstance(parts, list):
        text, calls, responses = _parts_text(parts)
    else:
        # OpenAI-shaped messages ({"role", "content", "tool_calls"}), as some libraries send.
        content = item.get("content")
        if isinstance(content, list):
            text, calls, responses = _parts_text(content)
        else:
            text, calls, responses = _as_text(content), [], []
        for call in item.get("tool_calls") or []:
            if isinstance(call, dict):
                function = call.get("function")
                fn: dict[str, Any] = function if isinstance(function, dict) else call
                calls.append({"id": call.get("id"), "name": fn.get("name")})
        if role == "tool" and item.get("tool_call_id"):
            return [Message("tool", text, str(item["tool_call_id"]), _opt(item.get("name")))]
    if responses:
        return [
            Message(
                "tool",
                _as_text(r.get("response", r.get("result"))),
                _opt(r.get("id")),
                _opt(r.get("name")),
            )
            for r in responses
        ]
    names = (
        tuple(str(c.get("name")) for c in calls if isinstance(c, dict) and c.get("name"))
        if calls
        else ()
    )
    return [Message(role, text, None, None, names, _opt(finish) if finish is not None else None)]


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)


def from_flattened(flat: Mapping[str, Any], inner: str) -> list[Message]:
    """Messages of flattened attributes, ``N.<inner>role``, ``N.<inner>content``…

    ``flat`` maps the part after the prefix (``0.message.role``) to its value; ``inner`` is
    ``message.`` for OpenInference and empty for the deprecated ``gen_ai.prompt.N.*``.
    """
    by_index: dict[int, dict[str, Any]] = {}
    for key, value in flat.items():
        match = _FLAT.match(key)
        if match is None:
            continue
        field = match.group(2)
        if inner and field.startswith(inner):
            field = field[len(inner) :]
        by_index.setdefault(int(match.group(1)), {})[field] = value
    out: list[Message] = []
    for index in sorted(by_index):
        fields = by_index[index]
        role = role_of(fields.get("role"))
        text = fields.get("content")
        if text is None:
            texts = [
                v
                for k, v in sorted(fields.items())
                if k.startswith("contents.") and k.endswith(".text") and isinstance(v, str)
            ]
            text = "\n".join(texts) if texts else None
        calls = tuple(
            str(v)
            for k, v in sorted(fields.items())
            if k.startswith("tool_calls.") and k.endswith("function.name")
        )
        call_id = fields.get("tool_call_id")
        out.append(
            Message(
                role,
                _as_text(text),
                _opt(call_id) if role == "tool" else None,
                _opt(fields.get("name")) if role == "tool" else None,
                calls,
                _opt(fields.get("finish_reason")),
            )
        )
    return out


_EVENT_ROLES = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}


def from_events(
    events: Sequence[tuple[str, Mapping[str, Any]]],
) -> tuple[list[Message], list[Message]]:
    """Input and output messages of the deprecated GenAI span events."""
    inputs: list[Message] = []
    outputs: list[Message] = []
    for name, attrs in events:
        if name in _EVENT_ROLES:
            body = _event_body(attrs)
            role = _EVENT_ROLES[name]
            content = body.get("content")
            calls = tuple(
                str((c.get("function") or {}).get("name") or c.get("name"))
                for c in body.get("tool_calls") or []
                if isinstance(c, dict)
            )
            call_id = _opt(body.get("id")) if role == "tool" else None
            inputs.append(Message(role, _as_text(content), call_id, None, calls))
        elif name == "gen_ai.choice":
            body = _event_body(attrs)
            inner = body.get("message")
            message: dict[str, Any] = inner if isinstance(inner, dict) else body
            calls = tuple(
                str((c.get("function") or {}).get("name") or c.get("name"))
                for c in (message.get("tool_calls") or [])
                if isinstance(c, dict)
            )
            outputs.append(
                Message(
                    role_of(message.get("role") or "assistant"),
                    _as_text(message.get("content")),
                    None,
                    None,
                    calls,
                    _opt(body.get("finish_reason")),
                )
            )
        elif name == "gen_ai.content.prompt" and "gen_ai.prompt" in attrs:
            inputs.extend(from_json_messages(attrs["gen_ai.prompt"], "gen_ai.prompt"))
        elif name == "gen_ai.content.completion" and "gen_ai.completion" in attrs:
            outputs.extend(from_json_messages(attrs["gen_ai.completion"], "gen_ai.completion"))
    return inputs, outputs


def _event_body(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """An event's fields: its attributes, or the JSON body some SDKs put in one attribute."""
    body: dict[str, Any] = dict(attrs)
    for key in ("gen_ai.event.content", "event.body", "body"):
        raw = attrs.get(key)
        if isinstance(raw, str):
            try:
                parsed = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            if isinstance(parsed, dict):
                body.update(parsed)
        elif isinstance(raw, dict):
            body.update(raw)
    message = body.get("message")
    if isinstance(message, str):
        try:
            parsed = orjson.loads(message)
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            body["message"] = parsed
    return body


def new_inputs(inputs: Sequence[Message]) -> list[tuple[int, Message]]:
    """The input messages this call added: those after the last assistant message.

    A model call carries the conversation so far; what came before the last answer was
    already the input (or the output) of an earlier call of the same conversation.
    """
    last = -1
    for i, message in enumerate(inputs):
        if message.role == "assistant":
            last = i
    return [(i, m) for i, m in enumerate(inputs) if i > last]


def span_messages(
    attrs: Attributes, events: list[Any]
) -> tuple[list[tuple[int, Message]], list[Message]]:
    """The input messages the call added (with their positions) and its output messages."""
    new: list[tuple[int, Message]] = []
    outputs: list[Message] = []
    system = attrs.value("gen_ai.system_instructions")
    raw = attrs.value("gen_ai.input.messages")
    if raw is not None:
        try:
            new, answered = new_json_messages(raw)
        except MessageError as exc:
            raise MessageError(str(exc), "gen_ai.input.messages") from None
        if system is not None and not answered:
            text = _system_text(system)
            if text:
                new.insert(0, (-1, Message("system", text)))
    raw = attrs.value("gen_ai.output.messages")
    if raw is not None:
        try:
            outputs = from_json_messages(raw, "gen_ai.output.messages")
        except MessageError as exc:
            raise MessageError(str(exc), "gen_ai.output.messages") from None
    inputs: list[Message] = []
    if (raw is None and not new) or not new:
        flat = attrs.flat("llm.input_messages.") or attrs.flat("gen_ai.prompt.")
        inner = "message." if any(".message." in k for k in flat) else ""
        inputs = from_flattened(flat, inner)
    if not outputs:
        flat = attrs.flat("llm.output_messages.") or attrs.flat("gen_ai.completion.")
        inner = "message." if any(".message." in k for k in flat) else ""
        outputs.extend(from_flattened(flat, inner))
    if events and (not (new or inputs) or not outputs):
        decoded = [(e.name, {kv.key: value_of(kv.value) for kv in e.attributes}) for e in events]
        try:
            ev_in, ev_out = from_events(decoded)
        except MessageError as exc:
            raise MessageError(str(exc), "events") from None
        inputs = inputs or ev_in
        outputs = outputs or ev_out
    if not (new or inputs):
        text = attrs.text("input.value")
        if text and not _is_json(attrs.text("input.mime_type")):
            inputs.append(Message("user", text))
    if not outputs:
        text = attrs.text("output.value")
        if text and not _is_json(attrs.text("output.mime_type")):
            outputs.append(Message("assistant", text))
    return new or new_inputs(inputs), outputs


def _system_text(system: Any) -> str | None:
    try:
        parsed = orjson.loads(system) if isinstance(system, str) else system
    except orjson.JSONDecodeError:
        parsed = system
    text, _, _ = _parts_text(parsed if isinstance(parsed, list) else [parsed])
    return text


def _is_json(mime: str | None) -> bool:
    return mime is not None and "json" in mime
