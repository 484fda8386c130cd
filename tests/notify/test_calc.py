"""Hand-checkable cases of the pure notification rules."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from daytwo.notify.calc import (
    AlertFacts,
    RouteMatch,
    ack_signature,
    backoff,
    parse_quiet_hours,
    route_matches,
    sign,
    verify,
)
from daytwo.notify.schemas import EVENT_KINDS, AlertPayload


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    body = b'{"event":"test"}'
    expected = hmac.new(b"k" * 24, b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign("k" * 24, 1700000000, body) == f"v1={expected}"


@pytest.mark.parametrize(
    ("secret", "ts", "body", "now", "ok"),
    [
        ("k" * 24, "1700000000", b"{}", 1700000010, True),
        ("x" * 24, "1700000000", b"{}", 1700000010, False),  # another secret
        ("k" * 24, "1700000000", b"{ }", 1700000010, False),  # body changed
        ("k" * 24, "1700000000", b"{}", 1700000400, False),  # replayed after 5 minutes
        ("k" * 24, "soon", b"{}", 1700000010, False),  # not a timestamp
    ],
)
def test_verify(secret: str, ts: str, body: bytes, now: float, ok: bool) -> None:
    signature = sign("k" * 24, 1700000000, b"{}")
    assert verify(secret, ts, signature, body, now=now) is ok


@pytest.mark.parametrize(
    ("attempts", "seconds"), [(0, 0), (1, 10), (2, 20), (3, 40), (8, 1280), (9, 2560), (20, 3600)]
)
def test_backoff_doubles_up_to_an_hour(attempts: int, seconds: float) -> None:
    assert backoff(attempts) == timedelta(seconds=seconds)


def test_quiet_hours_span_midnight_in_the_owners_zone() -> None:
    quiet = parse_quiet_hours("22:00-07:00", "Europe/Lisbon")  # UTC+0 in winter
    assert quiet.contains(datetime(2026, 12, 5, 23, 30, tzinfo=UTC))
    assert quiet.contains(datetime(2026, 12, 5, 6, 59, tzinfo=UTC))
    assert not quiet.contains(datetime(2026, 12, 5, 7, 0, tzinfo=UTC))
    at = datetime(2026, 12, 5, 23, 30, tzinfo=UTC)
    assert quiet.ends_after(at) == datetime(2026, 12, 6, 7, 0, tzinfo=UTC)
    noon = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    assert quiet.ends_after(noon) == noon
    summer = parse_quiet_hours("22:00-07:00", "Europe/Lisbon")  # UTC+1 in July
    assert summer.contains(datetime(2026, 7, 1, 21, 30, tzinfo=UTC))


def test_quiet_hours_same_day_window_in_another_zone() -> None:
    quiet = parse_quiet_hours("12:00-13:30", "America/New_York")
    assert quiet.contains(datetime(2026, 12, 5, 17, 0, tzinfo=UTC))  # 12:00 EST
    assert not quiet.contains(datetime(2026, 12, 5, 18, 30, tzinfo=UTC))


@pytest.mark.parametrize(
    ("text", "zone", "message"),
    [
        ("22-07", "UTC", "look like 22:00-07:00"),
        ("25:00-07:00", "UTC", "look like"),
        ("07:00-07:00", "UTC", "same minute"),
        ("22:00-07:00", "Mars/Olympus", "unknown time zone"),
    ],
)
def test_bad_quiet_hours_are_refused(text: str, zone: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_quiet_hours(text, zone)


FACTS = AlertFacts("care-bot", "ana", "problem.new", "P2", "card_lost", "slo_breach")


@pytest.mark.parametrize(
    ("route", "matches"),
    [
        (RouteMatch(None, None, (), "P4", None, None), True),
        (RouteMatch("care-bot", "ana", ("problem.new",), "P2", "card_lost", "slo_breach"), True),
        (RouteMatch("other-bot", None, (), "P4", None, None), False),
        (RouteMatch(None, "bo", (), "P4", None, None), False),
        (RouteMatch(None, None, ("alert.escalated",), "P4", None, None), False),
        (RouteMatch(None, None, (), "P1", None, None), False),  # P2 is less urgent than P1
        (RouteMatch(None, None, (), "P3", "billing", None), False),
        (RouteMatch(None, None, (), "P3", None, "drift"), False),
    ],
)
def test_route_matches(route: RouteMatch, matches: bool) -> None:
    assert route_matches(route, FACTS) is matches


def test_ack_signature_depends_on_key_and_alert() -> None:
    assert ack_signature(b"a", 1) != ack_signature(b"a", 2)
    assert ack_signature(b"a", 1) != ack_signature(b"b", 1)
    assert ack_signature(b"a", 1) == ack_signature(b"a", 1)


def test_the_documented_payload_schema_is_the_code_s() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "notify.md").read_text()
    block = re.search(r"```json\n(.*?)\n```", text, re.S)
    assert block is not None
    assert json.loads(block.group(1)) == AlertPayload.model_json_schema(by_alias=True)
    for kind in EVENT_KINDS:
        assert f"| `{kind}` |" in text, f"event {kind} is not documented"
