"""Pure notification arithmetic: signatures, backoff, quiet hours, priorities, routing.

No I/O: everything here takes plain values and returns plain values, so each rule has a table
of hand-checkable cases in ``tests/notify/test_calc.py``.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PRIORITIES = ("P1", "P2", "P3", "P4")
# The webhook's headers: the Unix time of the signature and ``v1=<hex HMAC-SHA256>``.
TIMESTAMP_HEADER = "X-Daytwo-Timestamp"
SIGNATURE_HEADER = "X-Daytwo-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
MIN_SECRET_LENGTH = 24
# A receiver should refuse a signature older than this (a replayed request).
SIGNATURE_TOLERANCE_S = 300
_QUIET = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The webhook signature: ``v1=`` and the hex HMAC-SHA256 of ``<timestamp>.<body>``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def verify(
    secret: str, timestamp: str, signature: str, body: bytes, *, now: float,
    tolerance_s: int = SIGNATURE_TOLERANCE_S,
) -> bool:  # fmt: skip
    """What a receiver checks: the signature matches and its timestamp is recent."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs(now - ts) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, ts, body), signature)


def ack_signature(server_key: bytes, alert_id: int) -> str:
    """The signature of an acknowledgement link: only the server can mint one for an alert."""
    mac = hmac.new(server_key, f"ack:{alert_id}".encode(), hashlib.sha256)
    return mac.hexdigest()[:32]


def ack_link(base_url: str, server_key: bytes, alert_id: int) -> str:
    return f"{base_url.rstrip('/')}/notify/ack/{alert_id}?sig={ack_signature(server_key, alert_id)}"


def backoff(attempts: int, *, base_s: float = 10.0, cap_s: float = 3600.0) -> timedelta:
    """The wait after ``attempts`` failed attempts: 10 s, 20 s, 40 s, ... capped at an hour.

    Deterministic (no jitter) so a retry schedule can be read off the delivery log; the
    outbox spreads retries by their own first-failure times."""
    if attempts < 1:
        return timedelta(0)
    return timedelta(seconds=min(cap_s, base_s * 2 ** (attempts - 1)))


def priority_rank(priority: str) -> int:
    """P1 → 1 ... P4 → 4; an unknown priority ranks last."""
    return PRIORITIES.index(priority) + 1 if priority in PRIORITIES else len(PRIORITIES) + 1


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily window in a time zone during which only P1 alerts are sent."""

    start: time
    end: time
    zone: ZoneInfo

    def contains(self, at: datetime) -> bool:
        local = at.astimezone(self.zone).time()
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end  # spans midnight

    def ends_after(self, at: datetime) -> datetime:
        """The first instant at or after ``at`` outside the window."""
        if not self.contains(at):
            return at
        local = at.astimezone(self.zone)
        end = local.replace(hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0)
        if end <= local:
            end += timedelta(days=1)
        return end.astimezone(at.tzinfo)


def parse_quiet_hours(text: str, zone: str) -> QuietHours:
    """``22:00-07:00`` in ``Europe/Lisbon``; a ValueError that says what is wrong otherwise."""
    match = _QUIET.match(text.strip())
    if match is None:
        raise ValueError(f"quiet hours look like 22:00-07:00 (24-hour HH:MM-HH:MM), not {text!r}")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if (h1, m1) == (h2, m2):
        raise ValueError(f"quiet hours {text!r} start and end at the same minute")
    return QuietHours(time(h1, m1), time(h2, m2), parse_zone(zone))


def parse_zone(zone: str) -> ZoneInfo:
    try:
        return ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {zone!r} (an IANA name such as Europe/Lisbon)"
        ) from None


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """A route's conditions; None (or an empty list) matches anything."""

    deployment: str | None
    owner: str | None
    event_kinds: tuple[str, ...]
    max_priority: str
    journey: str | None
    finding_kind: str | None


@dataclass(frozen=True, slots=True)
class AlertFacts:
    """What routing looks at in an alert event."""

    deployment: str
    owner: str | None
    event: str
    priority: str
    journey: str | None
    finding_kind: str | None


def route_matches(route: RouteMatch, facts: AlertFacts) -> bool:
    """Every condition the route sets holds for the event."""
    return (
        (route.deployment is None or route.deployment == facts.deployment)
        and (route.owner is None or route.owner == facts.owner)
        and (not route.event_kinds or facts.event in route.event_kinds)
        and priority_rank(facts.priority) <= priority_rank(route.max_priority)
        and (route.journey is None or route.journey == facts.journey)
        and (route.finding_kind is None or route.finding_kind == facts.finding_kind)
    )


# -- SLA clocks --------------------------------------------------------------------------------

# An SLA clock is at risk when this share of its length is left.
SLA_WARN_SHARE = 0.25
SlaStage = Literal["on_track", "at_risk", "breached"]


