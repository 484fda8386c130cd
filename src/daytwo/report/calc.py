"""Business value and ROI of a deployment over a period: pure arithmetic, every input named.

Value is what the AI saved against the human path, less what it cost:

- contained conversations avoid a human-handled contact (``human_contact`` in the cost model,
  else ``escalation``: what the deployment declares a hand-over to a person costs);
- agent assist saves handle time: conversations where the AI was used against the like-for-like
  conversations where it was not (the same stratum: journey, channel, tenure), priced per
  ``agent_minute``; the interval is the strata's normal interval, summed;
- escalations avoided against the baseline's escalation rate are shown, never added: each of
  them is a contained conversation already counted above; the interval is the baseline
  rate's sampling error over the period's volume (the period's own escalations are counted).
  The baseline rate is each journey's own, pooled over its days before anything changed it,
  held at the baseline window's journey mix (:func:`pooled_escalation_baseline`);
- the AI cost is the model cost the turns report, else ``ai_per_interaction`` per
  conversation; a platform or licence fee per conversation (``ai_fee_per_interaction``) is
  added to either, since the turns report only what the model calls cost;
- the running investment of the period is a cost; the one-off investment is paid back.

Every figure carries the assumptions it rests on, so a sponsor can read what it claims.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

Z95 = 1.959963984540054


class CostModelError(ValueError):
    """A cost model that cannot price value: no currency, a negative or non-finite cost."""


@dataclass(frozen=True, slots=True)
class CostModel:
    """The deployment's prices in one currency, with its investment."""

    currency: str
    costs: Mapping[str, float]
    one_off_investment: float = 0.0
    running_per_month: float = 0.0

    def __post_init__(self) -> None:
        if not self.currency or len(self.currency) != 3 or not self.currency.isalpha():
            raise CostModelError(
                f"cost model: currency {self.currency!r} is not a three-letter ISO 4217 code"
            )
        named = {
            **self.costs,
            "one_off_investment": self.one_off_investment,
            "running_per_month": self.running_per_month,
        }
        for key, value in named.items():
            if not math.isfinite(value) or value < 0:
                raise CostModelError(f"cost model: {key} = {value!r} must be a cost of 0 or more")

    def price(self, *keys: str) -> tuple[float, str] | None:
        """The first of ``keys`` the model prices, and which it was."""
        for key in keys:
            if key in self.costs:
                return float(self.costs[key]), key
        return None


@dataclass(frozen=True, slots=True)
class Stratum:
    """Handle times of one like-for-like group (journey, channel, tenure): with and without AI."""

    n_ai: int
    mean_ai_s: float
    sd_ai_s: float
    n_without: int
    mean_without_s: float
    sd_without_s: float


@dataclass(frozen=True, slots=True)
class PeriodCounts:
    """What the metrics say about one period of one deployment."""

    days: float
    conversations: int
    contained: int
    escalation_rate: float | None = None
    baseline_escalation_rate: float | None = None
    baseline_escalation_n: int | None = None  # conversations the baseline rate was measured on
    baseline_escalation_basis: str = ""  # what the baseline rate was measured on, in words
    # The baseline rate's standard error where it is not a plain proportion of
    # ``baseline_escalation_n`` (a rate pooled by journey has its own).
    baseline_escalation_se: float | None = None
    # The baseline window's own rate (what the KPI tables show as the baseline) where the
    # baseline rate above is an estimate of the same figure on more days.
    baseline_window_escalation_rate: float | None = None
    ai_cost_reported: float | None = None  # the turns' summed cost, where they report one
    strata: Sequence[Stratum] = ()


