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

This module holds the scan and e-mail addresses; each other kind's patterns and checks are in
its own module (``pii_payment``: cards and IBANs; ``pii_national``: national identifiers;
``pii_phone``: phone numbers), on the helpers they share (``pii_context``).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from enum import StrEnum
from typing import NamedTuple

from daytwo.governance.pii_context import Offsets
from daytwo.governance.pii_national import dni_at, nino_at, ssn_or_bsn_at
from daytwo.governance.pii_payment import card_at, iban_at
from daytwo.governance.pii_phone import phone_at


class PiiKind(StrEnum):
    """The built-in kinds, in the order overlapping matches are resolved (first wins)."""

    EMAIL = "email"
    IBAN = "iban"
    CARD = "card"
    NATIONAL_ID = "national_id"
    PHONE = "phone"


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
            if kinds.iban and text[offset - 1] != " " and (span := iban_at(text, offset - 2)):
                found.append((*span, IBAN))
            if kinds.national_id and (span := nino_at(text, offset)):
                found.append((*span, NATIONAL_ID))
        if card is not None and kinds.card and (span := card_at(text, offset)):
            found.append((*span, CARD))
        if kinds.national_id:
            if nat_id is not None and (span := ssn_or_bsn_at(text, offset)):
                found.append((*span, NATIONAL_ID))
            if (nat_id is not None or nie is not None) and (span := dni_at(text, offset)):
                found.append((*span, NATIONAL_ID))
        if (
            (phone is not None or plus is not None)
            and kinds.phone
            and (span := phone_at(text, offset))
        ):
            found.append((*span, PHONE))
    return found


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
