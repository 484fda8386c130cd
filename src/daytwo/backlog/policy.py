"""The backlog's knobs, read once from :class:`~daytwo.settings.Settings`."""

from __future__ import annotations

from dataclasses import dataclass, field

from daytwo.backlog.calc import PriorityParams, SlaPolicy
from daytwo.errors import ConfigError, InputError
from daytwo.settings import Settings


@dataclass(frozen=True, slots=True)
class BacklogPolicy:
    priority: PriorityParams = field(default_factory=PriorityParams)
    sla: SlaPolicy = field(default_factory=SlaPolicy)
    feedback_ack_days: float = 3.0
    feedback_action_days: float = 14.0
    impact_window_days: int = 28
    impact_resamples: int = 2000

    @classmethod
    def from_settings(cls, settings: Settings) -> BacklogPolicy:
        cut = settings.backlog_priority_cutoffs
        try:
            if len(cut) != 3:
                raise InputError("DAYTWO_BACKLOG_PRIORITY_CUTOFFS needs three numbers.")
            return cls(
                priority=PriorityParams(
                    cutoffs=(cut[0], cut[1], cut[2]),
                    population_weight=settings.backlog_population_weight,
                ),
                sla=SlaPolicy(
                    triage_hours=dict(settings.backlog_sla_triage_hours),
                    fix_days=dict(settings.backlog_sla_fix_days),
                ),
                feedback_ack_days=settings.feedback_ack_days,
                feedback_action_days=settings.feedback_action_days,
                impact_window_days=settings.impact_window_days,
                impact_resamples=settings.impact_resamples,
            )
        except InputError as exc:
            raise ConfigError(f"Backlog settings are unusable: {exc.message}") from None
