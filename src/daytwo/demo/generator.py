"""A seeded, living contact-center deployment with dated, known problems.

Two deployments share one bank's customers: ``care-bot``, a virtual agent on chat and voice,
and ``care-assist``, the agent-assist tool of 400 human agents on three sites, piloted by
volunteers for two weeks and then rolled out. Customers speak in real CLINC150 utterances.
What the deployment is and which problems are injected when is declared in ``manifest.py``;
``days.py`` draws a day's rows from those declarations and ``tables.py`` makes them Arrow
columns. This module plans the history and delivers it, batch by batch.

Everything is vectorised: the default size (90 days, 2,000 interactions a day, 1.3M turns)
generates in about two seconds, a million interactions (7M turns) in about six, and memory
holds one day's batch at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from daytwo.demo import people
from daytwo.demo.assist_day import assist_day
from daytwo.demo.days import bot_day
from daytwo.demo.ground_truth import build_manifest
from daytwo.demo.manifest import (
    ASSIST,
    BOT,
    BOT_SHARE,
    N_AGENTS,
    PILOT_AGENTS,
    PILOT_DAYS,
    DeploymentSpec,
    deployment_specs,
    schedule_for,
)
from daytwo.demo.setting import (
    CUSTOMERS_PER_DAILY_CONTACT,
    MAX_CUSTOMERS,
    MAX_SPAN_S,
    STREAM_PLAN,
    STREAM_REDELIVERY,
    US,
    Agents,
    Plan,
    corpus,
    lexicon,
)
from daytwo.demo.tables import concat, take_records
from daytwo.interactions.columns import Batch

__all__ = ["DemoConfig", "DemoDataset", "DeploymentSpec", "corpus", "generate"]

WEEKDAY_VOLUME = (1.15, 1.08, 1.05, 1.02, 0.98, 0.72, 0.60)


@dataclass(frozen=True)
class DemoConfig:
    """What to generate: the seed, the span of history and the volume."""

    seed: int = 7
    days: int = 90
    interactions_per_day: int = 2000  # total across deployments, before outage and duplicates
    end: date | None = None  # last day of data; default: today (UTC), so the demo is "living"
    problems: bool = True  # False: the same deployment with nothing injected (false alarms)


class DemoDataset:
    """The generated deployment: its ledger rows, its ground truth and its batches (lazily)."""

    def __init__(
        self, config: DemoConfig, deployments: list[DeploymentSpec], plan: Plan, n: int
    ) -> None:
        self.config = config
        self.deployments = deployments
        self.start = plan.start
        self.end = plan.start + timedelta(days=plan.days - 1)
        self.n_interactions_expected = n
        self._plan = plan
        self.manifest: dict[str, Any] = build_manifest(
            seed=config.seed,
            start=plan.start,
            days=plan.days,
            interactions_per_day=config.interactions_per_day,
            through=datetime.fromtimestamp(plan.through_us / US, UTC),
            n_interactions=n,
            schedule=plan.schedule,
            gap_intents=list(corpus()["gap"]),
            duplicates=sum(plan.duplicates.values()),
        )
        self.manifest["adoption"] = people.truth(
            plan.start, plan.days, plan.schedule, Agents.draw(plan.seed)
        )
        # Filled day by day as the batches are drawn (see ``batches``).
        self.manifest["value"] = {"days": []}

    @property
    def n_batches(self) -> int:
        """One batch per day, plus one if the last day's conversations are re-delivered."""
        late = any(d >= self._plan.days - 1 for d in self._plan.duplicates)
        return self._plan.days + int(late)

    def batches(self) -> Iterator[Batch]:
        """One batch per day in delivery order; re-deliveries ride in the next day's batch."""
        plan = self._plan
        agents = Agents.draw(plan.seed)
        lex = lexicon()
        redelivered = Batch.empty()
        callbacks = np.zeros(0, dtype=np.int64)
        value_days: list[dict[str, Any]] = self.manifest["value"]["days"]
        value_days.clear()
        for day in range(plan.days):
            bot, callbacks, escalations = bot_day(plan, lex, agents, day, callbacks)
            assist, saved_s = assist_day(plan, lex, agents, day)
            value_days.append(
                {
                    "day": (plan.start + timedelta(days=day)).isoformat(),
                    BOT: {
                        "escalations_at_baseline_odds": round(escalations.expected_at_baseline, 3),
                        "escalations_at_baseline_drawn": escalations.drawn_at_baseline,
                        "escalations": escalations.escalated,
                    },
                    ASSIST: {"agent_minutes_saved": round(saved_s / 60, 3)},
                }
            )
            yield concat([bot, assist, redelivered])
            redelivered = _redelivery(plan, day, bot)
        if redelivered.n_records:
            yield redelivered


