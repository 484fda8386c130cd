"""Write ``data/pii_cases.jsonl``: the labelled PII set the redaction quality is measured on.

Deterministic (fixed seed): ``python -m tests.governance.make_pii_cases``. Messages are support
chat turns (banking, telecom, retail, travel, public services) written in markup, where
``[[kind|value]]`` marks a span that must be redacted; everything else must stay. Numbers that
must pass a check (Luhn, mod-97, check letters, 11-proof) are computed here, and so are the
near-misses that must fail it. Each line of the output is
``{"text": ..., "spans": [{"start": ..., "end": ..., "kind": ...}], "tags": [...]}``.
"""

from __future__ import annotations

import json
import random
import re
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

OUT = Path(__file__).resolve().parent / "data" / "pii_cases.jsonl"
SEED = 20240611
MARK = re.compile(r"\[\[(\w+)\|(.*?)\]\]")


def parse_markup(marked: str) -> dict[str, Any]:
    """``"mail [[email|a@b.co]] now"`` -> text and gold spans."""
    text_parts: list[str] = []
    spans: list[dict[str, Any]] = []
    pos = 0
    length = 0
    for m in MARK.finditer(marked):
        before = marked[pos : m.start()]
        text_parts.append(before)
        length += len(before)
        value = m.group(2)
        spans.append({"start": length, "end": length + len(value), "kind": m.group(1)})
        text_parts.append(value)
        length += len(value)
        pos = m.end()
    text_parts.append(marked[pos:])
    return {"text": "".join(text_parts), "spans": spans}


# ---------------------------------------------------------------------------------------------
# Check digits


