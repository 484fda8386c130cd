"""`daytwo analyze` and `daytwo findings`: run the detectors, list what they found."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from daytwo.cli.console import out
from daytwo.detect.findings import Severity
from daytwo.detect.schemas import FindingFilter
from daytwo.detect.service import list_findings
from daytwo.detect.validators import configure_judge
from daytwo.errors import InputError
from daytwo.pipeline import analyze as run_analysis
from daytwo.pipeline import plugin_manager
from daytwo.settings import Settings
from daytwo.store.events import open_event_store
from daytwo.store.ledger import Ledger, upgrade


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)
    except ValueError:
        raise InputError(f"--since must be a date like 2026-03-01, not {value!r}.") from None


def analyze(
    deployment: str | None = typer.Option(
        None, "--deployment", "-d", help="Only this deployment (default: all)."
    ),
    since: str | None = typer.Option(
        None, help="Replay the analysis as of the end of each day from this date (YYYY-MM-DD)."
    ),
    force: bool = typer.Option(False, help="Run even when no data arrived since the last run."),
) -> None:
    """Run every detector and record the findings (incremental; safe to repeat)."""
    settings = Settings()
    start = _since(since)
    key = settings.judge_api_key.get_secret_value() if settings.judge_api_key else None
    configure_judge(settings.judge_url, settings.judge_model, key)
    upgrade(settings.resolved_ledger_url)
    ledger = Ledger(settings.resolved_ledger_url)
    try:
        with (
            open_event_store(settings.resolved_events_url) as events,
            Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TimeElapsedColumn(),
                console=out,
                transient=True,
            ) as bar,
        ):
            from daytwo.detect.registry import detectors

            plugin_manager()  # the contributed detectors count too
            task = bar.add_task("analysing", total=None)
            n_detectors = len(detectors())

            def step(detector_id: str) -> None:
                if bar.tasks[0].total is None:
                    bar.update(task, total=n_detectors)
                if bar.tasks[0].completed >= n_detectors:
                    bar.update(task, completed=0)
                bar.update(task, description=f"analysing · {detector_id}", advance=1)

            outcomes = run_analysis(
                settings, ledger, events, trigger="cli", deployment=deployment, since=start,
                force=force, progress=step,
            )  # fmt: skip
    finally:
        ledger.dispose()
    table = Table("deployment", "as of", "findings", "new", "updated", "resolved", "regressed")
    for o in outcomes:
        if o.skipped:
            if not start:
                out.print(f"{o.deployment}: skipped ({o.skipped})", soft_wrap=True)
            continue
        r = o.recorded
        table.add_row(
            o.deployment,
            f"{o.as_of:%Y-%m-%d %H:%M}",
            str(len(o.findings)),
            *(str(x) for x in ((r.new, r.updated, r.resolved, r.regressed) if r else ())),
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
    bad = [s for s in status if s not in ("open", "resolved", "regressed")]
    if bad:
        raise InputError(f"--status must be open, resolved or regressed, not {bad[0]!r}.")
    settings = Settings()
    upgrade(settings.resolved_ledger_url)
    ledger = Ledger(settings.resolved_ledger_url)
    try:
        rows = list_findings(
            ledger,
            FindingFilter(
                deployment=deployment,
                kind=kind,
                status=status or None,
                limit=limit,
            ),
        )
    finally:
        ledger.dispose()
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
            Severity(r.severity_level).name,
            r.status,
            r.kind,
            where,
            r.title,
            f"{r.first_seen:%Y-%m-%d}",
        )
    out.print(table)
