"""`daytwo analyze` and `daytwo findings`: run the detectors, list what they found."""

from __future__ import annotations

import json
import time as clock
from datetime import date
from typing import TYPE_CHECKING

import typer

from daytwo.cli.console import out
from daytwo.cli.stores import open_events, open_ledger, server, settings
from daytwo.errors import InputError, error_from_body

if TYPE_CHECKING:
    from daytwo.cli.link import Remote
    from daytwo.pipeline.jobs import AnalysisJob, AnalysisRequest

# How often a command following an analysis on the server asks where it is.
POLL_S = 0.3


def _since(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(f"--since must be a date like 2026-03-01, not {value!r}.") from None


def follow(remote: Remote, request: AnalysisRequest, label: str) -> AnalysisJob:
    """Start ``request`` on the server and follow it to its end, showing its steps."""
    from daytwo.cli.progress import steps
    from daytwo.pipeline.jobs import AnalysisJob

    job = AnalysisJob.model_validate(
        remote.post("/api/v1/analysis/runs", request.model_dump(mode="json"))
    )
    with steps(label) as progress:
        while job.status in ("queued", "running"):
            progress.update(note=job.step or job.status)
            clock.sleep(POLL_S)
            job = AnalysisJob.model_validate(remote.get(f"/api/v1/analysis/runs/{job.id}"))
    if job.status == "failed":
        raise error_from_body(500, {"error": job.error or {}})
    return job


def run_here(request: AnalysisRequest, label: str) -> AnalysisJob:
    """Run ``request`` in this process (no server runs on the data dir), as the server's
    runner would, and return the same job."""
    from daytwo.cli.progress import steps
    from daytwo.pipeline.jobs import AnalysisRunner

    with open_ledger() as ledger, open_events(read_only=False) as events:
        runner = AnalysisRunner(settings(), ledger, events)
        try:
            with steps(label) as progress:
                job = runner.submit(request, trigger="cli", requested_by="cli")
                while job.status in ("queued", "running"):
                    job = runner.wait(job.id, timeout=POLL_S)
                    progress.update(note=job.step or job.status)
        finally:
            runner.stop()
    if job.status == "failed":
        raise error_from_body(500, {"error": job.error or {}})
    return job


def analyze(
    deployment: str | None = typer.Option(
        None, "--deployment", "-d", help="Only this deployment (default: all)."
    ),
    since: str | None = typer.Option(
        None, help="Replay the analysis as of the end of each day from this date (YYYY-MM-DD)."
    ),
    force: bool = typer.Option(False, help="Run even when no data arrived since the last run."),
) -> None:
    """Run every detector and record the findings (incremental; safe to repeat).

    With `daytwo serve` running on the data dir, the server runs it (POST
    /api/v1/analysis/runs) and this command follows it.
    """
    from rich.table import Table

    from daytwo.detect.validators import configure_judge
    from daytwo.pipeline.jobs import AnalysisRequest

    start = _since(since)
    request = AnalysisRequest(deployment=deployment, since=start, force=force)
    remote = server()
    if remote is not None:
        job = follow(remote, request, "analysing on the server")
    else:
        s = settings()
        key = s.judge_api_key.get_secret_value() if s.judge_api_key else None
        configure_judge(s.judge_url, s.judge_model, key)
        job = run_here(request, "analysing")
    table = Table("deployment", "as of", "findings", "new", "updated", "resolved", "regressed")
    for o in job.outcomes:
        if o.skipped:
            if not start:
                out.print(f"{o.deployment}: skipped ({o.skipped})", soft_wrap=True)
            continue
        table.add_row(
            o.deployment,
            f"{o.as_of:%Y-%m-%d %H:%M}",
            str(o.findings),
            *(str(x) for x in (o.new, o.updated, o.resolved, o.regressed)),
        )
    if table.rows:
        out.print(table)


def findings(
    deployment: str | None = typer.Option(None, "--deployment", "-d", help="Deployment name."),
    kind: str | None = typer.Option(None, help="Only this kind (degradation, slo_breach, …)."),
    status: list[str] = typer.Option(
        [], "--status", help="open, resolved or regressed (repeatable; default: all)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    limit: int = typer.Option(200, min=1, max=1000, help="Most findings to list."),
) -> None:
    """The findings in the ledger, most severe first."""
    from rich.table import Table

    from daytwo.detect.schemas import FindingFilter
    from daytwo.detect.service import list_findings
    from daytwo.units import severity_label

    bad = [s for s in status if s not in ("open", "resolved", "regressed")]
    if bad:
        raise InputError(f"--status must be open, resolved or regressed, not {bad[0]!r}.")
    with open_ledger() as ledger:
        rows = list_findings(
            ledger,
            FindingFilter(
                deployment=deployment,
                kind=kind,
                status=status or None,
                limit=limit,
            ),
        )
    if as_json:
        out.print_json(json.dumps([r.model_dump(mode="json") for r in rows]))
        return
    table = Table("id", "severity", "status", "kind", "where", "title", "first seen")
    for r in rows:
        where = " · ".join(
            x
            for x in (
                r.scope.deployment,
                r.scope.journey,
                ", ".join(f"{k}={v}" for k, v in (r.scope.segment or {}).items()),
            )
            if x
        )
        table.add_row(
            str(r.id),
            severity_label(r.severity_level),
            r.status,
            r.kind,
            where,
            r.title,
            f"{r.first_seen:%Y-%m-%d}",
        )
    out.print(table)
