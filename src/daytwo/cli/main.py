"""Entry point of the `daytwo` command: builds Settings once and maps errors to exit codes."""

from __future__ import annotations

import sys

import typer

from daytwo import __version__
from daytwo.cli import (
    adoption,
    analyze,
    change,
    db,
    demo,
    deployments,
    gaps,
    governance,
    importer,
    items,
    metrics,
    notify,
    owners,
    report,
    serve,
    stores,
)
from daytwo.cli.console import err
from daytwo.errors import DaytwoError
from daytwo.store.faults import storage_fault

app = typer.Typer(
    name="daytwo",
    help="Operations for AI assistants after go-live.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("demo")(demo.demo)
app.command("serve")(serve.serve)
app.command("import")(importer.import_files)
app.command("analyze")(analyze.analyze)
app.command("findings")(analyze.findings)
app.command("gaps")(gaps.gaps)
app.add_typer(db.app, name="db")
app.add_typer(governance.users_app, name="users")
app.add_typer(governance.keys_app, name="keys")
app.add_typer(governance.audit_app, name="audit")
app.add_typer(governance.retention_app, name="retention")
app.add_typer(governance.redaction_app, name="redaction")
app.add_typer(deployments.app, name="deployments")
app.add_typer(metrics.app, name="metrics")
app.add_typer(items.app, name="items")
app.add_typer(owners.app, name="owners")
app.add_typer(change.app, name="change")
app.add_typer(adoption.app, name="adoption")
app.add_typer(notify.app, name="notify")
app.add_typer(report.app, name="report")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        help="Print the version and exit.",
        is_eager=True,
        callback=_print_version,
    ),
) -> None:
    """Operations for AI assistants after go-live."""


def run(argv: list[str] | None = None) -> int:
    """Run the CLI; user mistakes end in a clear message and an exit code, never a traceback."""
    try:
        return _run(argv)
    finally:
        stores.close()


def _run(argv: list[str] | None) -> int:
    stores.settings.cache_clear()  # each run reads the environment as it is now
    try:
        result = app(args=argv, standalone_mode=False)
    except DaytwoError as exc:
        err.print(f"[bold red]error:[/] {exc.message}", soft_wrap=True)
        return exc.exit_code
    except typer.Abort:
        err.print("aborted")
        return 130
    except typer.Exit as exc:
        return int(getattr(exc, "exit_code", 0))
    except typer.TyperException as exc:  # usage errors: unknown command, bad option value
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            err.print(f"[bold red]error:[/] {exc}")
        return int(getattr(exc, "exit_code", 2))
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130
    except Exception as exc:
        # A full disk, a read-only file system, a store another process holds: one line.
        fault = storage_fault(exc, where="the data dir")
        if fault is None:
            raise
        err.print(f"[bold red]error:[/] {fault.message}", soft_wrap=True)
        return fault.exit_code
    return result if isinstance(result, int) else 0


def main() -> None:
    sys.exit(run())