def luhn_check_digit(partial: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(partial)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def iban_with_check(country: str, bban: str) -> str:
    rearranged = bban + country + "00"
    number = int("".join(str(int(ch, 36)) for ch in rearranged))
    return f"{country}{98 - number % 97:02d}{bban}"


DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


class Values:
    """Random but valid (or deliberately invalid) values, from one seeded generator."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def digits(self, n: int, first: str = "0123456789") -> str:
        return self.rng.choice(first) + "".join(self.rng.choices(string.digits, k=n - 1))

    # --- cards ---------------------------------------------------------------------------
    CARD_PREFIXES: ClassVar[tuple[tuple[str, int], ...]] = (
        ("4", 16),
        ("4", 16),
        ("4", 16),
        ("51", 16),
        ("53", 16),
        ("55", 16),
        ("2221", 16),
        ("2720", 16),
        ("34", 15),
        ("37", 15),
        ("6011", 16),
        ("65", 16),
        ("644", 16),
        ("36", 14),
        ("3530", 16),
        ("62", 16),
        ("4", 13),
        ("4", 19),
        ("6759", 19),
    )

    def card_digits(self, valid: bool = True, prefix: tuple[str, int] | None = None) -> str:
        head, length = prefix or self.rng.choice(self.CARD_PREFIXES)
        body = head + "".join(self.rng.choices(string.digits, k=length - len(head) - 1))
        check = luhn_check_digit(body)
        if not valid:
            check = str((int(check) + self.rng.randint(1, 9)) % 10)
        return body + check

    def card_format(self, digits: str, style: str | None = None) -> str:
        style = style or self.rng.choice(["space", "space", "dash", "plain"])
        if style == "plain":
            return digits
        sep = " " if style == "space" else "-"
        n = len(digits)
        if n == 15 or n == 14:
            groups = [digits[:4], digits[4:10], digits[10:]]
        else:
            groups = [digits[i : i + 4] for i in range(0, n, 4)]
        return sep.join(groups)

    def card(self) -> str:
        return self.card_format(self.card_digits())

    def bad_card(self) -> str:
        """Card-shaped but failing Luhn: 16 digits, grouped like a card."""
        return self.card_format(self.card_digits(valid=False, prefix=("4", 16)))

    # --- e-mail ----------------------------------------------------------------------------
    FIRST: ClassVar[list[str]] = [
        "james",
        "mary",
        "robert",
        "patricia",
        "john",
        "jennifer",
        "michael",
        "linda",
        "david",
        "elizabeth",
        "william",
        "sarah",
        "priya",
        "arjun",
        "wei",
        "li",
        "fatima",
        "omar",
        "sofia",
        "lucas",
        "emma",
        "noah",
        "olivia",
        "liam",
        "ana",
        "jose",
        "mohammed",
        "aisha",
        "hannah",
        "thomas",
        "chloe",
        "kwame",
        "yuki",
        "sean",
        "niamh",
        "ines",
        "pieter",
        "sanne",
        "lars",
    ]
    LAST: ClassVar[list[str]] = [
        "smith",
        "jones",
        "brown",
        "taylor",
        "wilson",
        "davies",
        "evans",
        "johnson",
        "garcia",
        "martinez",
        "rodriguez",
        "muller",
        "schmidt",
        "dubois",
        "moreau",
        "rossi",
        "bianchi",
        "devries",
        "jansen",
        "patel",
        "singh",
        "khan",
        "chen",
        "wang",
        "nguyen",
        "kim",
        "obrien",
        "murphy",
        "kowalski",
        "novak",
        "silva",
        "santos",
        "andersen",
        "nielsen",
    ]
    DOMAINS: ClassVar[list[str]] = [
        "gmail.com",
        "yahoo.co.uk",
        "outlook.com",
        "hotmail.fr",
        "icloud.com",
        "proton.me",
        "web.de",
        "mail.example.com",
        "example.org",
        "btinternet.com",
        "gmx.de",
        "libero.it",
        "telefonica.net",
        "corp.acme-logistics.com",
        "student.uni-amsterdam.nl",
        "company.co.uk",
        "fastmail.fm",
        "eu.mycompany.io",
        "sky.com",
        "orange.fr",
        "ziggo.nl",
    ]

    def email(self) -> str:
        f, last = self.rng.choice(self.FIRST), self.rng.choice(self.LAST)
        style = self.rng.randrange(9)
        local = [
            f"{f}.{last}",
            f"{f}{last}",
            f"{f[0]}.{last}",
            f"{f}_{last}{self.rng.randint(1, 99)}",
            f"{f}.{last}+{self.rng.choice(['orders', 'shop', 'bank', 'travel', 'spam'])}",
            f"{last}-{f}",
            f"{f}{self.rng.randint(1970, 2005)}",
            f"{f[0]}{last}",
            f"{f}.{last[0]}",
        ][style]
        address = f"{local}@{self.rng.choice(self.DOMAINS)}"
        if self.rng.random() < 0.15:
            address = address.upper()
        elif self.rng.random() < 0.15:
            address = address[0].upper() + address[1:]
        return address

    # --- phones ----------------------------------------------------------------------------
    US_AREAS: ClassVar[list[str]] = [
        "212",
        "415",
        "312",
        "617",
        "206",
        "305",
        "512",
        "646",
        "713",
        "202",
        "303",
        "404",
        "702",
        "818",
        "917",
        "615",
        "971",
        "480",
    ]

    def phone(self, bare_ok: bool = False) -> str:
        d = self.digits
        styles: list[Callable[[], str]] = [
            lambda: f"07{d(3, '1234579')} {d(6)}",
            lambda: f"07{d(3, '1234579')} {d(3)} {d(3)}",
            lambda: f"+44 7{d(3, '1234579')} {d(6)}",
            lambda: f"+44 (0)7{d(3, '1234579')} {d(6)}",
            lambda: f"+447{d(9, '1234579')}",
            lambda: f"020 {d(4, '378')} {d(4)}",
            lambda: f"0161 {d(3, '24689')} {d(4)}",
            lambda: f"(0113) {d(3, '24689')} {d(4)}",
            lambda: f"+44 20 {d(4, '378')} {d(4)}",
            lambda: f"0800 {d(3)} {d(4)}",
            lambda: f"0345 {d(3)} {d(4)}",
            lambda: f"({self.rng.choice(self.US_AREAS)}) {d(3, '23456789')}-{d(4)}",
            lambda: f"{self.rng.choice(self.US_AREAS)}-{d(3, '23456789')}-{d(4)}",
            lambda: f"{self.rng.choice(self.US_AREAS)}.{d(3, '23456789')}.{d(4)}",
            lambda: f"{self.rng.choice(self.US_AREAS)} {d(3, '23456789')} {d(4)}",
            lambda: f"+1 {self.rng.choice(self.US_AREAS)} {d(3, '23456789')} {d(4)}",
            lambda: f"+1 ({self.rng.choice(self.US_AREAS)}) {d(3, '23456789')}-{d(4)}",
            lambda: f"1-800-{d(3, '23456789')}-{d(4)}",
            lambda: f"+1-{self.rng.choice(self.US_AREAS)}-{d(3, '23456789')}-{d(4)}",
            lambda: "0{} {} {} {} {}".format(d(1, "1234567"), d(2), d(2), d(2), d(2)),
            lambda: "0{}.{}.{}.{}.{}".format(d(1, "1234567"), d(2), d(2), d(2), d(2)),
            lambda: "+33 {} {} {} {} {}".format(d(1, "1234567"), d(2), d(2), d(2), d(2)),
            lambda: f"030 {d(8)}",
            lambda: f"0151 {d(8)}",
            lambda: f"0176/{d(8)}",
            lambda: f"(089) {d(4)}-{d(4)}",
            lambda: f"+49 30 {d(8)}",
            lambda: f"+49 151 {d(8)}",
            lambda: f"06-{d(8)}",
            lambda: f"020-{d(7, '123456789')}",
            lambda: f"+31 6 {d(8)}",
            lambda: f"+31 20 {d(3)} {d(4)}",
            lambda: f"6{d(2)} {d(3)} {d(3)}",
            lambda: f"+34 6{d(2)} {d(3)} {d(3)}",
            lambda: f"91 {d(3)} {d(2)} {d(2)}",
            lambda: f"6{d(2)} {d(2)} {d(2)} {d(2)}",
            lambda: f"3{d(2, '234589')} {d(3)} {d(4)}",
            lambda: f"+39 3{d(2, '234589')} {d(3)} {d(4)}",
            lambda: f"06 {d(4)} {d(4)}",
            lambda: f"08{d(1, '35679')} {d(3)} {d(4)}",
            lambda: f"+353 8{d(1, '35679')} {d(3)} {d(4)}",
            lambda: f"04{d(2)} {d(3)} {d(3)}",
            lambda: f"+61 4{d(2)} {d(3)} {d(3)}",
            lambda: f"(02) {d(4, '6789')} {d(4)}",
            lambda: f"+91 9{d(4)} {d(5)}",
            lambda: f"+52 55 {d(4)} {d(4)}",
            lambda: f"+55 11 9{d(4)}-{d(4)}",
            lambda: f"+971 50 {d(3)} {d(4)}",
            lambda: f"+65 9{d(3)} {d(4)}",
            lambda: f"+81 90-{d(4)}-{d(4)}",
            lambda: f"0044 7{d(3, '1234579')} {d(6)}",
            lambda: f"0049 {d(2, '123456789')} {d(8)}",
        ]
        if bare_ok:
            styles += [
                lambda: f"07{d(9, '1234579')}",
                lambda: f"{self.rng.choice(self.US_AREAS)}{d(3, '23456789')}{d(4)}",
                lambda: f"06{d(8)}",
                lambda: f"6{d(8)}",
            ]
        return self.rng.choice(styles)()

    # --- IBAN ------------------------------------------------------------------------------
    def iban(self, valid: bool = True, printed: bool | None = None) -> str:
        d, up = self.digits, string.ascii_uppercase
        letters = lambda n: "".join(self.rng.choices(up, k=n))  # noqa: E731
        alnum = lambda n: "".join(self.rng.choices(up + string.digits, k=n))  # noqa: E731
        country, bban = self.rng.choice(
            [
                ("GB", letters(4) + d(14)),
                ("GB", self.rng.choice(["BARC", "LOYD", "NWBK", "HBUK", "MIDL"]) + d(14)),
                ("DE", d(18)),
                ("DE", d(18)),
                ("FR", d(10) + alnum(11) + d(2)),
                ("ES", d(20)),
                ("NL", self.rng.choice(["ABNA", "INGB", "RABO", "SNSB", "TRIO"]) + d(10)),
                ("IT", letters(1) + d(10) + alnum(12)),
                ("BE", d(12)),
                ("IE", letters(4) + d(14)),
                ("PT", d(21)),
                ("AT", d(16)),
                ("CH", d(5) + alnum(12)),
                ("PL", d(24)),
                ("SE", d(20)),
                ("NO", d(11)),
                ("DK", d(14)),
                ("LU", d(3) + alnum(13)),
            ]
        )
        iban = iban_with_check(country, bban)
        if not valid:
            wrong = (int(iban[2:4]) + self.rng.randint(1, 40)) % 97 + 2
            iban = f"{iban[:2]}{wrong:02d}{iban[4:]}"
        if printed is None:
            printed = self.rng.random() < 0.65
        if printed:
            iban = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
        if self.rng.random() < 0.08:
            iban = iban.lower()
        return iban

    # --- national ids ----------------------------------------------------------------------
    def ssn(self, spaced: bool = False) -> str:
        area = self.rng.choice([n for n in range(1, 900) if n != 666])
        sep = " " if spaced else "-"
        group, serial = self.rng.randint(1, 99), self.rng.randint(1, 9999)
        return f"{area:03d}{sep}{group:02d}{sep}{serial:04d}"

    def bad_ssn(self) -> str:
        area, group, serial = self.rng.choice(
            [
                ("000", f"{self.rng.randint(1, 99):02d}", f"{self.rng.randint(1, 9999):04d}"),
                ("666", f"{self.rng.randint(1, 99):02d}", f"{self.rng.randint(1, 9999):04d}"),
                (str(self.rng.randint(900, 999)), "12", f"{self.rng.randint(1, 9999):04d}"),
                (f"{self.rng.randint(1, 665):03d}", "00", f"{self.rng.randint(1, 9999):04d}"),
                (f"{self.rng.randint(1, 665):03d}", "45", "0000"),
            ]
        )
        return f"{area}-{group}-{serial}"

    NINO_FIRST = "ABCEGHJKLMNOPRSTWXYZ"
    NINO_SECOND = "ABCEGHJKLMNPRSTWXYZ"

    def nino(self) -> str:
        while True:
            prefix = self.rng.choice(self.NINO_FIRST) + self.rng.choice(self.NINO_SECOND)
            if prefix not in {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}:
                break
        digits = self.digits(6)
        suffix = self.rng.choice("ABCD")
        if self.rng.random() < 0.5:
            return f"{prefix} {digits[:2]} {digits[2:4]} {digits[4:]} {suffix}"
        value = f"{prefix}{digits}{suffix}"
        return value.lower() if self.rng.random() < 0.1 else value

    def bad_nino(self) -> str:
        prefix = self.rng.choice(["BG", "GB", "NK", "TN", "ZZ", "DA", "FA", "QA", "AO", "AD"])
        digits = self.digits(6)
        return f"{prefix} {digits[:2]} {digits[2:4]} {digits[4:]} {self.rng.choice('ABCD')}"

    def dni(self, valid: bool = True) -> str:
        number = self.rng.randint(10_000_000, 99_999_999)
        letter = DNI_LETTERS[number % 23]
        if not valid:
            letter = DNI_LETTERS[(number + self.rng.randint(1, 22)) % 23]
        style = self.rng.randrange(3)
        if style == 0:
            return f"{number}{letter}"
        if style == 1:
            return f"{number}-{letter}"
        s = str(number)
        return f"{s[:2]}.{s[2:5]}.{s[5:]}-{letter}"

    def nie(self) -> str:
        first = self.rng.choice("XYZ")
        number = self.rng.randint(0, 9_999_999)
        letter = DNI_LETTERS[int(str("XYZ".index(first)) + f"{number:07d}") % 23]
        return (
            f"{first}{number:07d}{letter}"
            if self.rng.random() < 0.6
            else (f"{first}-{number:07d}-{letter}")
        )

    def bsn(self, valid: bool = True) -> str:
        while True:
            digits = self.digits(8, "123456789")
            total = sum(int(c) * w for c, w in zip(digits, range(9, 1, -1), strict=True))
            last = total % 11
            if last < 10:
                break
        if not valid:
            last = (last + self.rng.randint(1, 9)) % 10
        value = digits + str(last)
        return value if self.rng.random() < 0.7 else f"{value[:4]}.{value[4:6]}.{value[6:]}"

    # --- near-misses -----------------------------------------------------------------------
    def order(self) -> str:
        d = self.digits
        return self.rng.choice(
            [
                f"#{d(7, '123456789')}",
                f"ORD-{self.rng.randint(2019, 2025)}-{d(6)}",
                f"{d(9, '123456789')}",
                f"{d(10, '123456789')}",
                f"{d(3, '123456789')}-{d(7)}-{d(7)}",
                f"A{d(8)}",
                f"#{d(4)}-{d(4)}-{d(4)}",
                f"W{d(9)}",
                f"{d(4)} {d(4)} {d(4)} {d(4)}",
            ]
        )

    def tracking(self) -> str:
        d = self.digits
        up = string.ascii_uppercase
        return self.rng.choice(
            [
                f"1Z{''.join(self.rng.choices(up + string.digits, k=6))}{d(10)}",
                f"94{d(2)} {d(4)} {d(4)} {d(4)} {d(4)} {d(2)}",
                f"{''.join(self.rng.choices(up, k=2))}{d(9)}GB",
                f"JD{d(16)}",
                f"{d(12, '7')}",
                f"{d(4, '7')} {d(4)} {d(4)}",
                f"00{d(18)}",
                f"LX{d(9)}DE",
            ]
        )

    def date(self) -> str:
        r = self.rng
        day, month, year = r.randint(1, 28), r.randint(1, 12), r.randint(2019, 2026)
        return r.choice(
            [
                f"{day:02d}/{month:02d}/{year}",
                f"{year}-{month:02d}-{day:02d}",
                f"{day:02d}.{month:02d}.{year}",
                f"{month}/{day}/{year % 100:02d}",
                f"{day} {r.choice(['Jan', 'March', 'June', 'Sept', 'Nov'])} {year}",
                f"{day:02d}-{month:02d}-{year}",
                f"{year}{month:02d}{day:02d}",
            ]
        )

    def time(self) -> str:
        r = self.rng
        return r.choice(
            [
                f"{r.randint(0, 23):02d}:{r.choice(['00', '15', '30', '45'])}",
                f"{r.randint(1, 12)}.{r.choice(['00', '15', '30', '45'])}pm",
                f"{r.randint(6, 11)}am",
                f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}",
                f"{r.randint(0, 23):02d}{r.choice(['00', '30'])} hrs",
            ]
        )

    def amount(self) -> str:
        r = self.rng
        whole = r.choice([r.randint(1, 99), r.randint(100, 9999), r.randint(10_000, 2_500_000)])
        cents = r.randint(0, 99)
        return r.choice(
            [
                f"£{whole:,}.{cents:02d}",
                f"${whole:,}",
                f"€{whole:,}.{cents:02d}".replace(",", "X").replace(".", ",").replace("X", "."),
                f"{whole:,} EUR".replace(",", " "),
                f"USD {whole:,}.{cents:02d}",
                f"{whole}.{cents:02d} GBP",
                f"£{whole}",
            ]
        )

    def reference(self) -> str:
        d, up = self.digits, string.ascii_uppercase
        return self.rng.choice(
            [
                f"REF-{d(5)}-{''.join(self.rng.choices(up, k=2))}",
                f"CS-{self.rng.randint(2019, 2025)}-{d(6)}",
                f"{''.join(self.rng.choices(up, k=6))}",
                f"{''.join(self.rng.choices(up + string.digits, k=6))}",
                f"INC{d(7)}",
                f"{d(8)}",
                f"TKT {d(6)}",
                f"{''.join(self.rng.choices(up, k=3))}{d(6)}",
            ]
        )

    def version(self) -> str:
        r = self.rng
        return r.choice(
            [
                f"v{r.randint(1, 9)}.{r.randint(0, 30)}.{r.randint(0, 99)}",
                f"{r.randint(10, 17)}.{r.randint(0, 9)}.{r.randint(0, 9)}",
                f"10.0.{r.randint(17000, 22631)}.{r.randint(1000, 4000)}",
                f"build {r.randint(2019, 2025)}.{r.randint(1, 12):02d}.{r.randint(1, 28):02d}",
                f"{r.randint(1, 5)}.{r.randint(0, 20)}.{r.randint(0, 9)}-rc{r.randint(1, 5)}",
                f"192.168.{r.randint(0, 10)}.{r.randint(2, 254)}",
            ]
        )

    def flight(self) -> str:
        airline = self.rng.choice(["BA", "LH", "FR", "U2", "AF", "KL", "IB", "UA", "DL", "EK"])
        sep = self.rng.choice(["", " "])
        return f"{airline}{sep}{self.rng.randint(1, 9999)}"

    def postcode(self) -> str:
        return self.rng.choice(
            [
                "SW1A 1AA",
                "EC1A 1BB",
                "M1 1AE",
                "B33 8TH",
                "CR2 6XH",
                "DN55 1PT",
                "90210",
                "10001-2345",
                "75008",
                "1012 AB",
                "D02 X285",
                "28013",
                "10115",
                "00184",
            ]
        )

    def sku(self) -> str:
        d, up = self.digits, string.ascii_uppercase
        return self.rng.choice(
            [
                f"SKU-{d(4)}-{d(2)}",
                f"{''.join(self.rng.choices(up, k=3))}-{d(5)}",
                f"{d(6)}-{d(3)}",
                f"{d(5)}/{d(2)}",
                f"MQ{d(3)}{''.join(self.rng.choices(up, k=2))}/A",
            ]
        )

    def ean(self) -> str:
        body = self.rng.choice(["50", "40", "87", "84", "80", "76"]) + self.digits(10)
        odd = sum(int(c) for c in body[0::2])
        even = sum(int(c) for c in body[1::2])
        return body + str((10 - (odd + 3 * even) % 10) % 10)

    def imei(self) -> str:
        body = self.rng.choice(["35", "86", "01", "99"]) + self.digits(12)
        return body + luhn_check_digit(body)

    def short_number(self) -> str:
        return self.rng.choice(
            ["999", "112", "911", "111", "101", "116 123", "150", "1471", "85075", "62166"]
        )

    def account_number(self) -> str:
        return self.rng.choice(
            [
                f"{self.digits(8)}",
                f"{self.digits(2)}-{self.digits(2)}-{self.digits(2)}",
                f"{self.digits(10)}",
                f"{self.digits(4)} {self.digits(4)}",
            ]
        )


# ---------------------------------------------------------------------------------------------
# Messages. Slots: {email} {phone} {phone_ctx} {card} {iban} {ssn} {nino} {dni} {nie} {bsn}
# mark PII; {order} {tracking} {date} {time} {amount} {ref} {version} {flight} {postcode}
# {sku} {ean} {imei} {short} {acct} {bad_card} {bad_iban} {bad_ssn} {bad_nino} {bad_dni}
# {bad_bsn} {n} are near-misses. {phone_ctx} may be bare digits, so only next to a phone word.

POSITIVE = [
    # banking
    "Hi, I think someone used my card {card} for a purchase of {amount} on {date}. I did not "
    "make it.",
    "Can you block card {card} please, I lost my wallet at the station",
    "the payment with {card} was declined twice today at {time}",
    "my new card ending is not showing in the app, the full number is {card}",
    "I was charged {amount} twice on {card}, order {order}",
    "please refund to the card I paid with: {card}, exp 0{n}/27",
    "Card number {card} expiry 11/28 - why was it declined?",
    "I'd like to set up a standing order to {iban} for {amount} every month",
    "Transfer of {amount} to {iban} hasn't arrived, sent on {date}",
    "My IBAN is {iban}, please send the refund there.",
    "can u check iban {iban} is correct before i send {amount}",
    "Beneficiary: Maria Lopez, IBAN {iban}, reference {ref}",
    "Salary goes into {iban}. Need a statement for {date}.",
    "The account holder is me, IBAN {iban}. BIC is NWBKGB2L.",
    "Hello, I changed bank, the new iban: {iban}",
    "I need to update my direct debit, new account {iban}",
    "For the mortgage application my SSN is {ssn} and DOB {date}",
    "social security number {ssn}, is that enough to verify?",
    "SSN: {ssn}",
    "They asked for my social {ssn} on the phone, is this legit?",
    "My national insurance number is {nino}, please update my pension record",
    "NI number {nino} - the payslip shows the wrong one",
    "Here is my NINO: {nino}",
    "mi DNI es {dni} y quiero cambiar la dirección",
    "DNI {dni}, titular de la cuenta",
    "My Spanish ID (DNI) {dni} was rejected by the form",
    "NIE: {nie}. I'm a resident in Valencia since {date}.",
    "I only have an NIE, {nie}, can I still open an account?",
    "mijn BSN is {bsn}, klopt dat met jullie gegevens?",
    "BSN {bsn} for the tax form please",
    "For the Dutch health insurance they need my burgerservicenummer: {bsn}",
    "citizen service number (BSN): {bsn}",
    # telecom
    "My number {phone} has no signal since {date}",
    "Please port my number {phone} to the new SIM",
    "call me back on {phone} after {time}",
    "You can reach me at {phone} or email {email}",
    "my mobile is {phone_ctx}",
    "The bill for {phone} is {amount}, that's way more than my plan",
    "Can you text the code to {phone} instead?",
    "I keep getting spam calls from {phone}, can you block it?",
    "Landline {phone} is dead, engineer visit ref {ref}",
    "My partner's phone is {phone_ctx}, please add her to the family plan",
    "Tel: {phone}",
    "phone {phone_ctx} - broadband down again",
    "Hi my WhatsApp is {phone}, message me there",
    "please call {phone} between {time} and 6pm",
    "I switched from {phone} to a new number: {phone}",
    "Number to call back: {phone}",
    "the sim with number {phone} was stolen, block it please",
    "contact number {phone_ctx}",
    # retail
    "Order {order} arrived damaged. You can email me at {email}",
    "I never got the confirmation email at {email} for order {order}",
    "please change the email on my account to {email}",
    "my email is {email} and my phone is {phone}",
    "Hello, I ordered {sku} on {date} and tracking {tracking} hasn't moved. {email}",
    "Send the invoice to {email} please, VAT number GB{n}{n}{n}{n}{n}{n}{n}{n}{n}",
    "Can you send the return label to {email}?",
    "I can't log in with {email}, reset password does nothing",
    "{email} is my login, I forgot the password",
    "Refund for order {order} should go back to card {card}",
    "The delivery driver can call {phone} when at {postcode}",
    "Email: {email}\nPhone: {phone}\nOrder: {order}",
    "I bought it with my Amex {card} and want to return it",
    "Gift for my mum, please deliver to {postcode} and text {phone}",
    "I'm {email}, premium member since {date}",
    "wrong email on order {order}, it should be {email}",
    # travel
    "My booking {ref} for flight {flight} on {date}, contact {phone}",
    "Please send the boarding pass to {email}",
    "Passport name is Ana Garcia, phone {phone}, flight {flight} at {time}",
    "I paid the hotel with {card} but I was charged {amount} extra",
    "Can you change the contact email for booking {ref} to {email}?",
    "Arriving {date} on {flight}, my mobile {phone_ctx} in case of delays",
    "Emergency contact: {phone} (my husband)",
    "The taxi should pick me up at {time}, call {phone} if late",
    "Rental car deposit was taken from {card}, please release it",
    "Seat change for {flight}, booking ref {ref}, email {email}",
    # public services / insurance
    "Claim {ref}: my email changed to {email} and phone to {phone}",
    "For the benefit claim my NI number is {nino} and phone {phone}",
    "Policy {ref}, payment from {iban} failed on {date}",
    "I'm writing about my tax return, SSN {ssn}, email {email}",
    "Please use {email} for all correspondence, not the old address",
]

# Several PII in a row, with near-misses between them.
MIXED = [
    "Name: Tom Baker\nEmail: {email}\nMobile: {phone}\nCard: {card}\nOrder: {order}",
    "Details as requested - {email}, {phone}, IBAN {iban}",
    "my ssn {ssn}, my card {card}, my email {email}. please fix this now",
    "Card {card} and the IBAN {iban} are both mine, payment ref {ref}",
    "hi its me again {email} / {phone} about order {order} from {date}",
    "DNI {dni}, móvil {phone}, correo {email}",
    "NIE {nie} / IBAN {iban} / tel {phone}",
    "BSN {bsn}, telefoon {phone}, e-mail {email}",
    "NI: {nino}, tel {phone}, paid {amount} on {date}",
]

NEGATIVE = [
    "Where is my order {order}? It was due on {date}",
    "Tracking number {tracking} says delivered but nothing here",
    "The parcel {tracking} is stuck in customs since {date}",
    "I was charged {amount} instead of {amount}",
    "Invoice {ref} shows {amount}, please explain",
    "My flight {flight} on {date} at {time} was cancelled",
    "Is flight {flight} delayed? It says {time} on the board",
    "The app crashes on version {version}",
    "Updated to {version} and now wifi doesn't work",
    "Router firmware {version}, model {sku}",
    "Deliver to {postcode} please, not the old address",
    "Is there a store near {postcode}?",
    "I want to return item {sku}, order {order}",
    "The barcode on the box is {ean}",
    "IMEI {imei}, phone was stolen on {date}",
    "my IMEI is {imei} can you unlock it",
    "Order number {bad_card} is missing a part",
    "Gift card {bad_card} balance shows {amount}",
    "The reference on the transfer is {bad_card}",
    "Is {bad_iban} a valid IBAN? The app rejects it",
    "The app says the IBAN {bad_iban} is wrong, I copied it from the letter",
    "Account number {acct}, sort code 20-00-00",
    "account {acct} shows a balance of {amount}",
    "I tried {bad_ssn} but the form said invalid SSN",
    "The example on the form is {bad_ssn}",
    "Reference {bad_nino} on the letter",
    "The NI number on the example letter reads {bad_nino}",
    "the DNI on the contract is {bad_dni}, it's a typo",
    "BSN {bad_bsn} wordt niet geaccepteerd, klopt het formaat?",
    "Case {ref} opened {date} {time}",
    "Ticket {ref}: refund of {amount} approved",
    "I called {short} and they told me to contact you",
    "For emergencies dial {short}",
    "Text STOP to {short} to unsubscribe",
    "Your code is {n}{n}{n}{n}{n}{n}",
    "Opening hours are {time} to {time}, Monday to Friday",
    "The meeting is on {date} at {time}",
    "My contract ends {date}, can I upgrade early?",
    "Between {date} and {date} I was abroad, roaming charges {amount}",
    "Room {n}{n}{n}, check-in {date}, {amount} per night",
    "Booking reference {ref}, {n} adults and {n} children",
    "PNR {ref}, flight {flight}, seat {n}{n}A",
    "Loyalty number {order} not showing my points",
    "Order {order} and order {order} were merged",
    "Transaction ID {order} failed at {time}",
    "I paid {amount} on {date} with reference {ref}",
    "Serial number {sku}, bought {date}",
    "The model is {sku} and the serial {ref}",
    "Windows build {version}, Outlook keeps asking for a password",
    "My IP is {version} if that helps",
    "Speed test shows {n}{n}.{n} Mbps down, {n}.{n} up",
    "The data allowance is {n}{n}GB, I used {n}.{n}GB by {date}",
    "Meter reading {acct} taken on {date}",
    "Postcode {postcode}, house number {n}{n}",
    "My loyalty card expired {date}",
    "How much is shipping to {postcode}?",
    "Parcel weight {n}.{n} kg, dimensions {n}{n}x{n}{n}x{n}{n} cm",
    "Customer number {acct}",
    "My order {order} from {date} at {time} for {amount}",
    "The voucher code SAVE{n}{n} didn't work",
    "Promo code SUMMER{n}{n}{n}{n} gives an error",
    "Cancelled subscription {ref} on {date}, still charged {amount}",
]

PLAIN = [
    "Hi, I can't log in to the app, it keeps spinning",
    "Why is my bill higher this month?",
    "I want to speak to a human please",
    "The delivery never came and nobody answered the door",
    "Thank you, that solved it!",
    "can i change my seat for free?",
    "How do I reset my voicemail PIN?",
    "The refund still hasn't arrived",
    "Is there a fee for paying by card?",
    "My internet drops every evening",
    "I'd like to cancel my subscription",
    "Do you deliver on Sundays?",
    "Your chatbot keeps sending me in circles",
    "How can I change the email address on my account?",
    "Please remove my phone number from your marketing list",
    "What is the IBAN format for a transfer to Germany?",
    "I want to report a lost card",
    "ok thanks bye",
    "Can I pay with Apple Pay?",
    "Where do I find my national insurance number?",
]


def fill(template: str, values: Values, rng: random.Random) -> str:
    """Replace each slot with a value; PII slots become ``[[kind|value]]`` markup."""
    pii: dict[str, tuple[str, Callable[[], str]]] = {
        "email": ("email", values.email),
        "phone": ("phone", values.phone),
        "phone_ctx": ("phone", lambda: values.phone(bare_ok=True)),
        "card": ("card", values.card),
        "iban": ("iban", values.iban),
        "ssn": ("national_id", lambda: values.ssn(spaced=rng.random() < 0.15)),
        "nino": ("national_id", values.nino),
        "dni": ("national_id", values.dni),
        "nie": ("national_id", values.nie),
        "bsn": ("national_id", values.bsn),
    }
    other: dict[str, Callable[[], str]] = {
        "order": values.order,
        "tracking": values.tracking,
        "date": values.date,
        "time": values.time,
        "amount": values.amount,
        "ref": values.reference,
        "version": values.version,
        "flight": values.flight,
        "postcode": values.postcode,
        "sku": values.sku,
        "ean": values.ean,
        "imei": values.imei,
        "short": values.short_number,
        "acct": values.account_number,
        "bad_card": values.bad_card,
        "bad_iban": lambda: values.iban(valid=False),
        "bad_ssn": values.bad_ssn,
        "bad_nino": values.bad_nino,
        "bad_dni": lambda: values.dni(valid=False),
        "bad_bsn": lambda: values.bsn(valid=False),
        "n": lambda: str(rng.randint(1, 9)),
    }

    def one(m: re.Match[str]) -> str:
        slot = m.group(1)
        if slot in pii:
            kind, make = pii[slot]
            return f"[[{kind}|{make()}]]"
        return other[slot]()

    return re.sub(r"\{(\w+)\}", one, template)


def _casual(text: str, rng: random.Random) -> str:
    """Chat variety: some messages lower-cased or without the final full stop."""
    if rng.random() < 0.2:
        parts = re.split(r"(\[\[.*?\]\])", text)
        text = "".join(part if part.startswith("[[") else part.lower() for part in parts)
    if rng.random() < 0.3 and text.endswith("."):
        text = text[:-1]
    return text


def build() -> list[dict[str, Any]]:
    rng = random.Random(SEED)
    values = Values(rng)
    cases: list[dict[str, Any]] = []
    plan = [
        ("positive", POSITIVE, 4),
        ("mixed", MIXED, 6),
        ("negative", NEGATIVE, 4),
        ("plain", PLAIN, 1),
    ]
    for tag, templates, repeats in plan:
        for template in templates:
            for _ in range(repeats):
                case = parse_markup(_casual(fill(template, values, rng), rng))
                case["tags"] = [tag]
                cases.append(case)
    return cases


def main() -> None:
    cases = build()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", encoding="utf-8") as out:
        for case in cases:
            out.write(json.dumps(case, ensure_ascii=False) + "\n")
    spans = sum(len(c["spans"]) for c in cases)
    print(f"wrote {len(cases)} cases with {spans} PII spans to {OUT.name}")


if __name__ == "__main__":
    main()
