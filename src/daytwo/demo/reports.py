"""The demo's reports: every weekly update and monthly review of its history, issued into the
archive once the analysis is in, so the archive is full and the value story reads week by week.

The weekly updates of every ISO week that ended inside the history and the monthly reviews of
every month that did are issued (the go-live month included: its review says it is a part
month). A demo whose history was replayed day by day issues each on its own date, the morning
after its period ended, as its owner's schedule would have (:func:`issue_time`); otherwise each
is issued as of the build.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import warnings
from collections.abc import Callable
from contextlib import nullcontext, suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from multiprocessing.connection import Connection
from typing import Any

from daytwo import clock
from daytwo.pipeline.ahead import stop_worker
from daytwo.report.archive import issue_document, render_report, report_numbers
from daytwo.report.monthly import MonthlyReview, month_bounds, months_between
from daytwo.report.sections import Subject, subject
from daytwo.report.weekly import WeeklyUpdate, week_bounds
from daytwo.settings import Settings
from daytwo.store.events import EventStore, open_event_store
from daytwo.store.ledger import Ledger

log = logging.getLogger("daytwo.demo")
Numbers = WeeklyUpdate | MonthlyReview

ISSUER = "demo"
# When the schedule issues a report: this long after its period ended (the next morning).
ISSUE_AFTER = timedelta(hours=8)


def periods(first: date, through: datetime) -> list[tuple[str, str]]:
    """(kind, period) of every full ISO week and every month that ended by ``through``, from
    the one ``first`` falls in; weeks first, each in order."""
    out: list[tuple[str, str]] = []
    monday = first - timedelta(days=first.weekday())
    if monday < first:
        monday += timedelta(days=7)  # a week the history starts inside is not a full week
    while datetime(monday.year, monday.month, monday.day, tzinfo=UTC) + timedelta(7) <= through:
        year, num, _ = monday.isocalendar()
        out.append(("weekly", f"{year}-W{num:02d}"))
        monday += timedelta(days=7)
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    out += [("monthly", m) for m in months_between(start, through) if month_bounds(m)[1] <= through]
    return out


def issue_time(kind: str, period: str, through: datetime) -> datetime:
    """When the schedule issues the report of ``period``: the morning after it ended, and
    never after the history's end."""
    end = week_bounds(period)[1] if kind == "weekly" else month_bounds(period)[1]
    return min(end + ISSUE_AFTER, through)


def issue_demo_reports(
    settings: Settings,
    manifest: dict[str, Any],
    progress: Callable[[str], None] | None = None,
    *,
    dated: bool = False,
    workers: int | None = None,
) -> int:
    """Issue every weekly update and monthly review of each deployment; how many were. With
    ``dated`` (a history replayed day by day), each as of :func:`issue_time`, its issue date
    too; otherwise as of the build.

    With two cores (``workers``, default the machine's, at most :data:`REPORT_WORKERS`) a
    forked worker computes the numbers of every other report while this process computes
    the rest; this process then renders and issues them all in their order, so the archive's
    rows, ids and documents are those of building them one by one here (a chart's SVG counts
    the charts drawn before it in the process). Both read the events store read-only, and
    computing a report's numbers writes nothing; those the worker could not compute are
    computed here."""
    first = date.fromisoformat(manifest["start"])
    through = datetime.fromisoformat(manifest["through"].replace("Z", "+00:00"))
    todo = [
        Planned(deployment, kind, period, issue_time(kind, period, through) if dated else None)
        for deployment in manifest["deployments"]
        for kind, period in periods(first, through)
    ]
    n = min(REPORT_WORKERS, os.cpu_count() or 1) if workers is None else workers
    parallel = n > 1 and len(todo) > 1 and "fork" in multiprocessing.get_all_start_methods()
    ledger = Ledger(settings.resolved_ledger_url)
    try:
        with open_event_store(settings.resolved_events_url, read_only=parallel) as events:
            # Nothing the subject reads changes between the reports: read once a deployment.
            who = {d: subject(ledger, events, d) for d in manifest["deployments"]}
            base = settings.notify_public_url
            ahead = _ReportsAhead(settings, todo, who) if parallel else None
            numbers: dict[int, Numbers] = {}
            try:
                for index, plan in enumerate(todo):
                    if ahead is not None and index % 2 == 1:
                        continue  # the worker's
                    if progress:
                        progress(f"{plan.deployment} {plan.kind} {plan.period}")
                    numbers[index] = _numbers(ledger, events, plan, who)
                if ahead is not None:
                    numbers.update(ahead.collect())
            finally:
                if ahead is not None:
                    ahead.close()
            for index, plan in enumerate(todo):
                if index not in numbers:  # the worker's, where it failed
                    numbers[index] = _numbers(ledger, events, plan, who)
                with clock.frozen_at(plan.at) if plan.at is not None else nullcontext():
                    document = render_report(numbers.pop(index), base=base)
                    issue_document(ledger, document, issued_by=ISSUER)
    finally:
        ledger.dispose()
    return len(todo)


