"""Built-in PII detectors: candidate patterns written from each format's specification, then
checked the way the issuer checks them (Luhn and issuer ranges, ISO 13616 mod-97 and registry
lengths, SSA ranges, HMRC prefixes, the Spanish check letter, the Dutch 11-proof, ITU calling
codes, NANP numbering).

Finding is two-step, for speed on ordinary chat text. One scan (``_CANDIDATE``) finds the few
places where a numeric format can begin: the first digit of a digit group that starts a known
shape, or a digit right after "+", two letters or an NIE letter. Only there are the full
patterns tried, anchored, and checked. :data:`PREFILTER` asks the same question of a whole text
in syntax that Python ``re`` and Arrow's RE2 read alike (every class is ASCII, ``[0-9]`` not
``\\d``), so a batch can skip the texts that cannot hold a built-in match.

Where a format is too weak to stand alone (a bare run of digits that only a check digit sets
apart from an order number), the detector also requires a context word near the number; phone
shapes right after words like "order #" or "tracking no." are not taken for phones. Results are
offsets and kinds, never the matched text.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from enum import StrEnum
from typing import NamedTuple


class PiiKind(StrEnum):
    """The built-in kinds, in the order overlapping matches are resolved (first wins)."""

    EMAIL = "email"
    IBAN = "iban"
    CARD = "card"
    NATIONAL_ID = "national_id"
    PHONE = "phone"


Offsets = tuple[int, int]
Found = tuple[int, int, int]

# Where a numeric match can begin: the first digit of a digit group that starts one of the
# shapes below (each a prefix of what the full patterns further down need from that digit on),
# a digit right after two letters (IBAN check digits, NINO), after "+", or after an NIE letter.
# Every alternative starts with a digit, so the engine skips all other characters at C speed,
# and dates, times, amounts and short numbers are turned down without leaving it. Optional
# captures then say which kinds' shapes start there, so only their checks run.
_CARD_SHAPES = [
    r"[0-9]{12}",
    r"[0-9]{4}[ \-][0-9]{4}[ \-][0-9]{4}",  # 4-4-4-4
    r"[0-9]{4}[ \-][0-9]{6}[ \-][0-9]{4}",  # 4-6-5, 4-6-4
]
_ID_SHAPES = [
    r"[0-9]{9}",  # SSN, BSN
    r"[0-9]{3}[ \-][0-9]{2}[ \-][0-9]{4}",  # SSN
    r"[0-9]{4}\.[0-9]{2}\.[0-9]{3}",  # BSN
    r"[0-9]{3}[ .][0-9]{3}[ .][0-9]{3}",  # BSN
    r"[0-9]{8}[ \-]?[A-Za-z]",  # DNI
    r"[0-9]{2}\.[0-9]{3}\.[0-9]{3}[ \-]?[A-Za-z]",  # DNI
]
_PHONE_SHAPES = [
    r"[0-9]{9}",  # bare
    r"00[ ]?[1-9]",  # international prefix 00
    r"(?:1[ .\-]?\(?)?[2-9][0-9]{2}\)?[ .\-]?[2-9][0-9]{2}[ .\-]?[0-9]{4}",  # NANP
    r"0[1-9][0-9]{0,4}(?:\)[ ]?|[ .\-/])[0-9]{2}",  # trunk prefix 0
    r"[5-9][0-9]{2}[ .\-][0-9]{2}",  # grouped mobiles
    r"[89][0-9][ .\-][0-9]{3}[ .\-][0-9]{2}",  # Spanish landlines
    r"3[0-9]{2}[ .\-][0-9]{3}",  # Italian mobiles
]
_SHAPES = "|".join(dict.fromkeys(_CARD_SHAPES + _ID_SHAPES + _PHONE_SHAPES))


def _starts_here(name: str, shapes: list[str]) -> str:
    """An optional zero-width capture: ``name`` is set when one of ``shapes`` starts at the
    digit just consumed."""
    return r"(?:(?<=(?=(?P<" + name + ">" + "|".join(shapes) + r"))[0-9])|)"


_CANDIDATE = re.compile(
    r"[0-9](?<![0-9][0-9])(?<![0-9][.,:\-/][0-9])(?:"
    r"(?P<letters>(?<=[A-Za-z]{2}[0-9])(?<![\w][A-Za-z]{2}[0-9])(?=[0-9])"
    r"|(?<=[A-Za-z]{2} [0-9])(?<![\w][A-Za-z]{2} [0-9])(?=[0-9] ?[0-9]{2} ?[0-9]{2}(?![0-9])))"
    r"|(?P<plus>(?<=\+[0-9])|(?<=\+ [0-9]))"
    r"|(?P<nie>(?:(?<=[XYZxyz][0-9])|(?<=[XYZxyz][ \-][0-9]))(?=[0-9]{6}))"
    r"|(?<=(?=" + _SHAPES + r")[0-9])"
    r")"
    + _starts_here("card", _CARD_SHAPES)
    + _starts_here("id", _ID_SHAPES)
    + _starts_here("phone", _PHONE_SHAPES)
)

# The same test as a yes / no for a whole text, in syntax that Python ``re`` and RE2 (Arrow)
# read alike: an '@', or any place where ``_CANDIDATE`` could match. Lookbehinds become
# consumed characters, which RE2 can do.
PREFILTER = "|".join(
    [
        r"@",
        r"[A-Za-z]{2}[0-9]{2}",
        r"[A-Za-z]{2} [0-9]{2} ?[0-9]{2} ?[0-9]{2}",
        r"\+ ?[0-9]",
        r"[XYZxyz][ \-]?[0-9]{7}",
        r"(?:^|^[.,:/\-]|[^0-9.,:/\-]|[^0-9][.,:/\-])(?:" + _SHAPES + ")",
    ]
)


class KindSwitches(NamedTuple):
    """Which built-in kinds to look for (plain booleans: enum hashing is slow in a hot loop)."""

    email: bool
    iban: bool
    card: bool
    national_id: bool
    phone: bool

    @classmethod
    def of(cls, kinds: Collection[PiiKind]) -> KindSwitches:
        return cls(*(kind in kinds for kind in PiiKind))


# Ranks of the kinds in a found span: their position in PiiKind.
EMAIL, IBAN, CARD, NATIONAL_ID, PHONE = range(len(PiiKind))


def find_builtin(text: str, kinds: KindSwitches) -> list[Found]:
    """Every candidate of the given kinds that passes its checks, as ``(start, end, rank)``
    with ``rank`` the kind's position in :class:`PiiKind`; spans may overlap."""
    found: list[Found] = []
    if kinds.email and "@" in text:
        found.extend((start, end, EMAIL) for start, end in _emails(text))
    if not (kinds.iban or kinds.card or kinds.national_id or kinds.phone):
        return found
    span: Offsets | None
    for m in _CANDIDATE.finditer(text):
        offset = m.start()
        letters, plus, nie, card, nat_id, phone = m.group(
            "letters", "plus", "nie", "card", "id", "phone"
        )
        if letters is not None:
            if kinds.iban and text[offset - 1] != " " and (span := _iban_at(text, offset - 2)):
                found.append((*span, IBAN))
            if kinds.national_id and (span := _nino_at(text, offset)):
                found.append((*span, NATIONAL_ID))
        if card is not None and kinds.card and (span := _card_at(text, offset)):
            found.append((*span, CARD))
        if kinds.national_id:
            if nat_id is not None and (span := _ssn_or_bsn_at(text, offset)):
                found.append((*span, NATIONAL_ID))
            if (nat_id is not None or nie is not None) and (span := _dni_at(text, offset)):
                found.append((*span, NATIONAL_ID))
        if (
            (phone is not None or plus is not None)
            and kinds.phone
            and (span := _phone_at(text, offset))
        ):
            found.append((*span, PHONE))
    return found