def sla_stage(*, due: datetime, length: timedelta, now: datetime) -> SlaStage:
    """Where an open SLA clock of ``length`` ending at ``due`` stands at ``now``."""
    if now > due:
        return "breached"
    if due - now <= length * SLA_WARN_SHARE:
        return "at_risk"
    return "on_track"


# -- feed silence ------------------------------------------------------------------------------

# A feed is silent when no arrival in the time since the last one had a chance under this
# (Poisson, at the hour's usual rate): one false alarm in ten thousand silent spells judged.
SILENCE_ALPHA = 1e-4
SILENCE_MIN_HISTORY_DAYS = 7
SILENCE_HISTORY_DAYS = 28
# The usual rate of an hour of the day: a low quantile of that hour's counts over the history,
# so quiet days (weekends, holidays) do not make their silence look abnormal.
SILENCE_QUANTILE = 0.2


def usual_hourly(
    counts_by_day: Sequence[Sequence[int]], quantile: float = SILENCE_QUANTILE
) -> list[float]:
    """The usual arrivals of each UTC hour of the day (24 values) from complete days of
    hourly counts (one row of 24 per day, zeros included)."""
    usual = []
    for hour in range(24):
        values = sorted(day[hour] for day in counts_by_day)
        if not values:
            usual.append(0.0)
            continue
        pos = quantile * (len(values) - 1)  # linear interpolation, as numpy's default
        low = int(pos)
        high = min(low + 1, len(values) - 1)
        usual.append(values[low] + (values[high] - values[low]) * (pos - low))
    return usual


def expected_arrivals(usual: Sequence[float], start: datetime, end: datetime) -> float:
    """Arrivals the usual hourly rates (by UTC hour) promise between ``start`` and ``end``."""
    total = 0.0
    at = start
    while at < end:
        next_hour = at.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        upto = min(next_hour, end)
        total += usual[at.astimezone(UTC).hour] * (upto - at).total_seconds() / 3600
        at = upto
    return total


def silence_probability(expected: float) -> float:
    """The chance of no arrival at all when ``expected`` were due (Poisson)."""
    return math.exp(-expected)


def is_silent(expected: float, alpha: float = SILENCE_ALPHA) -> bool:
    return silence_probability(expected) < alpha


# -- digests -----------------------------------------------------------------------------------

DIGEST_HOUR = 8  # local time of the digest; weekly digests go out on Mondays


def digest_slot(period: str, zone: str, now: datetime) -> datetime:
    """The latest digest time at or before ``now`` for a ``daily`` or ``weekly`` digest in
    the time zone ``zone``."""
    local = now.astimezone(parse_zone(zone))
    slot = local.replace(hour=DIGEST_HOUR, minute=0, second=0, microsecond=0)
    if slot > local:
        slot -= timedelta(days=1)
    if period == "weekly":
        slot -= timedelta(days=slot.weekday())  # back to Monday
    return slot.astimezone(UTC)


# -- fast checks on live traffic ---------------------------------------------------------------

# Each signal is judged every minute per deployment: about one false alarm in 2 years of calm
# minutes per signal when the model holds; the material rise each also needs keeps ordinary
# overdispersion (a slow hour, a burst of one user's retries) from reaching that tail.
SPIKE_ALPHA = 1e-6
SPIKE_RECOVERED_P = 0.01  # back to normal when the window is not even mildly off its usual level
SPIKE_MIN_SHARE_RISE = 0.05  # a share (errors, fallbacks) at least 5 points above the usual
SPIKE_MIN_WINDOW = 20  # conversations (or answers, for latency) in the window before it is judged
SPIKE_MIN_BASELINE = 200  # conversations behind the usual share
LATENCY_QUANTILE = 0.95
LATENCY_MIN_RISE = 1.5  # the window's p95 at least 1.5 times the usual p95
VOLUME_MIN_FACTOR = 2.0  # a surge at least doubles the usual count; a drop at least halves it
VOLUME_MIN_BUCKETS = 48  # 5-minute counts behind the usual volume (two days of the same hours)


def excess_p(errors: int, n: int, usual: float, rho: float = 0.0) -> float:
    """The chance of ``errors`` or more among ``n`` conversations at the ``usual`` share:
    binomial upper tail, or beta-binomial when the share itself varies from hour to hour
    (``rho``: the intra-hour correlation, :func:`overdispersion`)."""
    from scipy.stats import betabinom, binom

    if errors <= 0:
        return 1.0
    p = min(max(usual, 1e-4), 1 - 1e-9)
    if rho <= 0:
        return float(binom.sf(errors - 1, n, p))
    scale = 1 / rho - 1
    return float(betabinom.sf(errors - 1, n, p * scale, (1 - p) * scale))


