"""`daytwo import`: bulk-load JSONL, CSV or Parquet exports."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from daytwo.cli.console import err, out
from daytwo.cli.governance import actor, open_ledger
from daytwo.errors import ValidationFailed
from daytwo.governance import audit
from daytwo.governance.policies import redaction_plan
from daytwo.ingest.files import ImportSummary, detect_format, import_file, progress_total
from daytwo.settings import Settings
from daytwo.store.events import open_event_store


def import_files(
    paths: list[Path] = typer.Argument(..., help="Files to import (.jsonl[.gz], .csv, .parquet)."),
    mapping: Path = typer.Option(
        None, "--mapping", "-m", help="YAML column mapping for flat CSV/Parquet exports."
    ),
    fmt: str = typer.Option(None, "--format", help="jsonl, csv or parquet (default: by suffix)."),
    deployment: str = typer.Option(
        None, "--deployment", help="Deployment name for flat files that do not carry one."
    ),
    strict: bool = typer.Option(
        False, "--strict", help="Validate the whole file first; store nothing if any record fails."
    ),
    rejects: Path = typer.Option(
        None, "--rejects", help="Where to write invalid records (default: FILE.rejects.jsonl)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Import interaction exports; invalid records go to a rejects file, valid ones are stored.

    Re-importing a file changes nothing: interactions are stored once per id.
    """
    settings = Settings()
    summaries: list[ImportSummary] = []
    failed = False
    # Each deployment's redaction policy applies to its records, as on the API.
    with open_ledger() as ledger:
        plan = redaction_plan(ledger)
    with open_event_store(settings.resolved_events_url) as store:
        for path in paths:
            kind = detect_format(path, fmt) if path.exists() else (fmt or "?")
            reject_path = rejects or path.with_name(path.name + ".rejects.jsonl")
            columns = [TextColumn("[bold]{task.description}"), BarColumn()]
            columns += [MofNCompleteColumn()] if kind == "parquet" else [DownloadColumn()]
            columns += [TimeElapsedColumn(), TimeRemainingColumn()]
            with Progress(*columns, console=err, disable=quiet, transient=True) as bar:
                total = progress_total(path, kind) if path.exists() else None
                task = bar.add_task(path.name, total=total)
                try:
                    summary = import_file(
                        store,
                        path,
                        fmt=fmt,
                        mapping=mapping,
                        deployment=deployment,
                        strict=strict,
                        rejects=reject_path,
                        progress=partial(bar.advance, task),
                        redaction=plan,
                    )
                except ValidationFailed as exc:
                    bar.stop()
                    err.print(f"[bold red]{path.name}:[/] {exc.message}")
                    for e in exc.errors[:10]:
                        err.print(f"  - {e}")
                    if len(exc.errors) > 10:
                        err.print(f"  ... {len(exc.errors) - 10} more, see {reject_path}")
                    failed = True
                    continue
            summaries.append(summary)
            with open_ledger() as ledger, ledger.session() as session:
                audit.record(
                    session,
                    actor=actor(),
                    action="import",
                    target=path.name,
                    after={
                        "records": summary.records,
                        "accepted": summary.accepted,
                        "rejected": summary.rejected,
                        "redacted": summary.redacted,
                    },
                )
    if summaries:
        _print_summary(summaries)
    for s in summaries:
        for e in s.first_errors[:5]:
            err.print(f"[yellow]rejected[/] {Path(s.path).name}: {e}")
        if s.rejected:
            err.print(f"{s.rejected:,} invalid records written to {s.rejects_path}")
    if failed:
        raise typer.Exit(2)


def _print_summary(summaries: list[ImportSummary]) -> None:
    # One line per file: readable at any terminal width and easy to grep in logs.
    for s in summaries:
        out.print(
            f"[bold]{Path(s.path).name}[/] ({s.format}): {s.records:,} records, "
            f"{s.accepted:,} stored ({s.inserted:,} new, {s.replaced:,} replaced), "
            f"{s.rejected:,} rejected; {s.turns:,} turns in {s.seconds:.1f} s "
            f"({s.turns_per_second:,.0f} turns/s)"
            + (
                "; PII redacted: " + ", ".join(f"{n:,} {k}" for k, n in sorted(s.redacted.items()))
                if s.redacted
                else ""
            ),
            soft_wrap=True,
        )
