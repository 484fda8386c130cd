"""Entry point of the `daytwo` command: builds Settings once and maps errors to exit codes."""

from __future__ import annotations

import importlib
import re
import sys

import typer
import typer.main
from typer import _click as click  # the click that Typer vendors (and types against)
from typer.core import TyperCommand, TyperGroup

from daytwo import __version__
from daytwo.cli import stores
from daytwo.cli.console import err
from daytwo.errors import DaytwoError
from daytwo.store.faults import storage_fault

# Every command, in the order `daytwo --help` lists them: (module under daytwo.cli, attribute,
# one line of help). A command's module is imported only when that command runs (or its own
# help is asked for), so `daytwo keys list` does not pay for the report renderer or the
# notification channels: start-up stays well under a second.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "demo": (
        "demo",
        "demo",
        "Generate a realistic 90-day contact-center deployment into the data dir and serve it.",
    ),
    "serve": ("serve", "serve", "Serve the web UI and the API (migrates the ledger first)."),
    "import": (
        "importer",
        "import_files",
        "Import interaction exports; invalid records go to a rejects file, valid ones are stored.",
    ),
    "analyze": (
        "analyze",
        "analyze",
        "Run every detector and record the findings (incremental; safe to repeat).",
    ),
    "findings": ("analyze", "findings", "The findings in the ledger, most severe first."),
    "gaps": (
        "gaps",
        "gaps",
        "Knowledge gaps of a deployment: label, type, volume, growth, journeys and examples, "
        "by volume × growth; off-topic chit-chat counted apart.",
    ),
    "doctor": (
        "doctor",
        "doctor",
        "Check the events store: schema, size, parts, merges, query memory, retention.",
    ),
    "db": ("db", "app", "Manage the database schemas."),
    "users": ("governance", "users_app", "User accounts, roles and deployment grants."),
    "keys": ("governance", "keys_app", "API keys: create (shown once), list, revoke."),
    "audit": ("governance", "audit_app", "The hash-chained audit log."),
    "retention": ("governance", "retention_app", "How long raw data is kept, per deployment."),
    "redaction": ("governance", "redaction_app", "Which PII each deployment redacts at ingest."),
    "deployments": ("deployments", "app", "List and register deployments."),
    "metrics": ("metrics", "app", "The metric catalog and metric values."),
    "items": ("items", "app", "The improvement backlog: list, show, assign, move."),
    "owners": ("owners", "app", "Owners, routing rules and default owners."),
    "change": ("change", "app", "Record changes and measure their impact."),
    "adoption": (
        "adoption",
        "app",
        "Adoption: who uses the AI, who stopped, workarounds, champions, pilot vs rollout.",
    ),
    "notify": ("notify", "app", "Alerts: channels, routes, preferences, delivery."),
    "plan": ("plan", "app", "The 90-day plan: phases, exit gates, sign-off."),
    "rollout": ("rollout", "app", "Rollout by journey: states, readiness, what next."),
    "report": ("report", "app", "Stakeholder reports."),
}


def load_command(name: str) -> click.Command:
    """The click command of one top-level command, importing its module now."""
    module, attribute, _ = COMMANDS[name]
    target = getattr(importlib.import_module(f"daytwo.cli.{module}"), attribute)
    if isinstance(target, typer.Typer):
        command: click.Command = typer.main.get_group(target)
    else:
        single = typer.Typer(add_completion=False)
        single.command(name)(target)
        command = typer.main.get_command(single)
    command.name = name
    _unwrap_help(command)
    return command


def _unwrap_help(command: click.Command) -> None:
    """Join the lines of each paragraph of a command's help (and its subcommands'): help is
    written as wrapped docstrings, and the terminal wraps it again to its own width."""
    if command.help:
        paragraphs = re.split(r"\n\s*\n", command.help.strip())
        command.help = "\n\n".join(" ".join(p.split()) for p in paragraphs)
    for sub in getattr(command, "commands", {}).values():
        _unwrap_help(sub)


class LazyCommands(TyperGroup):
    """The root group: commands are imported when used; the root help lists them from
    `COMMANDS` without importing any."""

    _listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name not in COMMANDS:
            return None
        if self._listing:  # the root help: one line per command, nothing imported
            return TyperCommand(name=cmd_name, help=COMMANDS[cmd_name][2])
        self.commands[cmd_name] = load_command(cmd_name)
        return self.commands[cmd_name]

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def every_command(self, ctx: click.Context) -> dict[str, click.Command]:
        """Every command, loaded (for the docs and the suite's walk over the CLI)."""
        return {name: cmd for name in COMMANDS if (cmd := self.get_command(ctx, name))}


app = typer.Typer(
    name="daytwo",
    help="Operations for AI assistants after go-live.",
    cls=LazyCommands,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


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