@dataclass(frozen=True, slots=True)
class Figure:
    """One value line: the amount, its interval where estimated, and what it rests on."""

    id: str
    name: str
    amount: float
    lo: float | None = None
    hi: float | None = None
    quantity: float | None = None
    unit: str = ""
    in_total: bool = True
    assumptions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ValueResult:
    """Net value and ROI of a period; ``missing`` says plainly what could not be priced."""

    currency: str
    figures: tuple[Figure, ...]
    gross: float
    costs: float
    net: float
    roi: float | None
    missing: tuple[str, ...] = field(default=())

    def figure(self, figure_id: str) -> Figure:
        return next(f for f in self.figures if f.id == figure_id)


def agent_time_saved(strata: Sequence[Stratum]) -> tuple[float, float, float] | None:
    """Agent minutes saved (estimate, lo, hi): per stratum, AI conversations times the handle
    time the like-for-like conversations without AI took more; None without any comparable
    stratum."""
    saved_s = 0.0
    var = 0.0
    usable = False
    for s in strata:
        if s.n_ai <= 0 or s.n_without < 2:
            continue
        usable = True
        saved_s += s.n_ai * (s.mean_without_s - s.mean_ai_s)
        var += s.n_ai**2 * (s.sd_without_s**2 / s.n_without + s.sd_ai_s**2 / max(s.n_ai, 1))
    if not usable:
        return None
    half = Z95 * math.sqrt(var)
    return saved_s / 60, (saved_s - half) / 60, (saved_s + half) / 60


# A journey's escalation rate is taken to have moved (and its baseline cut there) when the
# split of its days that best separates two rates does so by more than this many standard
# errors: the best of many splits exceeds 1.96 far more often than 5%; at 3, a journey whose
# rate never moved was cut in 2.0% to 4.4% of 2,000 draws (30 to 80 days, 100 or 300
# conversations a day, a 14-day window), and in 2.6% to 5.6% of 1,000 draws with the 7 days
# before the window searched too (30 to 90 days). A cut that was not needed costs days,
# never bias.
MOVED_Z = 3.0


@dataclass(frozen=True, slots=True)
class JourneyDays:
    """One journey's conversations with an outcome and their escalations, day by day from the
    first day the baseline may draw on (go-live: the window's own first day is
    ``window_start`` days later); ``unchanged_days``: the days before the first change at or
    after the window's start that touched the journey (a change scoped to it, or to the whole
    deployment); ``first_day``: the day after the last change before the window's start (0:
    none), where its pooled days may begin at the earliest."""

    journey: str
    conversations: Sequence[int]
    escalations: Sequence[int]
    unchanged_days: int
    first_day: int = 0


@dataclass(frozen=True, slots=True)
class EscalationBaseline:
    """The baseline escalation rate pooled by journey, its standard error and what it rests on.
    Days count from the first day the baseline may draw on (see :class:`JourneyDays`)."""

    rate: float
    se: float
    conversations: int  # pooled over all journeys
    days: Mapping[str, int]  # the day each journey's pooled days end (exclusive)
    moved: tuple[str, ...]  # journeys cut where their rate moved before any change did
    mix_days: int  # the day the journey mix (the weights) is measured to (exclusive)
    first_days: Mapping[str, int] = field(default_factory=dict)  # where each journey's begin
    mix_first_day: int = 0  # the first day the journey mix is measured on


def _moved_at(
    conv: Sequence[int], esc: Sequence[int], begin: int, end: int, splits: Sequence[int]
) -> int | None:
    """The day among ``splits`` that best splits days [``begin``, ``end``) into two rates, if
    they differ by more than :data:`MOVED_Z` standard errors."""
    n_all, e_all = sum(conv[begin:end]), sum(esc[begin:end])
    if n_all == 0 or e_all in (0, n_all):
        return None
    p = e_all / n_all
    best, at = MOVED_Z, None
    for day in splits:
        n1, e1 = sum(conv[begin:day]), sum(esc[begin:day])
        n2, e2 = n_all - n1, e_all - e1
        if n1 and n2:
            z = abs(e1 / n1 - e2 / n2) / math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
            if z > best:
                best, at = z, day
    return at