_NOT_DIGIT = re.compile(r"[^0-9]+")


def _digits(text: str, start: int, end: int) -> str:
    return _NOT_DIGIT.sub("", text[start:end])


class _Words:
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
_NUM_START = r"(?<![\w+#])(?<![0-9][.,:\-/])"
_NUM_END = r"(?![\w])(?![.,:\-/][0-9])"


# ---------------------------------------------------------------------------------------------
# E-mail (RFC 5322 dot-atom, practical subset; lengths capped as in RFC 5321 so the scan is
# linear)

_EMAIL = re.compile(
    r"(?<![\w.%+\-'])"
    r"[\w%+\-'](?:[\w.%+\-']{0,62}[\w%+\-'])?"
    r"@(?:[\w](?:[\w\-]{0,61}[\w])?\.){1,8}[^\W\d_]{2,24}"
    r"(?![\w\-])(?!\.[\w])"
)


def _emails(text: str) -> Iterator[Offsets]:
    pos = 0
    while (at := text.find("@", pos)) >= 0:
        # The local part is at most 64 characters: start looking just before that. The '@' at
        # ``at`` is the only one in ``text[pos:at + 1]``, so a match that starts by ``at``
        # holds it.
        m = _EMAIL.search(text, max(pos, at - 65))
        if m is None:
            return
        if m.start() <= at:
            yield m.span()
            pos = m.end()
        else:
            pos = at + 1


