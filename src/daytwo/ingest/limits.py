"""The byte-level limits of one interaction, enforced before any parser sees the bytes.

Native JSON parsers recurse: Arrow's reader (RapidJSON) overflows its stack and kills the
process on a line nested a few thousand levels deep, and a line longer than Arrow's block
cannot be read at all. So every record is measured here first: its size, and its nesting
depth, computed at C and NumPy speed from a skeleton of the bytes (brackets, newlines and the
quotes around brackets). A record over either limit is refused by name, and only what passes
reaches a parser. The limits on content (turns, string lengths, finite numbers) are rules of
:mod:`daytwo.interactions.validate`; docs/ingest.md lists them all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

MAX_RECORD_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 64

_QUOTE, _NEWLINE = ord('"'), ord("\n")
_DELTA = np.zeros(256, dtype=np.int8)
_DELTA[[ord("{"), ord("[")]] = 1
_DELTA[[ord("}"), ord("]")]] = -1
# Every byte but quotes, brackets and newlines: what the depth scan deletes first.
_NOT_STRUCTURAL = bytes(c for c in range(256) if c not in b'"{}[]\n')
_ENVELOPE = re.compile(rb'\s*\{\s*"interactions"\s*:\s*\[')


def too_long_message(size: int) -> str:
    return f"is {size:,} bytes; one interaction may be at most {MAX_RECORD_BYTES:,} bytes"


def too_deep_message(limit: int = MAX_DEPTH) -> str:
    return f"nests deeper than {limit} levels of objects and lists"


def _skeleton(data: bytes) -> bytes:
    """``data`` reduced to the brackets, newlines and the quotes that matter for them.

    Escaped backslashes and quotes go first (left to right, as a parser pairs them), then
    every byte but quotes, brackets and newlines, then adjacent quote pairs (strings with no
    bracket inside): what is left is tiny, and each bracket in it is inside a string exactly
    when an odd number of quotes precede it on its line. All of it runs at C speed.
    """
    if b"\\" in data:
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    return data.translate(None, _NOT_STRUCTURAL).replace(b'""', b"")


def _depths(skeleton: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each bracket of the skeleton outside strings: its line, whether it opens, and the
    nesting depth after it (depth and string state restart at every newline)."""
    chars = np.frombuffer(skeleton, dtype=np.uint8)
    newline = chars == _NEWLINE
    # Where each element's line starts in the skeleton (the newline before it, or -1).
    index = np.arange(len(chars), dtype=np.int32)
    line_start = np.maximum.accumulate(np.where(newline, index, -1))
    fresh = line_start < 0
    since = np.where(fresh, 0, line_start)
    # A bracket is inside a string when the quotes before it on its line are odd in number.
    parity = np.bitwise_xor.accumulate((chars == _QUOTE).view(np.uint8))
    in_string = (parity ^ np.where(fresh, 0, parity[since])).view(bool)
    delta = _DELTA[chars]
    delta[in_string] = 0
    depth = np.cumsum(delta, dtype=np.int32)
    depth -= np.where(fresh, 0, depth[since])
    bracket = np.flatnonzero(delta)
    line = np.cumsum(newline, dtype=np.int32)[bracket]
    return line, delta[bracket] > 0, depth[bracket]


def deep_lines(data: bytes, *, max_depth: int = MAX_DEPTH) -> set[int]:
    """The lines of NDJSON ``data`` nested deeper than ``max_depth`` (line ``i`` is the
    ``i``-th, blank lines count)."""
    line, _, depth = _depths(_skeleton(data))
    return set(np.unique(line[depth > max_depth]).tolist())


@dataclass(frozen=True, slots=True)
class DeepRecord:
    """The first record of a JSON body nested too deep, and how many records the body has
    (either is None where the body's shape does not tell)."""

    index: int | None
    records: int


def find_too_deep(body: bytes, *, max_depth: int = MAX_DEPTH) -> DeepRecord | None:
    """Check a JSON body (``{"interactions": [...]}``, a list, or one object) before parsing.

    Each record may nest ``max_depth`` levels; returns the first record that nests deeper,
    or None. In a body whose shape cannot be told without parsing (an envelope whose first
    key is not "interactions"), the envelope's two levels are allowed and the records are
    checked one by one once parsed.
    """
    # A newline in a JSON body is whitespace: the whole body is one line.
    _, opens, depth = _depths(_skeleton(body).replace(b"\n", b""))
    head = body.lstrip()[:1]
    level: int | None = None
    if head == b"[":
        level = 2
    elif _ENVELOPE.match(body):
        level = 3
    elif head == b"{" and b'"interactions"' not in body:
        level = 1
    deep = np.flatnonzero(depth > max_depth + (level or 3) - 1)
    if not len(deep):
        return None
    if level is None:
        return DeepRecord(None, 1)
    starts = opens & (depth == level)
    first = int(deep[0])
    index = max(0, int(np.count_nonzero(starts[:first])) - 1)
    return DeepRecord(index, max(1, int(np.count_nonzero(starts))))
