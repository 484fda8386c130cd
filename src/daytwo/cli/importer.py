"""`daytwo import`: bulk-load JSONL, CSV or Parquet exports."""

from __future__ import annotations

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
from rich.table import Column, Table

from daytwo.cli.console import err, out
from daytwo.errors import ValidationFailed
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
                        progress=lambda n, task=task: bar.advance(task, n),
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
    table = Table(Column("file", overflow="fold", min_width=16))
    for name in ("format", "records", "stored", "rejected", "new", "replaced", "turns",
                 "seconds", "turns/s"):
        table.add_column(name, justify="left" if name == "format" else "right")
    for s in summaries:
        table.add_row(
            Path(s.path).name, s.format, f"{s.records:,}", f"{s.accepted:,}", f"{s.rejected:,}",
            f"{s.inserted:,}", f"{s.replaced:,}", f"{s.turns:,}", f"{s.seconds:.1f}",
            f"{s.turns_per_second:,.0f}",
        )
    out.print(table)
