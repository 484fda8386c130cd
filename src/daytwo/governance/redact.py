"""Redact PII from conversation text before it is stored.

A :class:`RedactionPolicy` says what to redact (the built-in kinds that are on, custom
patterns, an ``enabled`` switch); a :class:`Redactor` compiles it once and replaces every match
with a typed placeholder: ``<EMAIL>``, ``<PHONE>``, ``<CARD>``, ``<IBAN>``, ``<NATIONAL_ID>``,
and ``<CUSTOM:NAME>`` (or the pattern's own label) for custom patterns.

Overlapping matches are resolved by rank, first wins: e-mail, IBAN, card, national id, phone,
then the custom patterns in their configured order.

Results carry the redacted text and counts per kind, never the matched text; the only errors
raised are about the policy itself and never quote a message.
"""

from __future__ import annotations

import importlib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_serializer,
    field_validator,
    model_validator,
)

from daytwo.governance.pii_patterns import PREFILTER, KindSwitches, PiiKind, find_builtin

MAX_CUSTOM_PATTERN_LENGTH = 1000
MAX_CUSTOM_PATTERNS = 50

# Strings a sane PII pattern never matches with zero width; catches "a*", "x?", "(|x)", "^".
_EMPTY_MATCH_PROBES = ("", " ", "a", "Z", "0", "_", "ab 12-34 cd@ef.gh", "\n")


class CustomPattern(BaseModel):
    """A deployment's own kind of PII: a Python regular expression and the label it gets."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(
        pattern=r"^[a-z][a-z0-9_]{0,39}$",
        description="Stable id, e.g. `employee_id`; counts are keyed `custom:<name>`.",
    )
    pattern: str = Field(
        min_length=1,
        max_length=MAX_CUSTOM_PATTERN_LENGTH,
        description="Python `re` syntax. Must compile, must not match empty text, and must not "
        "nest unbounded quantifiers (catastrophic backtracking).",
    )
    label: str | None = Field(
        default=None,
        pattern=r"^[A-Z][A-Z0-9_:]{0,47}$",
        description="Placeholder label; the placeholder is `<LABEL>`, by default `<CUSTOM:NAME>`.",
    )
    ignore_case: bool = False

    @property
    def flags(self) -> int:
        return re.IGNORECASE if self.ignore_case else 0

    @property
    def placeholder(self) -> str:
        return f"<{self.label or 'CUSTOM:' + self.name.upper()}>"

    @property
    def count_key(self) -> str:
        return f"custom:{self.name}"

    @model_validator(mode="after")
    def _check_pattern(self) -> CustomPattern:
        try:
            compiled = re.compile(self.pattern, self.flags)
        except re.error as exc:
            raise ValueError(f"custom pattern {self.name!r} does not compile: {exc}") from None
        for probe in _EMPTY_MATCH_PROBES:
            if any(m.start() == m.end() for m in compiled.finditer(probe)):
                raise ValueError(
                    f"custom pattern {self.name!r} can match empty text; "
                    "make every part of it consume at least one character"
                )
        if _has_nested_unbounded_repeat(self.pattern, self.flags):
            raise ValueError(
                f"custom pattern {self.name!r} nests a variable-length repeat inside another "
                "repeat (like `(a+)+`), which can backtrack catastrophically; use a single "
                "repeat, a possessive quantifier (`a++`) or an atomic group `(?>...)`"
            )
        return self


class RedactionPolicy(BaseModel):
    """What one deployment redacts. The default redacts every built-in kind."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    kinds: frozenset[PiiKind] = Field(
        default_factory=lambda: frozenset(PiiKind),
        description="Built-in kinds that are redacted.",
    )
    custom_patterns: tuple[CustomPattern, ...] = Field(default=(), max_length=MAX_CUSTOM_PATTERNS)
    pseudonymize_customers: bool = Field(
        default=False,
        description="Store `customer_ref` as a keyed hash (HMAC-SHA256 with the server's "
        "pseudonym key): the same customer keeps one reference, the original is not stored.",
    )

    @field_serializer("kinds")
    def _kinds_in_order(self, kinds: frozenset[PiiKind]) -> list[PiiKind]:
        # A set's order follows the process's string hashing: the stored policy and its audit
        # entry (whose hash chains every later entry) list the kinds in their declared order.
        return [kind for kind in PiiKind if kind in kinds]

    @field_validator("custom_patterns")
    @classmethod
    def _unique_names(cls, value: tuple[CustomPattern, ...]) -> tuple[CustomPattern, ...]:
        names = [p.name for p in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"custom pattern names must be unique; repeated: {duplicates}")
        return value


