"""`daytwo import`: bulk-load JSONL, CSV or Parquet exports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from daytwo.cli.console import err, out
from daytwo.cli.stores import actor, open_events, open_ledger, server

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from daytwo.cli.link import Remote
    from daytwo.ingest.files import ImportSummary


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
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from daytwo.errors import ValidationFailed
    from daytwo.ingest.files import detect_format

    summaries: list[ImportSummary] = []
    failed = False
    remote = server()
    for path in paths:
        kind = detect_format(path, fmt) if path.exists() else (fmt or "?")
        reject_path = rejects or path.with_name(path.name + ".rejects.jsonl")
        columns = [TextColumn("[bold]{task.description}"), BarColumn()]
        columns += [MofNCompleteColumn()] if kind == "parquet" else [DownloadColumn()]
        columns += [TimeElapsedColumn(), TimeRemainingColumn()]
        with Progress(*columns, console=err, disable=quiet, transient=True) as bar:
            task = bar.add_task(path.name, total=None)
            progress = Steps(
                total=partial(_set_total, bar, task), advance=partial(bar.advance, task)
            )
            options = Options(fmt, mapping, deployment, strict, reject_path)
            try:
                if remote is not None:
                    summary = _import_remote(remote, path, options, progress)
                else:
                    summary = _import_here(path, options, progress)
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


@dataclass(frozen=True, slots=True)
class Options:
    """How to read one file, as the command line gave it."""

    fmt: str | None
    mapping: Path | None
    deployment: str | None
    strict: bool
    rejects: Path


@dataclass(frozen=True, slots=True)
class Steps:
    """Where progress goes: the total once known, then each stored chunk."""

    total: Callable[[int], None]
    advance: Callable[[int], None]


def _set_total(bar: Progress, task: TaskID, total: int) -> None:
    bar.update(task, total=total)


def _import_here(path: Path, options: Options, progress: Steps) -> ImportSummary:
    """The import on this process's own stores (no server runs on the data dir)."""
    from daytwo.governance import audit
    from daytwo.governance.policies import redaction_plan
    from daytwo.ingest.files import detect_format, import_file, progress_total
    from daytwo.settings import Settings

    # Each deployment's redaction policy applies to its records, as on the API.
    with open_ledger() as ledger:
        plan = redaction_plan(ledger, Settings().pseudonym_key())
    if path.exists():
        progress.total(progress_total(path, detect_format(path, options.fmt)))
    with open_events(read_only=False) as store:
        summary = import_file(
            store,
            path,
            fmt=options.fmt,
            mapping=options.mapping,
            deployment=options.deployment,
            strict=options.strict,
            rejects=options.rejects,
            progress=progress.advance,
            redaction=plan,
        )
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
    return summary


def _import_remote(remote: Remote, path: Path, options: Options, progress: Steps) -> ImportSummary:
    """The same import, done by the server that holds the stores (see ``/api/v1/imports``)."""
    import orjson

    from daytwo.errors import DaytwoError, error_from_body
    from daytwo.ingest.imports_api import summary_from_json

    body = {
        "path": str(path.resolve()),
        "format": options.fmt,
        "mapping": str(options.mapping.resolve()) if options.mapping else None,
        "deployment": options.deployment,
        "strict": options.strict,
        "rejects": str(options.rejects.resolve()),
    }
    with remote.stream("POST", "/api/v1/imports", json=body) as response:
        for line in response.iter_lines():
            if not line:
                continue
            event = orjson.loads(line)
            if "total" in event:
                progress.total(int(event["total"]))
            elif "advance" in event:
                progress.advance(int(event["advance"]))
            elif "summary" in event:
                return summary_from_json(event["summary"])
            elif "error" in event:
                raise error_from_body(500, {"error": event["error"]})
    raise DaytwoError(f"The server stopped answering while importing {path.name}.")


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
