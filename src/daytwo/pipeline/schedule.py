"""Scheduled analysis for `daytwo serve`: every ``analyze_interval_minutes`` (60 unless set;
0 turns it off) the pipeline runs over every deployment (the detectors, then every consumer)
and clusters the knowledge gaps of the deployments it analysed, through the server's one
:class:`~daytwo.pipeline.jobs.AnalysisRunner` (so a run the API or the command line started
never overlaps it)."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from daytwo.detect.validators import configure_judge
from daytwo.pipeline.jobs import AnalysisRequest, AnalysisRunner
from daytwo.settings import Settings
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger
from daytwo.store.ledger.leases import lease

# Scheduled analysis runs in one process at a time, whichever takes this lease.
LEASE = "scheduled-analysis"
LEASE_TTL = timedelta(minutes=5)

log = logging.getLogger("daytwo.pipeline")


class AnalysisSchedule:
    """Queues an analysis every ``interval_s`` seconds until stopped and waits for it; with a
    ``gaps_encoder`` the run clusters the gaps of every deployment it analysed too, so the gaps
    pages and API follow the data as the findings do.

    Each run is incremental, so a run with no new data costs one query per deployment.
    A failed run is logged and the next one is tried at the next tick. Where several processes
    share the stores, a tick runs only in the process that holds the ledger's analysis lease
    (see :mod:`daytwo.store.ledger.leases`): the others skip it.
    """

    def __init__(
        self,
        ledger: Ledger,
        events: EventStore,
        interval_s: float,
        *,
        gaps_encoder: str | None = None,
        settings: Settings | None = None,
        runner: AnalysisRunner | None = None,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("the analysis interval must be positive")
        self._settings = settings or Settings()
        if gaps_encoder is not None:
            self._settings = self._settings.model_copy(update={"gaps_encoder": gaps_encoder})
        self._runner = runner or AnalysisRunner(self._settings, ledger, events)
        self._interval = interval_s
        self._gaps = gaps_encoder is not None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="daytwo-schedule", daemon=True)
        self.runs = 0
        self.skipped = 0
        self._ledger = ledger

    @classmethod
    def from_settings(
        cls,
        ledger: Ledger,
        events: EventStore,
        settings: Settings,
        runner: AnalysisRunner | None = None,
    ) -> AnalysisSchedule | None:
        """The schedule ``settings`` ask for (None when the interval is 0).

        The LLM judge is configured here either way, so analyses the API starts use it too.
        """
        key = settings.judge_api_key.get_secret_value() if settings.judge_api_key else None
        configure_judge(settings.judge_url, settings.judge_model, key)
        if settings.analyze_interval_minutes <= 0:
            return None
        return cls(
            ledger,
            events,
            settings.analyze_interval_minutes * 60,
            gaps_encoder=settings.gaps_encoder,
            settings=settings,
            runner=runner,
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.tick()
            self._stop.wait(self._interval)

    def tick(self) -> None:
        """One scheduled run, if this process holds the analysis lease."""
        try:
            with lease(self._ledger, LEASE, LEASE_TTL) as held:
                if held:
                    self._run()
                else:
                    self.skipped += 1
        except Exception:
            log.exception("scheduled analysis could not take its lease")

    def _run(self) -> None:
        """The run, queued and waited for; a failure is logged."""
        job = self._runner.submit(
            AnalysisRequest(detectors=True, gaps=self._gaps),
            trigger="schedule",
            requested_by="schedule",
        )
        done = self._runner.wait(job.id)
        if done.status == "failed":
            log.error("scheduled analysis failed: %s", done.error)
        self.runs += 1