@dataclass(frozen=True, slots=True)
class PiiSpan:
    """Where a match is (``text[start:end]``) and its kind; never the matched text itself."""

    start: int
    end: int
    kind: str


@dataclass(frozen=True, slots=True)
class RedactionResult:
    """A redacted text and how many matches of each kind were replaced (non-zero kinds only)."""

    text: str
    counts: dict[str, int]


class ArrayRedaction(NamedTuple):
    """A redacted Arrow string array (nulls kept) and the counts summed over its elements."""

    array: pa.Array | pa.ChunkedArray
    counts: dict[str, int]


@dataclass(frozen=True, slots=True)
class _Rule:
    """How one kind is counted and replaced, and (custom patterns) its compiled pattern."""

    key: str
    placeholder: str
    regex: re.Pattern[str] | None = None


class Redactor:
    """A compiled :class:`RedactionPolicy`; build it once per policy and reuse it."""

    def __init__(self, policy: RedactionPolicy | None = None) -> None:
        self.policy = policy or RedactionPolicy()
        self._kinds = KindSwitches.of(self.policy.kinds)
        builtin = [_Rule(kind.value, f"<{kind.name}>") for kind in PiiKind]
        custom = [
            _Rule(p.count_key, p.placeholder, re.compile(p.pattern, p.flags))
            for p in self.policy.custom_patterns
        ]
        # Rank = position in this list: built-in kinds in PiiKind order, then custom patterns.
        self._rules = [*builtin, *custom]
        self._custom = list(enumerate(custom, start=len(builtin)))
        self._any_builtin = any(self._kinds)
        self._prefilter = re.compile(PREFILTER)

    @property
    def active(self) -> bool:
        return self.policy.enabled and (any(self._kinds) or bool(self._custom))

    def find(self, text: str) -> list[PiiSpan]:
        """Every match to redact, non-overlapping, in text order."""
        return [PiiSpan(s, e, self._rules[r].key) for s, e, r in self._spans(text)]

    def redact(self, text: str) -> RedactionResult:
        return self._redact(text, self._spans(text))

    def _redact(self, text: str, spans: list[tuple[int, int, int]]) -> RedactionResult:
        if not spans:
            return RedactionResult(text, {})
        pieces: list[str] = []
        counts: dict[str, int] = {}
        pos = 0
        for start, end, rank in spans:
            rule = self._rules[rank]
            pieces.append(text[pos:start])
            pieces.append(rule.placeholder)
            counts[rule.key] = counts.get(rule.key, 0) + 1
            pos = end
        pieces.append(text[pos:])
        return RedactionResult("".join(pieces), counts)

    def finds_nothing(self, columns: Sequence[pa.Array | pa.ChunkedArray]) -> bool:
        """Whether no string of ``columns`` holds anything to redact, proved with one Arrow
        prefilter over them all (Arrow compiles a pattern on every call, which costs more
        than scanning a batch's texts); ``False`` also where that cannot be proved cheaply
        (custom patterns, which have no prefilter): look column by column then."""
        if not self.active:
            return True
        if self._custom:
            return False
        chunks = [
            chunk
            for column in columns
            for chunk in (column.chunks if isinstance(column, pa.ChunkedArray) else [column])
            if len(chunk) and chunk.null_count < len(chunk)
        ]
        if not chunks:
            return True
        if any(not pa.types.is_string(c.type) for c in chunks) or sum(c.nbytes for c in chunks) >= (
            1 << 30
        ):  # one Arrow string array holds under 2 GiB
            return False
        texts = pa.concat_arrays(chunks)
        candidates = pc.fill_null(pc.match_substring_regex(texts, PREFILTER), False)
        indices = pc.indices_nonzero(candidates)
        if len(indices) == 0:
            return True
        return not any(
            self._spans(text, prefiltered=True) for text in pc.take(texts, indices).to_pylist()
        )

    def redact_array(self, values: pa.Array | pa.ChunkedArray) -> ArrayRedaction:
        """Redact every string of an Arrow string array; equal to :meth:`redact` per element.

        Arrow (RE2) first picks the strings that can hold a built-in match (an '@', six digits
        close together, or the start of an IBAN); only those go through the Python patterns,
        so batches of ordinary chat text cost little. Custom patterns, which have no such
        prefilter, look at every non-null string.
        """
        if isinstance(values, pa.ChunkedArray):
            counts: Counter[str] = Counter()
            chunks = []
            for chunk in values.chunks:
                redacted, chunk_counts = self._redact_chunk(chunk)
                chunks.append(redacted)
                counts.update(chunk_counts)
            return ArrayRedaction(pa.chunked_array(chunks, type=values.type), dict(counts))
        return ArrayRedaction(*self._redact_chunk(values))

    def _redact_chunk(self, values: pa.Array) -> tuple[pa.Array, dict[str, int]]:
        if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
            raise TypeError(f"redact_array needs a string array, not {values.type}")
        if not self.active or len(values) == 0:
            return values, {}
        if self._custom:
            candidates = pc.is_valid(values)
        else:
            candidates = pc.fill_null(pc.match_substring_regex(values, PREFILTER), False)
        indices = pc.indices_nonzero(candidates)
        if len(indices) == 0:
            return values, {}
        counts: Counter[str] = Counter()
        changed: list[int] = []
        replacements: list[str] = []
        prefiltered = not self._custom  # else Arrow has not applied the prefilter
        for index, text in zip(
            indices.to_numpy(), pc.take(values, indices).to_pylist(), strict=True
        ):
            spans = self._spans(text, prefiltered=prefiltered)
            if spans:
                result = self._redact(text, spans)
                changed.append(int(index))
                replacements.append(result.text)
                counts.update(result.counts)
        if not changed:
            return values, {}
        mask = np.zeros(len(values), dtype=bool)
        mask[changed] = True
        redacted = pc.replace_with_mask(
            values, pa.array(mask), pa.array(replacements, type=values.type)
        )
        return redacted, dict(counts)

    def _spans(self, text: str, *, prefiltered: bool = False) -> list[tuple[int, int, int]]:
        """Non-overlapping ``(start, end, rule rank)`` in text order."""
        if not self.policy.enabled:
            return []
        found: list[tuple[int, int, int]] = []
        if self._any_builtin and (prefiltered or self._prefilter.search(text)):
            found = find_builtin(text, self._kinds)
        for rank_of, rule in self._custom:
            assert rule.regex is not None
            found.extend(
                (m.start(), m.end(), rank_of)
                for m in rule.regex.finditer(text)
                if m.end() > m.start()
            )
        if len(found) < 2:
            return found
        # Lower rank first; within a rank, earlier then longer.
        found.sort(key=lambda s: (s[2], s[0], -s[1]))
        kept: list[tuple[int, int, int]] = []
        for span in found:
            if all(span[1] <= k[0] or span[0] >= k[1] for k in kept):
                kept.append(span)
        kept.sort()
        return kept