def pooled_escalation_baseline(
    journeys: Sequence[JourneyDays], window_days: int, window_start: int = 0
) -> EscalationBaseline | None:
    """The baseline escalation rate measured on more of the unchanged history than the window.

    The window is days [``window_start``, ``window_start + window_days``). Each journey's rate
    is pooled over the window, the days before it back to go-live (or the last change before
    it) and the days after it until the first change that touched the journey, less any
    stretch where its rate moved: the best split of its days outside the window, cut again
    until none stands out (a split before the window drops the days before it, one after the
    window the days after it). The rates are weighted by the journey mix of the days every
    journey was pooled over (the window at least), so the rate estimates the window's own
    deployment-wide rate, with the sampling error of far more conversations. The standard
    error adds each journey's rate error and the mix's. None without a conversation in the
    window.
    """
    w0, w1 = window_start, window_start + window_days
    if not any(sum(j.conversations[w0:w1]) for j in journeys):
        return None
    begins: dict[str, int] = {}
    ends: dict[str, int] = {}
    moved: list[str] = []
    for j in journeys:
        span = len(j.conversations)
        begin = min(max(0, j.first_day), w0)
        end = max(min(w1, span), min(span, max(w1, j.unchanged_days)))
        while True:
            # Split days: inside the days before the window, or after the window.
            splits = [*range(begin + 1, w0 + 1), *range(w1, end)]
            at = _moved_at(j.conversations, j.escalations, begin, end, splits)
            if at is None:
                break
            if at <= w0:
                begin = at
            else:
                end = at
            if j.journey not in moved:
                moved.append(j.journey)
        begins[j.journey], ends[j.journey] = begin, end
    mix_first = max(begins.values(), default=w0)
    mix_days = min(ends.values(), default=0)
    weights = {j.journey: sum(j.conversations[mix_first:mix_days]) for j in journeys}
    n_mix = sum(weights.values())
    if n_mix == 0:
        return None
    rate = 0.0
    var = 0.0
    rates: dict[str, float] = {}
    pooled = 0
    for j in journeys:
        w = weights[j.journey] / n_mix
        days = slice(begins[j.journey], ends[j.journey])
        n = sum(j.conversations[days])
        if w == 0 or n == 0:
            continue
        r = sum(j.escalations[days]) / n
        rates[j.journey] = r
        rate += w * r
        var += w * w * r * (1 - r) / n
        pooled += n
    # The mix is itself measured: its error moves the rate by the journeys' spread.
    var += sum(weights[k] / n_mix * (r - rate) ** 2 for k, r in rates.items()) / n_mix
    return EscalationBaseline(
        rate, math.sqrt(var), pooled, ends, tuple(moved), mix_days, begins, mix_first
    )


