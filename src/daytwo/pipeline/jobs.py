"""Analyses a running server does, one at a time: started by the API, the command line beside
the server, or the schedule, and watched while they run.

``daytwo serve`` owns one :class:`AnalysisRunner`: a worker thread that takes
:class:`AnalysisRequest`\\ s from a queue and runs each through the pipeline (the detectors and
their consumers, then the knowledge-gap clustering when asked). One worker means two analyses
never record findings for the same deployment at once, whoever started them. Each request is an
:class:`AnalysisJob` with an id, a status (``queued``, ``running``, ``done``, ``failed``), its
progress and, when done, what each deployment's run found: ``POST /api/v1/analysis/runs``
answers ``202`` with the job, ``GET /api/v1/analysis/runs/{id}`` follows it. The jobs of this
server's life are kept in memory (the last :data:`KEPT_JOBS`); every run's findings are in the
ledger for good (``GET /api/v1/findings/runs``).
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from collections import OrderedDict
from datetime import UTC, date, datetime, time
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict

from daytwo.errors import DaytwoError, NotFoundError
from daytwo.isotext import iso_day_text
from daytwo.pipeline.context import Trigger
from daytwo.pipeline.run import NO_DATA, analyze, cluster_gaps
from daytwo.settings import GapEncoder, Settings
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger
from daytwo.telemetry import TELEMETRY

log = logging.getLogger("daytwo.pipeline")

KEPT_JOBS = 200
JobStatus = Literal["queued", "running", "done", "failed"]


class AnalysisRequest(BaseModel):
    """What to analyse: the detectors, the knowledge gaps, or both."""

    # Strict: a flag is a JSON boolean, not 0 or "yes" (what the schema says); the day, which
    # JSON carries as text, is exempt.
    model_config = ConfigDict(extra="forbid", strict=True)

    deployment: str | None = Field(
        default=None, description="One deployment; none: every one the requester may manage."
    )
    since: Annotated[date | None, Strict(False), BeforeValidator(iso_day_text)] = Field(
        default=None,
        description="Replay the detectors as of the end of each day from this date.",
    )
    force: bool = Field(default=False, description="Run even when no data arrived since.")
    detectors: bool = Field(default=True, description="Run the detectors and their consumers.")
    gaps: bool = Field(
        default=False, description="Cluster the knowledge gaps of each deployment analysed."
    )
    encoder: GapEncoder | None = Field(
        default=None,
        description="The gaps' sentence encoder, minilm or wordllama (default: the setting).",
    )


class DeploymentOutcome(BaseModel):
    """One deployment's analysis as of one instant, or why it was skipped."""

    deployment: str
    as_of: datetime
    run_id: int | None
    findings: int
    new: int
    updated: int
    resolved: int
    regressed: int
    skipped: str | None


class GapOutcome(BaseModel):
    deployment: str
    run_id: int | None
    skipped: str | None
    gaps: int
    new: int
    gone: int


class AnalysisJob(BaseModel):
    """An analysis asked of the server, and where it is."""

    id: str
    status: JobStatus
    trigger: str
    requested_by: str
    requested_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    request: AnalysisRequest
    deployments: list[str] | None = Field(
        default=None, description="The deployments it covers; none: every one."
    )
    step: str = Field(default="", description="What it is doing now.")
    steps_done: int = 0
    outcomes: list[DeploymentOutcome] = Field(default_factory=list)
    gap_runs: list[GapOutcome] = Field(default_factory=list)
    error: dict[str, object] | None = Field(
        default=None, description="The error it failed with ({code, message})."
    )


