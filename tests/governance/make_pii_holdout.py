"""Write ``data/pii_cases_holdout.jsonl``: a second labelled PII set, made differently.

The development set (``make_pii_cases.py``) was written together with the detectors: its
values come from the same generator that knows each format's rules. This set is made so that
the figure measured on it is not tuned:

* the values come from an independent library (Faker, several locales), formatted the way
  people type them; nothing here knows what the detectors accept;
* the messages are a different, separately written set of support-chat turns (insurance,
  utilities, healthcare admin, e-commerce, HR), with their own near-misses: tracking ids,
  invoice and policy numbers, timestamps, IP addresses, ISBNs, last-four digits, gift cards
  that fail Luhn, amounts, postcodes;
* the gold spans say what a human reviewer would call PII, checked or not (a national
  insurance number with a prefix HMRC never issues is still someone's attempt at one).

Deterministic: ``python -m tests.governance.make_pii_holdout``. Same line format as the
development set: ``{"text", "spans": [{"start", "end", "kind"}], "tags"}``.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from faker import Faker

from tests.governance.make_pii_cases import parse_markup

OUT = Path(__file__).resolve().parent / "data" / "pii_cases_holdout.jsonl"
SEED = 90210
PHONE_LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "nl_NL", "it_IT", "en_IE")
IBAN_LOCALES = ("en_GB", "de_DE", "fr_FR", "es_ES", "nl_NL", "it_IT", "en_IE")


class Source:
    """Values from Faker (one seeded instance per locale), typed the way customers type."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.fakers: dict[str, Faker] = {}
        for n, locale in enumerate(sorted({*PHONE_LOCALES, *IBAN_LOCALES, "es_ES"})):
            fake = Faker(locale)
            fake.seed_instance(SEED + n)
            self.fakers[locale] = fake
        self.us = self.fakers["en_US"]

    def _locale(self, choices: tuple[str, ...]) -> Faker:
        return self.fakers[self.rng.choice(choices)]

    def email(self) -> str:
        fake = self._locale(("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "nl_NL"))
        kind = self.rng.random()
        if kind < 0.5:
            return str(fake.email())
        if kind < 0.8:
            return str(fake.free_email())
        return str(fake.company_email())

    def phone(self) -> str:
        return str(self._locale(PHONE_LOCALES).phone_number())

    def card(self) -> str:
        number = str(self.us.credit_card_number())
        style = self.rng.random()
        if style < 0.45:
            return number
        sep = " " if style < 0.85 else "-"
        if len(number) == 15:  # Amex is typed 4-6-5
            return sep.join([number[:4], number[4:10], number[10:]])
        return sep.join(number[i : i + 4] for i in range(0, len(number), 4))

    def iban(self) -> str:
        iban = str(self._locale(IBAN_LOCALES).iban())
        if self.rng.random() < 0.5:
            return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
        return iban

    def national_id(self) -> str:
        which = self.rng.random()
        if which < 0.4:
            return str(self.us.ssn())
        if which < 0.6:
            return str(self.fakers["en_GB"].ssn())  # national insurance number
        if which < 0.75:
            return str(self.fakers["nl_NL"].ssn())  # BSN
        if which < 0.9:
            return str(self.fakers["es_ES"].nif())  # DNI
        return str(self.fakers["es_ES"].nie())

    # --- near-misses -----------------------------------------------------------------------
    def tracking(self) -> str:
        return self.rng.choice(
            [
                self.us.bothify("1Z###?##########").upper(),  # UPS
                self.us.numerify("9400 1000 0000 #### #### ##"),  # USPS
                self.us.bothify("??#########GB").upper(),  # Royal Mail
                self.us.numerify("JJD00########"),  # DHL
                self.us.numerify("############"),  # FedEx, 12 digits
            ]
        )

    def order(self) -> str:
        return self.rng.choice(
            [
                self.us.numerify("#########"),
                self.us.numerify("##########"),
                self.us.numerify("ORD-#######"),
                self.us.numerify("#-####-####"),
                self.us.numerify("###-#######-#######"),  # marketplace style
            ]
        )

    def invoice(self) -> str:
        return self.rng.choice(
            [
                self.us.numerify("INV-2026-#####"),
                self.us.numerify("#########"),
                self.us.numerify("POL/####/###"),
                self.us.bothify("??-######").upper(),
            ]
        )

    def when(self) -> str:
        moment = self.us.date_time_between(start_date="-2y", end_date="now")
        fmt = self.rng.choice(
            ["%d/%m/%Y", "%Y-%m-%d", "%m/%d/%y", "%d.%m.%Y", "%d %b %Y", "%Y-%m-%d %H:%M:%S"]
        )
        return str(moment.strftime(fmt))

    def timestamp(self) -> str:
        return str(int(self.us.unix_time()))

    def amount(self) -> str:
        value = self.rng.uniform(3, 4000)
        return self.rng.choice([f"${value:,.2f}", f"£{value:.2f}", f"{value:.2f} EUR"])

    def gift_card(self) -> str:
        # Sixteen digits that fail the Luhn check: not a payment card.
        while True:
            digits = self.us.numerify("################")
            total = 0
            for i, ch in enumerate(reversed(digits)):
                d = int(ch) * (2 if i % 2 else 1)
                total += d - 9 if d > 9 else d
            if total % 10:
                return " ".join(digits[i : i + 4] for i in range(0, 16, 4))

    def last_four(self) -> str:
        return self.us.numerify("####")

    def isbn(self) -> str:
        return str(self.us.isbn13())

    def ip(self) -> str:
        return str(self.us.ipv4())

    def postcode(self) -> str:
        return str(self._locale(("en_US", "en_GB", "de_DE", "nl_NL")).postcode())

    def account_ref(self) -> str:
        return self.us.numerify("CUST-########")

    def meter(self) -> str:
        return self.us.numerify("## ### ### ###")


# Messages, written for this set. {email} {phone} {card} {iban} {nid} are PII; the rest are
# near-misses that must stay.
POSITIVE = [
    "hello, my claim form bounced because the email {email} was wrong?",
    "Please update contact details: phone {phone}",
    "i got a text from {phone} claiming to be you, is it a scam",
    "the direct debit should come out of {iban} from next month",
    "Refund please to the card {card}, thank you",
    "I've been on hold for ages. Call me: {phone}",
    "my employer needs my social security no. {nid} for payroll",
    "can you confirm you have {email} as my address for statements",
    "Hi - I paid invoice {invoice} with card {card} but it still shows unpaid",
    "Pay the rebate into account {iban} please",
    "the login email is {email}, not the one on file",
    "He asked me to read out my card number ({card}) over chat, is that ok??",
    "Patient contact: {phone}, email {email}",
    "Our accounts team is at {email} - please send the credit note there",
    "HR needs my ID number {nid} before {when}",
    "Wrong phone on my profile. Correct one: {phone}",
    "I want the payout sent to IBAN: {iban}",
    "card {card} exp 09/29, charged {amount} twice",
    "My new mobile number is {phone}, the old one is disconnected",
    "please do NOT email {email} anymore, it's my ex-wife's",
    "sent {amount} from {iban} on {when}, where is it",
    "for verification: {nid}",
    "Tracking {tracking} shows delivered. Can you call me on {phone}?",
    "It's {email} — I can't receive the reset link",
    "the meter at my flat is {meter}, bill it to card {card}",
    "Please charge the deductible to {card} and email the receipt to {email}",
    "My landline: {phone}. Mobile: {phone}.",
    "Policy {invoice}: please use {iban} for the claim payment",
    "identity number {nid}, date of birth {when}",
    "Reach the office manager on {phone} or at {email}",
]

NEGATIVE = [
    "Package {tracking} has not moved since {when}",
    "order {order} shows as cancelled but I was charged {amount}",
    "invoice {invoice} is for {amount}, I expected less",
    "The gift card {gift} doesn't work at checkout",
    "I paid with the card ending {last4} on {when}",
    "Card ending in {last4} was declined for {amount}",
    "your site gives error at {ts}, request id {order}",
    "Router admin page at {ip} won't load",
    "I'm looking for the book with ISBN {isbn}",
    "Customer ref {acct}, moving house on {when}",
    "New address postcode {postcode} from {when}",
    "Meter number {meter}, reading taken {when}",
    "Policy number {invoice} renewal price went up to {amount}",
    "Shipment {tracking} and shipment {tracking} were split, why?",
    "The app logged me out at {when} and order {order} vanished",
    "My ticket number is {order}. It was opened on {when}",
    "Please cancel order {order} and order {order}",
    "Quote {invoice} says {amount} but checkout says {amount}",
    "device id {ts}{last4} keeps disconnecting",
    "voucher {gift} expired on {when}?",
    "Our office is in {postcode}, delivery window {when}",
    "the confirmation code was {last4}",
    "Claim {invoice} was closed on {when} without a reply",
    "I've been a customer since {when}, account {acct}",
    "Return label for {order} please, tracking {tracking}",
    "Connection drops every night from {ip}",
]


def fill(template: str, source: Source) -> str:
    pii: dict[str, tuple[str, Callable[[], str]]] = {
        "email": ("email", source.email),
        "phone": ("phone", source.phone),
        "card": ("card", source.card),
        "iban": ("iban", source.iban),
        "nid": ("national_id", source.national_id),
    }
    other: dict[str, Callable[[], str]] = {
        "tracking": source.tracking,
        "order": source.order,
        "invoice": source.invoice,
        "when": source.when,
        "ts": source.timestamp,
        "amount": source.amount,
        "gift": source.gift_card,
        "last4": source.last_four,
        "isbn": source.isbn,
        "ip": source.ip,
        "postcode": source.postcode,
        "acct": source.account_ref,
        "meter": source.meter,
    }

    def one(m: re.Match[str]) -> str:
        slot = m.group(1)
        if slot in pii:
            kind, make = pii[slot]
            return f"[[{kind}|{make()}]]"
        return other[slot]()

    return re.sub(r"\{(\w+)\}", one, template)


def build() -> list[dict[str, Any]]:
    rng = random.Random(SEED)
    source = Source(rng)
    cases: list[dict[str, Any]] = []
    for tag, templates, repeats in (("positive", POSITIVE, 12), ("negative", NEGATIVE, 8)):
        for template in templates:
            for _ in range(repeats):
                case = parse_markup(fill(template, source))
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