def generate(config: DemoConfig = DemoConfig()) -> DemoDataset:
    """The demo deployment for ``config``: deployments, manifest and batches (drawn lazily)."""
    if config.days < 1 or config.interactions_per_day < 0:
        raise ValueError("days must be at least 1 and interactions_per_day not negative")
    if config.problems and config.days < 14:
        raise ValueError("the injected problems need at least 14 days of history")
    now = _now().replace(microsecond=0)
    end = config.end or now.date()
    if end > now.date():
        raise ValueError(f"end {end} is in the future: every timestamp must be in the past")
    start = end - timedelta(days=config.days - 1)
    through = min(now, datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=UTC))
    days = np.arange(config.days)
    weekday = np.array(WEEKDAY_VOLUME)[[(start + timedelta(days=int(d))).weekday() for d in days]]
    growth = 0.9 + 0.2 * days / max(1, config.days - 1)  # more customers find the bot
    enabled = np.where(days < PILOT_DAYS, PILOT_AGENTS / N_AGENTS, 1.0)
    weight = weekday * growth
    # Scaled so the mean day over the whole history holds ``interactions_per_day``.
    mean_weight = np.mean(weight * (BOT_SHARE + (1 - BOT_SHARE) * enabled))
    scale = config.interactions_per_day / mean_weight
    rng = np.random.default_rng([config.seed, STREAM_PLAN])
    plan = Plan(
        seed=config.seed,
        start=start,
        days=config.days,
        n_bot=rng.poisson(scale * weight * BOT_SHARE),
        n_assist=rng.poisson(scale * weight * (1 - BOT_SHARE) * enabled),
        through_us=int(through.timestamp()) * US,
        schedule=schedule_for(config.days) if config.problems else None,
        duplicates={},
        customers=min(
            MAX_CUSTOMERS,
            max(1_000, CUSTOMERS_PER_DAILY_CONTACT * config.interactions_per_day),
        ),
    )
    # Only the outage day and the days that reach past the cut at ``through`` lose
    # interactions: re-draw just their start times (their own stream) to count exactly what
    # the batches will deliver.
    cut = plan.through_us - MAX_SPAN_S * US
    partial = {int(d) for d in days if plan.day_us(int(d) + 1) > cut}
    if plan.schedule is not None:
        partial.add(plan.schedule.outage_day)
    delivered = {
        (dep, d): int(plan.delivered(d, plan.starts(d, dep)).sum())
        for d in partial
        for dep in (BOT, ASSIST)
    }
    total = sum(delivered.values())
    total += sum(int(plan.n_bot[d] + plan.n_assist[d]) for d in days if d not in partial)
    if plan.schedule is not None:
        share = plan.schedule.duplicate_share
        duplicates = {
            d: round(delivered.get((BOT, d), int(plan.n_bot[d])) * share)
            for d in plan.schedule.duplicate_days
        }
        plan = replace(plan, duplicates=duplicates)
    return DemoDataset(config, deployment_specs(start), plan, total)


def _now() -> datetime:
    """The current time; tests move it to check a demo that ends today."""
    return datetime.now(UTC)


def _redelivery(plan: Plan, day: int, bot: Batch) -> Batch:
    """Copies of some of the day's conversations that a retrying exporter sends again.

    Most copies are identical; some carry a survey answer that arrived after the first export
    (so the later copy is the one to keep).
    """
    k = plan.duplicates.get(day, 0)
    s = plan.schedule
    if not k or s is None:
        return Batch.empty()
    rng = np.random.default_rng([plan.seed, STREAM_REDELIVERY, day])
    records = bot.interactions["_record"].to_numpy()
    copies = take_records(bot, np.sort(rng.choice(records, min(k, len(records)), replace=False)))
    csat = copies.interactions["csat"].to_numpy(zero_copy_only=False).astype(np.float64)
    unanswered = rng.permutation(np.flatnonzero(np.isnan(csat)))
    late = unanswered[: round(len(csat) * s.late_csat_share)]
    csat[late] = rng.integers(1, 6, len(late))
    inter = copies.interactions
    i = inter.schema.get_field_index("csat")
    inter = inter.set_column(i, inter.schema.field(i), pa.array(csat, from_pandas=True))
    return Batch(inter, copies.turns, copies.assist_events)