# The processes that build the demo's reports: this one and a forked worker.
REPORT_WORKERS = 2


@dataclass(frozen=True, slots=True)
class Planned:
    """A report to issue, and when (None: as of the build)."""

    deployment: str
    kind: str
    period: str
    at: datetime | None


def _numbers(ledger: Ledger, events: EventStore, plan: Planned, who: dict[str, Subject]) -> Numbers:
    with clock.frozen_at(plan.at) if plan.at is not None else nullcontext():
        return report_numbers(
            ledger, events, kind=plan.kind, deployment=plan.deployment, period=plan.period,
            now=plan.at, who=who[plan.deployment],
        )  # fmt: skip


class _ReportsAhead:
    """A forked worker computing the numbers of the reports of odd index in ``todo``, sent
    once all are."""

    def __init__(self, settings: Settings, todo: list[Planned], who: dict[str, Subject]) -> None:
        ctx = multiprocessing.get_context("fork")
        receive, send = ctx.Pipe(duplex=False)
        self._receive: Connection | None = receive
        with warnings.catch_warnings():
            # Forking a process that runs threads (the engines'): the worker only opens its
            # own connections and uses none of this process's.
            warnings.simplefilter("ignore", DeprecationWarning)
            self._process = ctx.Process(
                target=_numbers_of_odd, args=(settings, todo, who, receive, send),
                name="daytwo-demo-reports", daemon=True,
            )  # fmt: skip
            self._process.start()
        send.close()

    def collect(self) -> dict[int, Numbers]:
        """The worker's numbers by index (none where it stopped)."""
        if self._receive is None:
            return {}
        try:
            built: dict[int, Numbers] = self._receive.recv()
        except (EOFError, OSError):
            log.warning("the reports worker stopped; the reports it had left are built here")
            return {}
        return built

    def close(self) -> None:
        if self._receive is not None:
            self._receive.close()
            self._receive = None
        stop_worker(self._process)


def _numbers_of_odd(
    settings: Settings,
    todo: list[Planned],
    who: dict[str, Subject],
    receive: Connection,
    send: Connection,
) -> None:
    """The worker: its own connections to both stores (the events read-only), the numbers of
    every report of odd index, then all sent at once (more than a pipe holds)."""
    receive.close()
    built: dict[int, Numbers] = {}
    try:
        ledger = Ledger(settings.resolved_ledger_url)
        try:
            with open_event_store(settings.resolved_events_url, read_only=True) as events:
                for index in range(1, len(todo), 2):
                    try:
                        built[index] = _numbers(ledger, events, todo[index], who)
                    except Exception:  # built again by the parent, which raises it there
                        log.debug("report %s failed in the worker", todo[index])
        finally:
            ledger.dispose()
        send.send(built)
    except (BrokenPipeError, OSError, KeyboardInterrupt):
        return
    finally:
        with suppress(OSError):
            send.close()
