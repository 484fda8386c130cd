"""Realistic GenAI traces from the STAR dialogues (real multi-turn task dialogues with API calls).

Each dialogue is one conversation of an LLM app instrumented with the current GenAI semantic
conventions: one ``chat`` span per assistant answer (the whole history as
``gen_ai.input.messages``, the answer as ``gen_ai.output.messages``, tokens, model), one
``execute_tool`` span per API query, now and then a failed model call, and a hand-off tool when
the wizard left the script. The same conversation is also built as a wire-format interaction
(what the JSON ingest API takes), turn for turn, so the two doors can be compared.
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

STAR = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "star"
SYSTEM = "You are the assistant of a travel, banking and booking service. Be brief and polite."
MODEL = "gpt-4o-mini-2024-07-18"


def dialogues(n: int, skip: int = 0) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    with gzip.open(STAR / "star_dialogues.jsonl.gz", "rt") as f:
        for i, line in enumerate(f):
            if i < skip:
                continue
            out.append(json.loads(line))
            if len(out) >= n:
                break
    return out


@dataclass
class SpanSpec:
    name: str
    start: int
    end: int
    attributes: dict[str, Any]
    error: str | None = None


@dataclass
class Conversation:
    spans: list[SpanSpec] = field(default_factory=list)
    interaction: dict[str, Any] = field(default_factory=dict)


def _iso(ns: int) -> str:
    from datetime import UTC, datetime

    stamp = datetime.fromtimestamp(ns // 1000 / 1e6, UTC)
    return stamp.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _msgs(items: list[tuple[str, str]]) -> str:
    return json.dumps([{"role": r, "parts": [{"type": "text", "content": c}]} for r, c in items])


def conversation(
    d: dict[str, Any], t0: int, rng: random.Random, deployment: str, prefix: str = "star"
) -> Conversation:
    """The dialogue as spans (one conversation id) and as the equivalent interaction."""
    conv = f"{prefix}-{d['dialogue_id']}"
    journey = (d.get("tasks") or ["other"])[0]
    user = f"u-{d['dialogue_id'] % 997}"
    out = Conversation()
    turns: list[dict[str, Any]] = [{"role": "system", "text": SYSTEM}]
    history: list[tuple[str, str]] = [("system", SYSTEM)]
    t = t0
    first_start: int | None = None
    handoff = False
    calls = 0
    common = {"gen_ai.conversation.id": conv, "user.id": user, "daytwo.journey": journey}
    for turn in d["turns"]:
        speaker, text = turn["speaker"], turn.get("text")
        if speaker == "user" and text:
            history.append(("user", text))
            turns.append({"role": "user", "text": text, "_pending": True})
        elif speaker == "wizard" and text and any(x.get("_pending") for x in turns):
            calls += 1
            start = call_start = t
            label = turn.get("action_label") or "custom"
            if calls % 9 == 0:  # a failed call, answered by the retry that follows
                end = start + rng.randrange(5_000, 30_000) * 10**6
                out.spans.append(
                    SpanSpec(
                        "chat gpt-4o-mini",
                        start,
                        end,
                        {
                            **common,
                            "gen_ai.operation.name": "chat",
                            "gen_ai.request.model": "gpt-4o-mini",
                            "error.type": "timeout",
                            "gen_ai.input.messages": _msgs(history),
                        },
                        error="upstream timed out",
                    )
                )
                turns.append(
                    {
                        "role": "assistant",
                        "ts": _iso(end),
                        "error": "upstream timed out",
                        "latency_ms": (end - start) / 1e6,
                        "model": "gpt-4o-mini",
                    }
                )
                first_start = first_start or start
                start = t = end + 10**8
            end = start + rng.randrange(300, 2500) * 10**6
            tokens_in = sum(len(c) for _, c in history) // 4
            tokens_out = len(text) // 4
            out.spans.append(
                SpanSpec(
                    "chat gpt-4o-mini",
                    start,
                    end,
                    {
                        **common,
                        "gen_ai.operation.name": "chat",
                        "gen_ai.provider.name": "openai",
                        "gen_ai.request.model": "gpt-4o-mini",
                        "gen_ai.response.model": MODEL,
                        "gen_ai.usage.input_tokens": tokens_in,
                        "gen_ai.usage.output_tokens": tokens_out,
                        "daytwo.intent": label,
                        "daytwo.fallback": label == "out_of_scope",
                        "gen_ai.input.messages": _msgs(history),
                        "gen_ai.output.messages": _msgs([("assistant", text)]),
                    },
                )
            )
            for x in turns:
                if x.pop("_pending", False):
                    x["ts"] = _iso(call_start)
            if "ts" not in turns[0]:
                turns[0]["ts"] = _iso(call_start)
            turns.append(
                {
                    "role": "assistant",
                    "text": text,
                    "ts": _iso(end),
                    "latency_ms": (end - start) / 1e6,
                    "model": MODEL,
                    "tokens_in": tokens_in,
                    "tokens_out": tokens_out,
                    "intent": label,
                    "fallback": label == "out_of_scope",
                }
            )
            history.append(("assistant", text))
            first_start = first_start or start
            t = end + rng.randrange(2, 40) * 10**9
            if label == "custom" and not handoff:
                handoff = True
                t = _tool(out, turns, common, t, rng, "transfer_to_human", f"{conv}-h", None)
        elif speaker == "wizard" and turn.get("action") == "query":
            result = json.dumps({"api": turn.get("api_name")})
            name = turn.get("api_name") or "query"
            t = _tool(out, turns, common, t, rng, name, f"{conv}-{len(out.spans)}", result)
            first_start = first_start or t
    # Messages that never got an answer were never sent to a model: not part of the trace.
    turns = [x for x in turns if not x.get("_pending")]
    if not out.spans:
        return out
    if "ts" not in turns[0]:  # no model call: no system prompt was sent
        turns = turns[1:]
    turns.sort(key=lambda x: x["ts"])  # stable: a call's system prompt before its question
    ends = max(s.end for s in out.spans)
    starts = min(s.start for s in out.spans)
    for seq, x in enumerate(turns):
        x["seq"] = seq
    out.interaction = {
        "id": conv,
        "deployment": deployment,
        "started_at": _iso(starts),
        "ended_at": _iso(ends),
        "journey": journey,
        "customer_ref": user,
        "outcome": "escalated" if handoff else "contained",
        "handle_time_s": (ends // 1000 - starts // 1000) / 1e6,
        "ai_used": True,
        "turns": turns,
    }
    return out


def _tool(
    out: Conversation,
    turns: list[dict[str, Any]],
    common: dict[str, Any],
    t: int,
    rng: random.Random,
    name: str,
    call_id: str,
    result: str | None,
) -> int:
    """A tool call as a span and as a turn; returns the time after it."""
    start, end = t, t + rng.randrange(50, 400) * 10**6
    attributes = {
        **common,
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": name,
        "gen_ai.tool.call.id": f"call-{call_id}",
    }
    turn: dict[str, Any] = {"role": "tool", "ts": _iso(start), "latency_ms": (end - start) / 1e6}
    if result is not None:
        attributes["gen_ai.tool.call.result"] = result
        turn["text"] = result
    out.spans.append(SpanSpec(f"execute_tool {name}", start, end, attributes))
    turns.append(turn)
    return end + 10**8


def emit(tracer: Tracer, spans: list[SpanSpec]) -> None:
    """Send the spans through a real tracer (and so through its processor and exporter)."""
    for spec in spans:
        span = tracer.start_span(
            spec.name,
            kind=SpanKind.CLIENT if spec.name.startswith("chat") else SpanKind.INTERNAL,
            start_time=spec.start,
            attributes=spec.attributes,
        )
        if spec.error:
            span.set_status(Status(StatusCode.ERROR, spec.error))
        span.end(end_time=spec.end)


def conversations(
    n: int,
    t0: int,
    *,
    deployment: str,
    seed: int = 0,
    skip: int = 0,
    spread_s: int = 6 * 3600,
    prefix: str = "star",
) -> Iterator[Conversation]:
    rng = random.Random(seed)
    for d in dialogues(n, skip):
        c = conversation(d, t0 + rng.randrange(0, spread_s) * 10**9, rng, deployment, prefix)
        if c.spans:
            yield c
