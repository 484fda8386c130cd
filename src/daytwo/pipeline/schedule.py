"""Scheduled analysis for `daytwo serve`: a background thread that runs the pipeline (the
detectors, then every consumer) and keeps each deployment's knowledge gaps up to date."""

from __future__ import annotations

import logging
import threading

from daytwo.detect.gaps.service import DEFAULT_WINDOW_DAYS
from daytwo.detect.validators import configure_judge
from daytwo.pipeline.run import NO_DATA, analyze, cluster_gaps
from daytwo.settings import Settings
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger

log = logging.getLogger("daytwo.pipeline")


class AnalysisSchedule:
    """Runs :func:`daytwo.pipeline.analyze` every ``interval_s`` seconds until stopped,
    then clusters the knowledge gaps of every deployment it analysed (with ``gaps_encoder``
    over the last ``gaps_window_days``; no ``gaps_encoder``: the gaps are left alone), so the
    gaps pages and API follow the data as the findings do.

    Each run is incremental, so a run with no new data costs one query per deployment.
    A failed run is logged and the next one is tried at the next tick.
    """

    def __init__(
        self,
        ledger: Ledger,
        events: EventStore,
        interval_s: float,
        *,
        gaps_encoder: str | None = None,
        gaps_window_days: int = DEFAULT_WINDOW_DAYS,
        settings: Settings | None = None,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("the analysis interval must be positive")
        self._settings = settings or Settings()
        self._ledger = ledger
        self._events = events
        self._interval = interval_s
        self._gaps_encoder = gaps_encoder
        self._gaps_window_days = gaps_window_days
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="daytwo-analysis", daemon=True)
        self.runs = 0

    @classmethod
    def from_settings(
        cls, ledger: Ledger, events: EventStore, settings: Settings
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
            gaps_window_days=settings.gaps_window_days,
            settings=settings,
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
        """One scheduled run: the detectors, then the gaps of each deployment they analysed.
        Failures are logged, one deployment's gaps failing does not stop the others'."""
        try:
            outcomes = analyze(self._settings, self._ledger, self._events, trigger="schedule")
        except Exception:
            log.exception("scheduled analysis failed")
            outcomes = []
        if self._gaps_encoder is not None:
            for name in sorted({o.deployment for o in outcomes if o.skipped != NO_DATA}):
                if self._stop.is_set():
                    break
                try:
                    cluster_gaps(
                        self._settings,
                        self._ledger,
                        self._events,
                        name,
                        trigger="schedule",
                        encoder=self._gaps_encoder,
                        window_days=self._gaps_window_days,
                    )
                except Exception:
                    log.exception("scheduled knowledge-gap refresh of %s failed", name)
        self.runs += 1