def business_value(model: CostModel, counts: PeriodCounts) -> ValueResult:
    """The value figures of one period, their total, the costs and the ROI."""
    figures: list[Figure] = []
    missing: list[str] = []
    human = model.price("human_contact", "escalation")
    if counts.contained and human is None:
        missing.append("contained value: the cost model prices no human_contact or escalation")
    elif counts.contained and human is not None:
        figures.append(
            Figure(
                "contained_value",
                "Human contacts avoided",
                counts.contained * human[0],
                quantity=counts.contained,
                unit="conversations",
                assumptions=(
                    f"each contained conversation would otherwise have cost one {human[1]} "
                    f"({human[0]:,.2f} {model.currency})",
                ),
            )
        )
    saved = agent_time_saved(counts.strata)
    minute = model.price("agent_minute")
    if saved is not None and minute is None:
        missing.append("agent time saved: the cost model prices no agent_minute")
    elif saved is not None and minute is not None:
        est, lo, hi = saved
        figures.append(
            Figure(
                "agent_time_saved",
                "Agent time saved",
                est * minute[0],
                lo * minute[0],
                hi * minute[0],
                quantity=est,
                unit="agent minutes",
                assumptions=(
                    "a conversation where the AI was used would otherwise have taken the mean "
                    "handle time of those without it in the same journey, channel and tenure",
                    f"an agent minute costs {minute[0]:,.2f} {model.currency}",
                    "95% interval from the strata's sampling error",
                ),
            )
        )
    if counts.escalation_rate is not None and counts.baseline_escalation_rate is not None:
        base = counts.baseline_escalation_rate
        avoided = (base - counts.escalation_rate) * counts.conversations
        price = human[0] if human else 0.0
        bounds: tuple[float | None, float | None] = (None, None)
        measured = (
            f": {counts.baseline_escalation_basis}" if counts.baseline_escalation_basis else ""
        )
        notes = [
            f"the baseline's escalation rate ({base:.1%}{measured}) would have held over this "
            "period's volume",
            "not added to the total: each is a contained conversation counted above",
        ]
        window = counts.baseline_window_escalation_rate
        if window is not None:
            notes.insert(
                1,
                f"the KPI table's baseline ({window:.1%}) is the rate of the baseline window's "
                f"days alone; {base:.1%} estimates the same rate on more days",
            )
        if counts.baseline_escalation_n and price > 0:
            se = counts.baseline_escalation_se
            if se is None:
                se = math.sqrt(base * (1 - base) / counts.baseline_escalation_n)
            half = Z95 * counts.conversations * se
            bounds = ((avoided - half) * price, (avoided + half) * price)
            notes.append("95% interval from the baseline rate's sampling error")
        figures.append(
            Figure(
                "escalations_avoided",
                "Escalations avoided vs baseline",
                avoided * price,
                *bounds,
                quantity=avoided,
                unit="escalations",
                in_total=False,
                assumptions=tuple(notes),
            )
        )
    fee = model.price("ai_fee_per_interaction")
    if counts.ai_cost_reported is not None:
        ai_cost = counts.ai_cost_reported
        ai_basis = "the model cost the turns report"
    elif (per := model.price("ai_per_interaction")) is not None:
        ai_cost = counts.conversations * per[0]
        ai_basis = f"{per[0]:,.4f} {model.currency} per conversation (ai_per_interaction)"
    else:
        ai_cost = 0.0
        ai_basis = "no turn reports a cost and the model has no ai_per_interaction"
        if fee is None:
            missing.append("AI cost: no turn reports a cost and no ai_per_interaction is priced")
    if fee is not None:
        ai_cost += counts.conversations * fee[0]
        ai_basis += (
            f"; plus a fee of {fee[0]:,.4f} {model.currency} per conversation "
            "(ai_fee_per_interaction)"
        )
    running = model.running_per_month * counts.days / (365.25 / 12)
    figures.append(
        # Named apart from the AI cost KPI (the model cost alone) when a fee is added to it.
        Figure(
            "ai_cost",
            "AI cost with fees" if fee is not None else "AI cost",
            -ai_cost,
            assumptions=(ai_basis,),
        ),
    )
    figures.append(
        Figure(
            "running_cost",
            "Running investment",
            -running,
            assumptions=(f"{model.running_per_month:,.2f} {model.currency} a month, pro rata",),
        )
    )
    gross = sum(f.amount for f in figures if f.in_total and f.amount > 0)
    costs = ai_cost + running
    net = gross - costs
    roi = net / costs if costs > 0 else None
    return ValueResult(model.currency, tuple(figures), gross, costs, net, roi, tuple(missing))


def payback_months(one_off: float, net_per_month: float) -> float | None:
    """Months the net value takes to repay the one-off investment; None if it never does."""
    if one_off <= 0:
        return 0.0
    if net_per_month <= 0:
        return None
    return one_off / net_per_month


def cumulative_roi(one_off: float, periods: Sequence[ValueResult]) -> float | None:
    """ROI since go-live: (net value less the one-off investment) / everything spent."""
    spent = one_off + sum(p.costs for p in periods)
    if spent <= 0:
        return None
    return (sum(p.net for p in periods) - one_off) / spent
