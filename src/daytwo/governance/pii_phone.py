"""Phone numbers: international, NANP, national trunk-prefix and grouped forms, checked against
the E.164 calling codes and each plan's digit counts."""

from __future__ import annotations

import re

from daytwo.governance.pii_context import (
    NUM_END,
    NUM_START,
    ContextWords,
    Offsets,
    digits_of,
)

# ---------------------------------------------------------------------------------------------
# Phone numbers, one pattern with one named alternative per shape.

_EXT = r"(?P<ext>[ ]?(?:x|ext\.?|extension)[ ]?[0-9]{1,6})?"
# A national number does not start inside a run of digit groups ("order 3246 0071 6680 7397").
_NATIONAL_START = r"(?<![0-9] )"

_PHONE = re.compile(
    NUM_START + r"(?:"
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
    r")" + _EXT + NUM_END
)
_PHONE_CONTEXT = ContextWords(
    r"phone|phones|mobile|mob|cell|cellphone|tel|telephone|call|called|calling|ring|text|sms"
    r"|whatsapp|landline|fax|dial|reach me|contact number|callback|call back|my number"
    r"|the number|this number|same number|new number|old number|number to|contact"
    r"|m[oó]vil|tel[eé]fono|telefoon|t[eé]l[eé]phone|portable|handy|cellulare"
)
# "order #0161 496 0000", "tracking no. 0870 123 4567": an identifier, not a phone.
_IDENTIFIER_BEFORE = ContextWords(
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


def phone_at(text: str, offset: int) -> Offsets | None:
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
    digits = digits_of(text, start, m.start("ext") if m.group("ext") else end)
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
