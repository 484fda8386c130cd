"""Payment PII: card numbers (issuer ranges and Luhn) and IBANs (registry lengths, mod 97)."""

from __future__ import annotations

import re

from daytwo.governance.pii_context import (
    NUM_END,
    ContextWords,
    Offsets,
    digits_of,
    position_after,
)

# ---------------------------------------------------------------------------------------------
# Payment cards: 13-19 digits, contiguous or in the groupings cards are printed with, a known
# issuer prefix for the length (ISO/IEC 7812 IIN ranges of the major networks), and Luhn.

_CARD = re.compile(
    r"(?<![\w+#])(?<![0-9][.,:\-/])(?<![0-9]{4} )"
    r"(?:"
    r"[0-9]{12,19}"
    r"|[0-9]{4}(?P<s1>[ \-])[0-9]{4}(?P=s1)[0-9]{4}(?:(?P=s1)[0-9]{1,4}(?:(?P=s1)[0-9]{1,3})?)?"
    r"|[0-9]{4}(?P<s2>[ \-])[0-9]{6}(?P=s2)[0-9]{4,5}"
    r")" + NUM_END
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


_CARD_CONTEXT = ContextWords(
    r"card|cards|visa|mastercard|master card|amex|maestro|discover|jcb|diners|debit|credit|cc"
    r"|tarjeta|carte|karte|kaart|carta"
)


def card_at(text: str, offset: int) -> Offsets | None:
    m = _CARD.match(text, offset)
    if m is None:
        return None
    start, end = m.span()
    digits = digits_of(text, start, end)
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
        and card_number_valid(digits_of(text, start, last_sep))
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


def iban_at(text: str, offset: int) -> Offsets | None:
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
        cut = position_after(text, start, length)
        if cut >= end or text[cut] != " ":
            return None
        end, compact = cut, compact[:length]
    return (start, end) if iban_valid(compact) else None