# ---------------------------------------------------------------------------------------------
# Payment cards: 13-19 digits, contiguous or in the groupings cards are printed with, a known
# issuer prefix for the length (ISO/IEC 7812 IIN ranges of the major networks), and Luhn.

_CARD = re.compile(
    r"(?<![\w+#])(?<![0-9][.,:\-/])(?<![0-9]{4} )"
    r"(?:"
    r"[0-9]{12,19}"
    r"|[0-9]{4}(?P<s1>[ \-])[0-9]{4}(?P=s1)[0-9]{4}(?:(?P=s1)[0-9]{1,4}(?:(?P=s1)[0-9]{1,3})?)?"
    r"|[0-9]{4}(?P<s2>[ \-])[0-9]{6}(?P=s2)[0-9]{4,5}"
    r")" + _NUM_END
)

# (first digits from, to, allowed lengths)
_CARD_RANGES: tuple[tuple[int, int, frozenset[int]], ...] = (
    (4, 4, frozenset({13, 16, 19})),  # Visa
    (51, 55, frozenset({16})),  # Mastercard
    (2221, 2720, frozenset({16})),  # Mastercard 2-series
    (34, 34, frozenset({15})),  # American Express
    (37, 37, frozenset({15})),
    (6011, 6011, frozenset(range(16, 20))),  # Discover
    (644, 649, frozenset(range(16, 20))),
    (65, 65, frozenset(range(16, 20))),
    (300, 305, frozenset(range(14, 20))),  # Diners Club
    (36, 36, frozenset(range(14, 20))),
    (38, 39, frozenset(range(14, 20))),
    (3528, 3589, frozenset(range(16, 20))),  # JCB
    (1800, 1800, frozenset({15})),  # JCB, 15-digit ranges
    (2131, 2131, frozenset({15})),
    (62, 62, frozenset(range(16, 20))),  # UnionPay
    (50, 50, frozenset(range(12, 20))),  # Maestro
    (56, 69, frozenset(range(12, 20))),
    (2200, 2204, frozenset(range(16, 20))),  # Mir
    (60, 60, frozenset({16})),  # RuPay
    (81, 82, frozenset({16})),
    (508, 508, frozenset({16})),
)


