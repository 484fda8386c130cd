"""Business value and ROI of a deployment over a period: pure arithmetic, every input named.

Value is what the AI saved against the human path, less what it cost:

- contained conversations avoid a human-handled contact (``human_contact`` in the cost model,
  else ``escalation``: what the deployment declares a hand-over to a person costs);
- agent assist saves handle time: conversations where the AI was used against the like-for-like
  conversations where it was not (the same stratum: journey, channel, tenure), priced per
  ``agent_minute``; the interval is the strata's normal interval, summed;
- escalations avoided against the baseline's escalation rate are shown, never added: each of
  them is a contained conversation already counted above; the interval is the baseline
  rate's sampling error over the period's volume (the period's own escalations are counted);
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
        if counts.baseline_escalation_n and price > 0:
            half = (
                Z95
                * counts.conversations
                * math.sqrt(base * (1 - base) / counts.baseline_escalation_n)
            )
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