class AnalysisRunner:
    """One worker thread that runs queued analyses in order (see the module docstring)."""

    def __init__(self, settings: Settings, ledger: Ledger, events: EventStore) -> None:
        self._settings = settings
        self._ledger = ledger
        self._events = events
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._jobs: OrderedDict[str, AnalysisJob] = OrderedDict()
        self._done: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._work, name="daytwo-analysis", daemon=True)
        self._started = False

    def start(self) -> None:
        if not self._started:
            self._thread.start()
            self._started = True

    def stop(self, timeout: float = 30.0) -> None:
        if self._started:
            self._queue.put(None)
            self._thread.join(timeout)
            self._started = False

    def submit(
        self,
        request: AnalysisRequest,
        *,
        trigger: Trigger,
        requested_by: str,
        deployments: list[str] | None = None,
    ) -> AnalysisJob:
        """Queue ``request``; the job as it is now (``queued``)."""
        if deployments is None and request.deployment:
            deployments = [request.deployment]
        job = AnalysisJob(
            id=uuid.uuid4().hex,
            status="queued",
            trigger=trigger,
            requested_by=requested_by,
            requested_at=datetime.now(UTC),
            request=request,
            deployments=deployments,
        )
        with self._lock:
            self._jobs[job.id] = job
            self._done[job.id] = threading.Event()
            while len(self._jobs) > KEPT_JOBS:
                old, _ = self._jobs.popitem(last=False)
                self._done.pop(old, None)
        self.start()
        self._queue.put(job.id)
        return job.model_copy()

    def wait(self, job_id: str, timeout: float | None = None) -> AnalysisJob:
        """The job once it has finished (or after ``timeout`` seconds, as it is then)."""
        done = self._done.get(job_id)
        if done is not None:
            done.wait(timeout)
        return self.get(job_id)

    def get(self, job_id: str) -> AnalysisJob:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise NotFoundError(f"No analysis job {job_id!r} (jobs are kept while it runs).")
            return job.model_copy(deep=True)

    def recent(self, limit: int = 50) -> list[AnalysisJob]:
        with self._lock:
            return [j.model_copy(deep=True) for j in list(self._jobs.values())[::-1][:limit]]

    # -- the worker -------------------------------------------------------------------------

    def _update(self, job_id: str, **changes: object) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None:
                for key, value in changes.items():
                    setattr(job, key, value)

    def _work(self) -> None:
        while True:
            job_id = self._queue.get()
            if job_id is None:
                return
            try:
                self._run(job_id)
            finally:
                done = self._done.get(job_id)
                if done is not None:
                    done.set()

    def _run(self, job_id: str) -> None:
        job = self.get(job_id)
        self._update(job_id, status="running", started_at=datetime.now(UTC))
        req = job.request
        names: list[str | None] = list(job.deployments) if job.deployments else [None]
        steps = 0

        def step(what: str) -> None:
            nonlocal steps
            steps += 1
            self._update(job_id, step=what, steps_done=steps)

        try:
            outcomes: list[DeploymentOutcome] = []
            analysed: list[str] = []
            if req.detectors:
                since = datetime.combine(req.since, time(), tzinfo=UTC) if req.since else None
                for name in names:
                    with TELEMETRY.time_analysis("detect"):
                        ran = analyze(
                            self._settings, self._ledger, self._events, trigger=_trigger(job),
                            deployment=name, since=since, force=req.force, progress=step,
                        )  # fmt: skip
                    for o in ran:
                        r = o.recorded
                        outcomes.append(
                            DeploymentOutcome(
                                deployment=o.deployment,
                                as_of=o.as_of,
                                run_id=o.run_id,
                                findings=len(o.findings),
                                new=r.new if r else 0,
                                updated=r.updated if r else 0,
                                resolved=r.resolved if r else 0,
                                regressed=r.regressed if r else 0,
                                skipped=o.skipped,
                            )
                        )
                        if o.skipped != NO_DATA:
                            analysed.append(o.deployment)
                self._update(job_id, outcomes=outcomes)
            gap_runs: list[GapOutcome] = []
            if req.gaps:
                targets = [n for n in names if n] if not req.detectors else analysed
                for name in sorted(set(targets)):
                    step(f"knowledge gaps of {name}")
                    try:
                        with TELEMETRY.time_analysis("gaps"):
                            result = cluster_gaps(
                                self._settings, self._ledger, self._events, name,
                                trigger=_trigger(job), encoder=req.encoder, force=req.force,
                            )  # fmt: skip
                    except Exception as exc:
                        if not req.detectors:
                            raise  # gaps were all that was asked: the job fails with it
                        # After the detectors, one deployment's gaps failing does not stop
                        # the others' (the schedule's runs, above all).
                        log.exception("knowledge-gap refresh of %s failed", name)
                        gap_runs.append(
                            GapOutcome(
                                deployment=name, run_id=None, skipped=f"failed: {exc}",
                                gaps=0, new=0, gone=0,
                            )
                        )  # fmt: skip
                        continue
                    gap_runs.append(
                        GapOutcome(
                            deployment=name,
                            run_id=result.run_id,
                            skipped=result.skipped,
                            gaps=result.gaps,
                            new=result.new,
                            gone=result.gone,
                        )
                    )
                self._update(job_id, gap_runs=gap_runs)
            self._update(job_id, status="done", finished_at=datetime.now(UTC), step="")
        except DaytwoError as exc:
            self._update(
                job_id, status="failed", finished_at=datetime.now(UTC), error=exc.as_dict()
            )
        except Exception as exc:
            log.exception("analysis job %s failed", job_id)
            self._update(
                job_id,
                status="failed",
                finished_at=datetime.now(UTC),
                error={"code": "internal_error", "message": f"{type(exc).__name__}: {exc}"},
            )


def _trigger(job: AnalysisJob) -> Trigger:
    return "schedule" if job.trigger == "schedule" else "cli" if job.trigger == "cli" else "api"
