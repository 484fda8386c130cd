"""What the built-in PII detectors share: the edges of a number, the digits of a span, where a
span ends after so many digits, and context words near a span."""

from __future__ import annotations

import re

Offsets = tuple[int, int]

_NOT_DIGIT = re.compile(r"[^0-9]+")


def digits_of(text: str, start: int, end: int) -> str:
    return _NOT_DIGIT.sub("", text[start:end])


class ContextWords:
    """Context words, matched as whole words in any letter case, near a span or right before it.

    Windows are lower-cased before matching: a case-insensitive alternation is several times
    slower in the standard engine.
    """

    def __init__(self, words: str, *, suffix: str = "") -> None:
        self._pattern = re.compile(r"(?:" + words + r")(?![a-z])" + suffix)

    def near(self, text: str, start: int, end: int) -> bool:
        """Within 40 characters before the span or 25 after it."""
        hi = min(len(text), end + 25)
        while hi < len(text) and text[hi].isalpha():
            hi += 1
        return self.within(text, max(0, start - 40), start) or self.within(text, end, hi)

    def within(self, text: str, lo: int, hi: int) -> bool:
        window = text[lo:hi].lower()
        for m in self._pattern.finditer(window):
            i = m.start()
            before = window[i - 1] if i else text[lo - 1 : lo].lower()
            if not ("a" <= before <= "z"):
                return True
        return False


# Edges of a number: not glued to a word, and not the tail or head of a longer dotted / dashed
# / slashed / colon-separated number (versions, dates, times, IP addresses).
NUM_START = r"(?<![\w+#])(?<![0-9][.,:\-/])"
NUM_END = r"(?![\w])(?![.,:\-/][0-9])"


def position_after(text: str, start: int, count: int) -> int:
    """Offset just after the ``count``-th non-space character from ``start``."""
    seen = 0
    i = start
    while seen < count:
        if text[i] != " ":
            seen += 1
        i += 1
    return i