def _has_nested_unbounded_repeat(pattern: str, flags: int) -> bool:
    """Whether a variable-length repeat sits inside another repeat, one of them unbounded.

    Reads the parse tree of the standard library's own regex parser (``re._parser``); where a
    future Python moves it, the check is skipped rather than guessed.
    """
    try:
        parser: Any = importlib.import_module("re._parser")
        constants: Any = importlib.import_module("re._constants")
        tree = parser.parse(pattern, flags)
    except (ImportError, AttributeError):  # pragma: no cover - depends on the Python version
        return False
    unbounded = constants.MAXREPEAT

    def walk(items: Any, outer: tuple[int, int] | None) -> bool:
        for op, av in items:
            name = str(op)
            if name in ("MAX_REPEAT", "MIN_REPEAT"):
                low, high, body = av
                if outer is not None and high > 1 and low != high and unbounded in (high, outer[1]):
                    return True
                inner = (low, high) if high > 1 else outer
                if walk(body, inner):
                    return True
            elif name in ("POSSESSIVE_REPEAT", "ATOMIC_GROUP"):
                body = av[2] if name == "POSSESSIVE_REPEAT" else av
                if walk(body, None):
                    return True
            elif name == "SUBPATTERN":
                if walk(av[-1], outer):
                    return True
            elif name == "BRANCH":
                if any(walk(branch, outer) for branch in av[1]):
                    return True
            elif name in ("ASSERT", "ASSERT_NOT"):
                if walk(av[1], outer):
                    return True
            elif name == "GROUPREF_EXISTS" and any(
                walk(branch, outer) for branch in av[1:] if branch is not None
            ):
                return True
        return False

    return walk(tree, None)