def overdispersion(groups: Sequence[tuple[int, int]]) -> float:
    """How much a share varies between groups (hours) beyond what their sizes explain: the
    moment estimate of the beta-binomial's intra-group correlation from ``(n, count)`` per
    group, 0 when the shares vary no more than binomial chance makes them (capped at 0.5)."""
    sizes = [n for n, _ in groups if n > 0]
    if len(sizes) < 2:
        return 0.0
    total = sum(sizes)
    p = sum(k for n, k in groups if n > 0) / total
    if p <= 0 or p >= 1:
        return 0.0
    spread = sum(n * (k / n - p) ** 2 for n, k in groups if n > 0) / (len(sizes) - 1)
    # The effective group size of unequal groups (as in a one-way ANOVA).
    n0 = (total - sum(n * n for n in sizes) / total) / (len(sizes) - 1)
    if n0 <= 1:
        return 0.0
    rho = (spread / (p * (1 - p)) - 1) / (n0 - 1)
    return min(max(rho, 0.0), 0.5)


def is_spike(errors: int, n: int, usual: float, rho: float = 0.0) -> bool:
    """A share spike (errors, fallbacks): enough conversations, a rise that matters, and one
    chance could not explain, given how much the share usually varies between hours."""
    return (
        n >= SPIKE_MIN_WINDOW
        and errors / n >= usual + SPIKE_MIN_SHARE_RISE
        and excess_p(errors, n, usual, rho) < SPIKE_ALPHA
    )


def latency_p(slow: int, answers: int) -> float:
    """The chance of ``slow`` or more of ``answers`` answers above the usual p95 when each has
    the usual 5% chance of it."""
    return excess_p(slow, answers, 1 - LATENCY_QUANTILE)


def is_latency_spike(slow: int, answers: int, p95: float, usual_p95: float) -> bool:
    """A latency spike: enough answers, a p95 at least :data:`LATENCY_MIN_RISE` times the
    usual one, and far more answers above the usual p95 than its 5% (binomial)."""
    return (
        answers >= SPIKE_MIN_WINDOW
        and usual_p95 > 0
        and p95 >= usual_p95 * LATENCY_MIN_RISE
        and latency_p(slow, answers) < SPIKE_ALPHA
    )


def volume_tails(count: int, mean: float, var: float) -> tuple[float, float]:
    """(chance of ``count`` or fewer, chance of ``count`` or more) for a 5-minute count whose
    usual counts have ``mean`` and ``var``: negative binomial when they vary more than a
    Poisson count would (they usually do: traffic comes in bursts), Poisson otherwise."""
    from scipy.stats import nbinom, poisson

    mean = max(mean, 1e-9)
    if var > mean * 1.000001:
        r = mean * mean / (var - mean)
        p = r / (r + mean)
        low, high = nbinom.cdf(count, r, p), nbinom.sf(count - 1, r, p)
    else:
        low, high = poisson.cdf(count, mean), poisson.sf(count - 1, mean)
    return float(low), float(min(1.0, high))


VolumeShift = Literal["drop", "surge"]


def volume_shift(count: int, mean: float, var: float, buckets: int) -> VolumeShift | None:
    """A drop (fewer than half the usual count, yet not none: a silent feed is its own check)
    or a surge (over twice it) that the usual counts' spread could not explain; None
    otherwise or when fewer than :data:`VOLUME_MIN_BUCKETS` counts say what is usual."""
    if buckets < VOLUME_MIN_BUCKETS or mean <= 0:
        return None
    low, high = volume_tails(count, mean, var)
    if 0 < count <= mean / VOLUME_MIN_FACTOR and low < SPIKE_ALPHA:
        return "drop"
    if count >= mean * VOLUME_MIN_FACTOR and count >= SPIKE_MIN_WINDOW and high < SPIKE_ALPHA:
        return "surge"
    return None


# -- what a continuing alarm records -----------------------------------------------------------

LIVE_REFRESH = timedelta(minutes=15)  # a continuing alarm's finding is rewritten at most this often
LIVE_CHANGE = 0.5  # unless its value moved by half of what was recorded, or its severity changed


def worth_recording(
    *, recorded_value: float | None, recorded_severity: int, recorded_at: datetime,
    value: float | None, severity: int, now: datetime,
) -> bool:  # fmt: skip
    """Whether a fast check's finding that is still open is rewritten this minute: when its
    severity changed, when its value moved by :data:`LIVE_CHANGE` of the recorded one or
    more (a share from 10% to 15%, a p95 from 2 s to 3 s, a count from 40 to 20), else once
    :data:`LIVE_REFRESH` has passed since it was last written. A continuing alarm otherwise
    changes nothing worth a new version of its finding, its item or its times seen."""
    if severity != recorded_severity or now - recorded_at >= LIVE_REFRESH:
        return True
    if value is None or recorded_value is None:
        return value != recorded_value
    return abs(value - recorded_value) >= LIVE_CHANGE * max(abs(recorded_value), 1e-9)
