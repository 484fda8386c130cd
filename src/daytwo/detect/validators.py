"""Validators: plug-ins that judge whether a conversation went wrong without saying so.

A validator looks at conversations of the current period and returns the ids of those it
judges failed. The silent-failure detector reports a validator whose failure share is high.
Register one with :func:`register_validator`; :class:`LLMJudge` is the built-in one, which
asks any OpenAI-compatible chat-completions endpoint. It is off unless configured
(``DAYTWO_JUDGE_URL``), because it sends transcripts to that endpoint.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


@dataclass(frozen=True, slots=True)
class Transcript:
    """One conversation as a validator sees it: its id, outcome and turns (role, text)."""

    interaction_id: str
    journey: str | None
    outcome: str | None
    turns: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Verdict:
    interaction_id: str
    failed: bool
    reason: str = ""


@runtime_checkable
class Validator(Protocol):
    """Judges transcripts; ``name`` is stable (it is part of the finding's fingerprint)."""

    name: str

    def validate(self, transcripts: Sequence[Transcript]) -> list[Verdict]: ...


_VALIDATORS: dict[str, Validator] = {}


def register_validator(validator: Validator) -> None:
    """Add (or replace) a validator by name."""
    if not isinstance(validator, Validator):
        raise TypeError("a validator needs a name and a validate(transcripts) method")
    _VALIDATORS[validator.name] = validator


def unregister_validator(name: str) -> None:
    _VALIDATORS.pop(name, None)


def validators() -> list[Validator]:
    return list(_VALIDATORS.values())


def transcripts(
    interactions: pa.Table, turns: pa.Table, rows: np.ndarray, max_chars: int = 4000
) -> list[Transcript]:
    """Transcripts of the interactions at ``rows`` (turns need role and text)."""
    ids = interactions["interaction_id"].take(pa.array(rows, type=pa.int64()))
    wanted = pc.is_in(turns["interaction_id"], ids)
    sub = turns.filter(wanted).select(["interaction_id", "role", "text"]).to_pylist()
    by_id: dict[str, list[tuple[str, str]]] = {}
    for t in sub:
        by_id.setdefault(t["interaction_id"], []).append((t["role"] or "", t["text"] or ""))
    meta = interactions.take(pa.array(rows, type=pa.int64())).select(
        ["interaction_id", "journey", "outcome"]
    )
    out = []
    for m in meta.to_pylist():
        lines, used = [], 0
        for role, text in by_id.get(m["interaction_id"], []):
            used += len(text)
            if used > max_chars:
                break
            lines.append((role, text))
        out.append(Transcript(m["interaction_id"], m["journey"], m["outcome"], tuple(lines)))
    return out


JUDGE_PROMPT = (
    "You review customer-service conversations handled by a virtual agent. Decide whether "
    "the assistant actually resolved the customer's request correctly. Answer with JSON only: "
    '{"failed": true|false, "reason": "<one short sentence>"}. A conversation failed when '
    "the answer was wrong, off-topic, did not address the request, or the customer was left "
    "without what they needed, even if nobody complained."
)


class LLMJudge:
    """A validator that asks an OpenAI-compatible ``/chat/completions`` endpoint.

    One request per transcript, ``temperature`` 0; a reply that is not the JSON asked for
    counts as no verdict (never as a failure), so a misbehaving model cannot raise alarms.
    """

    name = "llm_judge"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout_s, transport=transport
        )
        self.model = model

    def validate(self, transcripts: Sequence[Transcript]) -> list[Verdict]:
        out = []
        for t in transcripts:
            verdict = self._judge(t)
            if verdict is not None:
                out.append(verdict)
        return out

    def _judge(self, t: Transcript) -> Verdict | None:
        text = "\n".join(f"{role}: {line}" for role, line in t.turns)
        body = {
            "model": self.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": JUDGE_PROMPT},
                {"role": "user", "content": f"Outcome recorded: {t.outcome}\n\n{text}"},
            ],
        }
        try:
            response = self._client.post("/chat/completions", json=body)
            response.raise_for_status()
            content = response.json()["choices"][0]["message"]["content"]
            parsed = json.loads(_strip_fence(content))
            failed = parsed["failed"]
        except (httpx.HTTPError, KeyError, IndexError, TypeError, ValueError):
            return None
        if not isinstance(failed, bool):
            return None
        return Verdict(t.interaction_id, failed, str(parsed.get("reason", ""))[:300])

    def close(self) -> None:
        self._client.close()


def _strip_fence(content: str) -> str:
    text = content.strip()
    if text.startswith("```"):
        text = text.strip("`")
        text = text.removeprefix("json").strip()
    return text


def configure_judge(url: str | None, model: str, api_key: str | None) -> LLMJudge | None:
    """Register the LLM judge when ``url`` is set (and unregister it when not)."""
    if not url:
        unregister_validator(LLMJudge.name)
        return None
    judge = LLMJudge(url, model, api_key=api_key)
    register_validator(judge)
    return judge