_LUHN_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check of ISO/IEC 7812-1 over a string of ASCII digits."""
    backwards = digits[::-1]
    kept = sum(map(int, backwards[0::2]))
    doubled = sum(map(_LUHN_DOUBLED.__getitem__, map(int, backwards[1::2])))
    return (kept + doubled) % 10 == 0


def card_number_valid(digits: str) -> bool:
    """A known issuer range for the length, then Luhn."""
    n = len(digits)
    for low, high, lengths in _CARD_RANGES:
        if n in lengths and low <= int(digits[: len(str(low))]) <= high:
            return luhn_valid(digits)
    return False


_CARD_CONTEXT = _Words(
    r"card|cards|visa|mastercard|master card|amex|maestro|discover|jcb|diners|debit|credit|cc"
    r"|tarjeta|carte|karte|kaart|carta"
)


def _card_at(text: str, offset: int) -> Offsets | None:
    m = _CARD.match(text, offset)
    if m is None:
        return None
    start, end = m.span()
    digits = _digits(text, start, end)
    if card_number_valid(digits):
        return start, end
    # An issuer range this table does not know (new, regional or retired ranges): a number
    # of card length that passes Luhn next to the word "card" is still a card.
    if 12 <= len(digits) <= 19 and luhn_valid(digits) and _CARD_CONTEXT.near(text, start, end):
        return start, end
    # Sixteen digits is the card length; with a major-industry digit of the card networks
    # (ISO/IEC 7812: 3 travel, 4-5 banking, 6 merchandising and banking) and Luhn, it is a card
    # even where its issuer range is unknown here.
    if len(digits) == 16 and digits[0] in "3456" and luhn_valid(digits):
        return start, end
    # "4111 1111 1111 1111 12/27": a trailing short group may be an expiry date.
    last_sep = max(text.rfind(" ", start, end), text.rfind("-", start, end))
    if (
        last_sep > start
        and end - last_sep <= 4
        and card_number_valid(_digits(text, start, last_sep))
    ):
        return start, last_sep
    return None


# ---------------------------------------------------------------------------------------------
# IBAN (ISO 13616): country code, two check digits, a BBAN of the registered length for the
# country; electronic form (no spaces) or print form (groups of four), any letter case.

_IBAN = re.compile(
    r"(?<![\w])"
    r"[A-Za-z]{2}[0-9]{2}"
    r"(?:[A-Za-z0-9]{11,30}|(?: [A-Za-z0-9]{4}){2,7}(?: [A-Za-z0-9]{1,3})?)"
    r"(?![\w])"
)

# Lengths from the SWIFT IBAN registry.
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
    "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32,
    "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
    "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23,
    "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip


def iban_valid(iban: str) -> bool:
    """Registered length and the ISO 7064 mod 97-10 check of an upper-case, space-free IBAN."""
    if IBAN_LENGTHS.get(iban[:2]) != len(iban) or not iban.isalnum() or not iban.isascii():
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def _iban_at(text: str, offset: int) -> Offsets | None:
    m = _IBAN.match(text, offset)
    if m is None:
        return None
    start, end = m.span()
    compact = text[start:end].replace(" ", "").upper()
    length = IBAN_LENGTHS.get(compact[:2])
    if length is None or len(compact) < length:
        return None
    if len(compact) > length:
        # Print form followed by another group of four (a word, a sort code): cut at the
        # registered length if that falls between groups.
        cut = _position_after(text, start, length)
        if cut >= end or text[cut] != " ":
            return None
        end, compact = cut, compact[:length]
    return (start, end) if iban_valid(compact) else None


def _position_after(text: str, start: int, count: int) -> int:
    """Offset just after the ``count``-th non-space character from ``start``."""
    seen = 0
    i = start
    while seen < count:
        if text[i] != " ":
            seen += 1
        i += 1
    return i


# ---------------------------------------------------------------------------------------------
# National identifiers

# US Social Security number: AAA-GG-SSSS; area not 000, 666 or 9xx, group not 00, serial not
# 0000 (SSA). Dashed or spaced forms stand alone; nine bare digits need an SSN context word.
_SSN = re.compile(
    r"(?<![\w+#])(?<![0-9][.,:\-/ ])"
    r"(?:[0-9]{3}(?P<sep>[ \-])[0-9]{2}(?P=sep)[0-9]{4}|(?P<bare>[0-9]{9}))" + _NUM_END
)
_ID_WORDS = r"|id number|id no|identity number|identification number|national id"
_SSN_CONTEXT = _Words(
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
_NINO_CONTEXT = _Words(r"national insurance|ni number|ni no|nino|nat\.? ?ins")


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
    + _NUM_END
)
_BSN_CONTEXT = _Words(
    r"bsn|burgerservicenummer|burger service ?nummer|citizen service number|sofi-?nummer|sofi"
    r"|social security" + _ID_WORDS
)


def bsn_valid(digits: str) -> bool:
    if len(digits) != 9 or digits == "000000000":
        return False
    total = sum(int(d) * w for d, w in zip(digits[:8], range(9, 1, -1), strict=True))
    return (total - int(digits[8])) % 11 == 0


def _ssn_or_bsn_at(text: str, offset: int) -> Offsets | None:
    m = _SSN.match(text, offset)
    if m is not None:
        start, end = m.span()
        if ssn_valid(_digits(text, start, end)) and (
            m.group("bare") is None or _SSN_CONTEXT.near(text, start, end)
        ):
            return start, end
    m = _BSN.match(text, offset)
    if m is not None:
        start, end = m.span()
        if bsn_valid(_digits(text, start, end)) and _BSN_CONTEXT.near(text, start, end):
            return start, end
    return None


def _dni_at(text: str, offset: int) -> Offsets | None:
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


def _nino_at(text: str, run_start: int) -> Offsets | None:
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


# ---------------------------------------------------------------------------------------------
# Phone numbers, one pattern with one named alternative per shape.

_EXT = r"(?P<ext>[ ]?(?:x|ext\.?|extension)[ ]?[0-9]{1,6})?"
# A national number does not start inside a run of digit groups ("order 3246 0071 6680 7397").
_NATIONAL_START = r"(?<![0-9] )"

_PHONE = re.compile(
    _NUM_START + r"(?:"
    # International: "+" or "00", an ITU calling code, the national number, an optional "(0)"
    # trunk indicator (UK, DE, ...). E.164 caps the total at 15 digits.
    r"(?P<intl>(?:\+[ ]?|"
    + _NATIONAL_START
    + r"(?P<zz>00)[ ]?)[1-9](?:[ .\-/]?(?:\([0-9]{1,4}\)|[0-9])){6,16})"
    # North American Numbering Plan: [1] NXX NXX XXXX.
    r"|(?P<nanp>" + _NATIONAL_START + r"(?:1[ .\-]?)?"
    r"(?:\((?P<area_p>[2-9][0-9]{2})\)[ ]?|(?P<area>[2-9][0-9]{2})[ .\-]?)"
    r"[2-9][0-9]{2}[ .\-]?[0-9]{4})"
    # National numbers with a trunk prefix 0 (UK, FR, DE, NL, IT, BE, IE, AT, CH, AU, ...) in
    # groups: "020 7946 0958", "07700 900123", "01 23 45 67 89", "(030) 1234-5678".
    r"|(?P<trunk>" + _NATIONAL_START + r"(?:\(0[1-9][0-9]{0,4}\)[ \-]?|0[1-9][0-9]{0,4}[ .\-/])"
    r"(?:[0-9]{2,8}[ .\-/]){0,3}[0-9]{2,8})"
    # National numbers without a trunk prefix, grouped: Spanish / Portuguese / Polish mobiles
    # ("612 345 678", "612 34 56 78"), Spanish landlines ("91 123 45 67"), Italian mobiles
    # ("333 123 4567").
    r"|(?P<grouped>" + _NATIONAL_START + r"(?:"
    r"[5-9][0-9]{2}(?P<a>[ .\-])[0-9]{3}(?P=a)[0-9]{3}"
    r"|[5-9][0-9]{2}(?P<b>[ .\-])[0-9]{2}(?P=b)[0-9]{2}(?P=b)[0-9]{2}"
    r"|[89][0-9](?P<c>[ .\-])[0-9]{3}(?P=c)[0-9]{2}(?P=c)[0-9]{2}"
    r"|3[0-9]{2}(?P<d>[ .\-])[0-9]{3}(?P=d)?[0-9]{3,4}))"
    # Nine to twelve bare digits: a phone number only next to a phone word.
    r"|(?P<bare>" + _NATIONAL_START + r"[0-9]{9,12})"
    r")" + _EXT + _NUM_END
)
_PHONE_CONTEXT = _Words(
    r"phone|phones|mobile|mob|cell|cellphone|tel|telephone|call|called|calling|ring|text|sms"
    r"|whatsapp|landline|fax|dial|reach me|contact number|callback|call back|my number"
    r"|the number|this number|same number|new number|old number|number to|contact"
    r"|m[oó]vil|tel[eé]fono|telefoon|t[eé]l[eé]phone|portable|handy|cellulare"
)
# "order #0161 496 0000", "tracking no. 0870 123 4567": an identifier, not a phone.
_IDENTIFIER_BEFORE = _Words(
    r"order|orders|tracking|track|parcel|package|shipment|consignment|waybill"
    r"|ref|reference|invoice|inv|acct|account|booking|reservation|confirmation|conf|ticket|case"
    r"|incident|sku|serial|s/n|imei|iccid|sim|policy|member|membership|customer|loyalty"
    r"|voucher|coupon|promo|pnr|transaction|txn|receipt|claim|item|product|model|part|batch"
    r"|meter|contract|subscription|complaint|return|rma|job|quote|id",
    suffix=r"\W{0,3}(?:(?:number|num|nr|no|code|id)\.?\W{0,3}(?:is\W{0,3})?)?$",
)
# Digit-count limits per shape (E.164 and national numbering plans).
_PHONE_DIGITS = {"nanp": (10, 11), "trunk": (9, 12), "grouped": (9, 10), "bare": (9, 12)}

# ITU-T E.164 country calling codes: the one- and two-digit codes, and the two-digit prefixes
# under which three-digit codes are assigned.
_CC_1 = frozenset("17")
_CC_2 = frozenset({
    "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46",
    "47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63",
    "64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98",
})  # fmt: skip
_CC_3_PREFIXES = frozenset({
    "21", "22", "23", "24", "25", "26", "29", "35", "37", "38", "42", "50", "59", "67", "68",
    "69", "80", "85", "87", "88", "96", "97", "99",
})  # fmt: skip


def calling_code_valid(digits: str) -> bool:
    return digits[:1] in _CC_1 or digits[:2] in _CC_2 or digits[:2] in _CC_3_PREFIXES


def _phone_at(text: str, offset: int) -> Offsets | None:
    # "+44 ...", "+ 44 ...", "(020) ...": the number may start just before its digits.
    for start in (offset - 2, offset - 1, offset):
        if start < offset and (start < 0 or text[start] not in "+("):
            continue
        m = _PHONE.match(text, start)
        if m is not None and _phone_valid(text, m):
            return m.span()
    return None


def _phone_valid(text: str, m: re.Match[str]) -> bool:
    start, end = m.span()
    digits = _digits(text, start, m.start("ext") if m.group("ext") else end)
    if m.group("intl") is not None:
        body = digits[2:] if m.group("zz") else digits
        # A "(0)" trunk indicator is not part of the international number.
        if not 8 <= len(body) - text.count("(0)", start, end) <= 15:
            return False
        if not calling_code_valid(body):
            return False
        if m.group("zz") is None:
            return True
        # "00" could start any number: take it for a phone when grouped or next to a phone
        # word, and not right after "order no.".
        return _plausible_national(text, start, end)
    shape = (
        "nanp"
        if m.group("nanp") is not None
        else "trunk"
        if m.group("trunk") is not None
        else "grouped"
        if m.group("grouped") is not None
        else "bare"
    )
    low, high = _PHONE_DIGITS[shape]
    if not low <= len(digits) <= high:
        return False
    if shape == "nanp":
        area = m.group("area_p") or m.group("area")
        if area[1] == "9" or area[1:] == "11":  # N9X reserved, N11 service codes
            return False
    if shape == "bare":
        return not _after_identifier_word(text, start) and _PHONE_CONTEXT.near(text, start, end)
    return _plausible_national(text, start, end)


def _after_identifier_word(text: str, start: int) -> bool:
    return _IDENTIFIER_BEFORE.within(text, max(0, start - 40), start)


def _plausible_national(text: str, start: int, end: int) -> bool:
    """Grouped (or next to a phone word), and not right after "order #" and the like."""
    if _after_identifier_word(text, start):
        return False
    grouped = any(not ("0" <= ch <= "9") for ch in text[start:end])
    return grouped or _PHONE_CONTEXT.near(text, start, end)
