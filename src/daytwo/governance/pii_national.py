"""National identifiers: US SSN, UK National Insurance number, Spanish DNI and NIE, Dutch BSN."""

from __future__ import annotations

import re

from daytwo.governance.pii_context import (
    NUM_END,
    ContextWords,
    Offsets,
    digits_of,
)

# ---------------------------------------------------------------------------------------------
# National identifiers

# US Social Security number: AAA-GG-SSSS; area not 000, 666 or 9xx, group not 00, serial not
# 0000 (SSA). Dashed or spaced forms stand alone; nine bare digits need an SSN context word.
_SSN = re.compile(
    r"(?<![\w+#])(?<![0-9][.,:\-/ ])"
    r"(?:[0-9]{3}(?P<sep>[ \-])[0-9]{2}(?P=sep)[0-9]{4}|(?P<bare>[0-9]{9}))" + NUM_END
)
_ID_WORDS = r"|id number|id no|identity number|identification number|national id"
_SSN_CONTEXT = ContextWords(
    r"ssn|ss#|ss no|social security|social sec|soc\.? ?sec|taxpayer id|tin" + _ID_WORDS
)


def ssn_valid(digits: str) -> bool:
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


# UK National Insurance number: two prefix letters (HMRC rules), six digits, suffix A-D. Without
# the suffix it needs a context word.
_NINO = re.compile(
    r"(?<![\w])"
    r"(?P<prefix>[A-Za-z]{2}) ?[0-9]{2} ?[0-9]{2} ?[0-9]{2}(?: ?(?P<suffix>[A-Da-d]))?(?![\w])"
)
_NINO_BAD_PREFIXES = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})
_NINO_CONTEXT = ContextWords(r"national insurance|ni number|ni no|nino|nat\.? ?ins")


def nino_prefix_valid(prefix: str) -> bool:
    first, second = prefix[0], prefix[1]
    return first not in "DFIQUV" and second not in "DFIOQUV" and prefix not in _NINO_BAD_PREFIXES


# Spanish DNI (8 digits + check letter) and NIE (X/Y/Z + 7 digits + check letter).
_DNI = re.compile(
    r"(?<![\w])"
    r"(?:(?P<nie>[XYZxyz])[ \-]?(?P<nie_digits>[0-9]{7})"
    r"|(?P<dni_digits>[0-9]{8}|[0-9]{2}\.[0-9]{3}\.[0-9]{3}))"
    r"[ \-]?(?P<letter>[A-Za-z])(?![\w])"
)
_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def dni_valid(number: str, letter: str) -> bool:
    return _DNI_LETTERS[int(number) % 23] == letter.upper()


# Dutch BSN: nine digits passing the 11-proof. One random nine-digit number in eleven passes,
# so it needs a BSN context word.
_BSN = re.compile(
    r"(?<![\w+#])(?<![0-9][.,:\-/ ])"
    r"(?:[0-9]{9}|[0-9]{4}\.[0-9]{2}\.[0-9]{3}|[0-9]{3}(?P<sep>[ .])[0-9]{3}(?P=sep)[0-9]{3})"
    + NUM_END
)
_BSN_CONTEXT = ContextWords(
    r"bsn|burgerservicenummer|burger service ?nummer|citizen service number|sofi-?nummer|sofi"
    r"|social security" + _ID_WORDS
)


def bsn_valid(digits: str) -> bool:
    if len(digits) != 9 or digits == "000000000":
        return False
    total = sum(int(d) * w for d, w in zip(digits[:8], range(9, 1, -1), strict=True))
    return (total - int(digits[8])) % 11 == 0


def ssn_or_bsn_at(text: str, offset: int) -> Offsets | None:
    m = _SSN.match(text, offset)
    if m is not None:
        start, end = m.span()
        if ssn_valid(digits_of(text, start, end)) and (
            m.group("bare") is None or _SSN_CONTEXT.near(text, start, end)
        ):
            return start, end
    m = _BSN.match(text, offset)
    if m is not None:
        start, end = m.span()
        if bsn_valid(digits_of(text, start, end)) and _BSN_CONTEXT.near(text, start, end):
            return start, end
    return None


def dni_at(text: str, offset: int) -> Offsets | None:
    # DNI: the digits start the match; NIE: "X", "X-" or "X " comes before them.
    for start in (offset, offset - 1, offset - 2):
        m = _DNI.match(text, start) if start >= 0 else None
        if m is None:
            continue
        if m.group("nie") is not None:
            number = str("XYZ".index(m.group("nie").upper())) + m.group("nie_digits")
        else:
            number = m.group("dni_digits").replace(".", "")
        return m.span() if dni_valid(number, m.group("letter")) else None
    return None


def nino_at(text: str, run_start: int) -> Offsets | None:
    # "AB123456C", "AB 12 34 56 C": the prefix letters come right before the run.
    for start in (run_start - 2, run_start - 3):
        m = _NINO.match(text, start) if start >= 0 else None
        if m is None:
            continue
        if nino_prefix_valid(m.group("prefix").upper()) and (
            m.group("suffix") is not None or _NINO_CONTEXT.near(text, *m.span())
        ):
            return m.span()
        return None
    return None
