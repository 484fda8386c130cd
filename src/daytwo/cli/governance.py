"""`daytwo users`, `daytwo keys`, `daytwo audit`, `daytwo retention`: governance from the shell.

Everything these commands change is written to the audit log, with ``cli:<os user>`` as who.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import TYPE_CHECKING

import typer

from daytwo.cli.console import err, out
from daytwo.cli.stores import actor, open_events, open_ledger, read_ledger, server, settings
from daytwo.errors import InputError
from daytwo.governance.roles import KeyScope, Role

if TYPE_CHECKING:
    from daytwo.governance.listing import KeyPublic, UserPublic
    from daytwo.governance.redact import RedactionPolicy
    from daytwo.store.ledger import Ledger

users_app = typer.Typer(help="User accounts, roles and deployment grants.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
retention_app = typer.Typer(help="How long raw data is kept, per deployment.", no_args_is_help=True)


def _grants(value: str) -> tuple[str, ...]:
    return tuple(d.strip() for d in value.split(",") if d.strip())


# --- users ----------------------------------------------------------------------------------


@users_app.command("create")
def users_create(
    username: str = typer.Argument(..., help="Sign-in name."),
    role: Role = typer.Option(Role.viewer, help="admin, owner, analyst or viewer."),
    grant: str = typer.Option("", help="Comma-separated deployments the user may see."),
) -> None:
    """Create a user with a random password, printed once."""
    from daytwo.governance import accounts

    password = accounts.new_password()
    with open_ledger() as ledger:
        user = accounts.create_user(
            ledger, username, password, role, grants=_grants(grant), actor=actor()
        )
    out.print(f"created [bold]{user.username}[/] ({user.role.value})")
    out.print(f"password (shown once): [bold]{password}[/]")


@users_app.command("list")
def users_list(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Users, roles, grants and lockouts."""
    from rich.table import Table

    from daytwo.governance.listing import read_users

    rows = read_ledger(read_users, _users_orm)
    if as_json:
        out.print_json(
            json.dumps(
                [
                    {
                        "username": u.username,
                        "role": u.role.value,
                        "active": u.active,
                        "grants": list(u.grants),
                        "locked_until": u.locked_until.isoformat() if u.locked_until else None,
                    }
                    for u in rows
                ]
            )
        )
        return
    table = Table("user", "role", "active", "grants", "locked until")
    for u in rows:
        grants = "(all)" if u.role is Role.admin else ", ".join(u.grants) or "-"
        locked = u.locked_until.strftime("%Y-%m-%d %H:%M") if u.locked_until else "-"
        table.add_row(u.username, u.role.value, "yes" if u.active else "no", grants, locked)
    out.print(table)


def _users_orm(ledger: Ledger) -> list[UserPublic]:
    from daytwo.governance import accounts

    return accounts.list_users(ledger)


@users_app.command("grant")
def users_grant(
    username: str = typer.Argument(...),
    deployments: str = typer.Argument(..., help="Comma-separated deployments."),
) -> None:
    """Let a user see (and, by role, change) deployments."""
    from daytwo.governance import accounts

    with open_ledger() as ledger:
        user = accounts.set_grants(ledger, username, add=_grants(deployments), actor=actor())
    out.print(f"{user.username} sees: {', '.join(user.grants) or '-'}")


@users_app.command("revoke")
def users_revoke(
    username: str = typer.Argument(...),
    deployments: str = typer.Argument(..., help="Comma-separated deployments."),
) -> None:
    """Take deployments away from a user."""
    from daytwo.governance import accounts

    with open_ledger() as ledger:
        user = accounts.set_grants(ledger, username, remove=_grants(deployments), actor=actor())
    out.print(f"{user.username} sees: {', '.join(user.grants) or '-'}")


@users_app.command("set")
def users_set(
    username: str = typer.Argument(...),
    role: Role = typer.Option(None, help="New role."),
    active: bool = typer.Option(None, "--active/--disabled", help="Enable or disable."),
    reset_password: bool = typer.Option(
        False, "--reset-password", help="Set a new random password (printed once)."
    ),
) -> None:
    """Change a user's role, disable or enable them, or reset their password (which also
    lifts a lockout and signs them out everywhere)."""
    from daytwo.governance import accounts

    password = accounts.new_password() if reset_password else None
    with open_ledger() as ledger:
        user = accounts.update_user(
            ledger, username, role=role, active=active, password=password, actor=actor()
        )
    out.print(f"{user.username}: {user.role.value}, {'active' if user.active else 'disabled'}")
    if password:
        out.print(f"new password (shown once): [bold]{password}[/]")


# --- keys -----------------------------------------------------------------------------------

_DURATION = re.compile(r"^(\d+)([hdw])$")


def parse_duration(value: str) -> timedelta:
    """``12h``, ``30d``, ``8w``."""
    m = _DURATION.match(value.strip())
    if not m:
        raise InputError(f"--expires looks like 12h, 30d or 8w, not {value!r}.")
    n, unit = int(m.group(1)), m.group(2)
    if n < 1:
        raise InputError("--expires must be at least one hour.")
    return {"h": timedelta(hours=n), "d": timedelta(days=n), "w": timedelta(weeks=n)}[unit]


@keys_app.command("create")
def keys_create(
    deployment: str = typer.Option(
        None, "--deployment", help="The deployment the key is for (admin keys: omit for all)."
    ),
    scope: KeyScope = typer.Option(
        ..., "--scope", help="ingest (write only), read, admin, or metrics (scrape /metrics only)."
    ),
    name: str = typer.Option("", "--name", help="What the key is for."),
    expires: str = typer.Option(None, "--expires", help="Lifetime: 12h, 30d, 8w."),
) -> None:
    """Create an API key and print it once; only its hash is stored."""
    from daytwo.governance import keys

    lifetime = parse_duration(expires) if expires else None
    with open_ledger() as ledger:
        key, public = keys.create_key(
            ledger,
            scope=scope,
            deployment=deployment,
            name=name,
            expires_in=lifetime,
            actor=actor(),
        )
    err.print(
        f"{public.scope.value} key {public.prefix} for {public.deployment or 'every deployment'}"
        + (f", expires {public.expires_at:%Y-%m-%d %H:%M} UTC" if public.expires_at else "")
        + ". It is shown once: store it now.",
        soft_wrap=True,
    )
    out.print(key, soft_wrap=True)


@keys_app.command("list")
def keys_list(
    deployment: str = typer.Option(None, "--deployment", help="Only this deployment's keys."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Keys (never their secrets) with scope, deployment, expiry and status."""
    from rich.table import Table

    from daytwo.governance.listing import read_keys

    rows = read_ledger(lambda r: read_keys(r, deployment), lambda led: _keys_orm(led, deployment))
    if as_json:
        out.print_json(
            json.dumps(
                [
                    {
                        "prefix": k.prefix,
                        "name": k.name,
                        "scope": k.scope.value,
                        "deployment": k.deployment,
                        "status": k.status(),
                        "expires_at": k.expires_at.isoformat() if k.expires_at else None,
                        "last_used_at": k.last_used_at.isoformat() if k.last_used_at else None,
                    }
                    for k in rows
                ]
            )
        )
        return
    table = Table("key", "name", "scope", "deployment", "status", "expires", "last used")
    for k in rows:
        table.add_row(
            k.prefix,
            k.name or "-",
            k.scope.value,
            k.deployment or "(all)",
            k.status(),
            k.expires_at.strftime("%Y-%m-%d %H:%M") if k.expires_at else "never",
            k.last_used_at.strftime("%Y-%m-%d %H:%M") if k.last_used_at else "-",
        )
    out.print(table)


def _keys_orm(ledger: Ledger, deployment: str | None) -> list[KeyPublic]:
    from daytwo.governance import keys

    return keys.list_keys(ledger, deployment)


@keys_app.command("revoke")
def keys_revoke(
    prefix: str = typer.Argument(..., help="The key's id, as `keys list` shows."),
) -> None:
    """Revoke a key at once."""
    from daytwo.governance import keys

    with open_ledger() as ledger:
        keys.revoke_key(ledger, prefix, actor=actor())
    out.print(f"revoked {prefix}")


# --- audit ----------------------------------------------------------------------------------


@audit_app.command("verify")
def audit_verify(
    head: str = typer.Option(
        None,
        "--head",
        help="ID:HASH printed by an earlier verify and kept elsewhere: also detects deleted "
        "newest entries.",
    ),
) -> None:
    """Check the hash chain; name every edited, deleted or reordered entry (exit 1 if any).

    Trace requests' audit counts that a stopped server left in the events store (killed and
    not started again) are folded into the chain first, as the server's next start would.
    """
    from daytwo.governance import audit

    recorded: tuple[int, str] | None = None
    if head:
        entry_id, _, entry_hash = head.partition(":")
        if not entry_id.isdigit() or len(entry_hash) != 64:
            raise InputError("--head takes ID:HASH as printed by `daytwo audit verify`.")
        recorded = (int(entry_id), entry_hash)
    with open_ledger() as ledger:
        folded = _fold_left_counts(ledger)
        if folded:
            out.print(
                f"folded {folded:,} trace request(s) a stopped server had counted into the "
                "audit log"
            )
        result = audit.verify(ledger, recorded_head=recorded)
    if result.ok:
        out.print(
            f"audit log intact: {result.entries:,} entries, head {result.entries}:{result.head} "
            "(keep it outside daytwo and pass it as --head next time)"
        )
        return
    for b in result.breaks:
        err.print(f"[bold red]entry {b.entry_id} {b.problem}:[/] {b.message}")
    raise typer.Exit(1)


def _fold_left_counts(ledger: Ledger) -> int:
    """Fold the audit counts staged in this data dir's events store into the ledger, unless
    a running server holds that store (it folds them itself, every few seconds); how many
    requests they count."""
    from pathlib import Path

    from daytwo.governance import audit
    from daytwo.http import link

    data = settings()
    url = data.resolved_events_url
    if not url.startswith("duckdb:///") or not Path(url.removeprefix("duckdb:///")).exists():
        return 0  # only the DuckDB store stages counts; none there yet
    if link.read(data.data_dir) is not None:
        return 0
    with open_events(read_only=False) as events:
        return audit.fold_staged_audit(ledger, events)


@audit_app.command("list")
def audit_list(
    actor_name: str = typer.Option(None, "--actor", help="Only this actor (user:NAME, key:ID)."),
    action: str = typer.Option(None, "--action", help="Actions starting with this."),
    deployment: str = typer.Option(None, "--deployment"),
    limit: int = typer.Option(50, min=1, max=10_000),
) -> None:
    """The newest entries, filtered."""
    from rich.table import Table

    from daytwo.governance import audit

    with open_ledger() as ledger:
        rows = audit.entries(
            ledger, actor=actor_name, action=action, deployment=deployment, limit=limit
        )
    table = Table("#", "when (UTC)", "who", "what", "target", "deployment", "from", "change")
    for e in rows:
        change = f"{json.dumps(e.before) if e.before else ''} -> {json.dumps(e.after)}"
        table.add_row(
            str(e.id),
            e.at.strftime("%Y-%m-%d %H:%M:%S"),
            e.actor,
            e.action,
            e.target,
            e.deployment or "-",
            e.ip or "-",
            change if e.after else "",
        )
    out.print(table)


# --- retention ------------------------------------------------------------------------------


@retention_app.command("set")
def retention_set(
    deployment: str = typer.Argument(...),
    text_days: int = typer.Option(
        None, "--text-days", min=0, help="Keep turn text this many days (0: forever)."
    ),
    interaction_days: int = typer.Option(
        None, "--interaction-days", min=0, help="Keep interactions this many days (0: forever)."
    ),
) -> None:
    """Set a deployment's retention periods."""
    from daytwo.governance import policies

    changes: dict[str, int | None] = {}
    if text_days is not None:
        changes["text_retention_days"] = text_days or None
    if interaction_days is not None:
        changes["interaction_retention_days"] = interaction_days or None
    if not changes:
        raise InputError("Give --text-days and/or --interaction-days.")
    with open_ledger() as ledger:
        policy = policies.set_policy(ledger, deployment, actor=actor(), **changes)  # type: ignore[arg-type]
    out.print(
        f"{deployment}: turn text kept {_days(policy.text_retention_days)}, "
        f"interactions kept {_days(policy.interaction_retention_days)}"
    )


def _days(days: int | None) -> str:
    return "forever" if days is None else f"{days} days"


@retention_app.command("apply")
def retention_apply() -> None:
    """Apply every deployment's retention now (`serve` also does it on a schedule)."""
    from daytwo.governance import policies

    remote = server()
    if remote is not None:
        results = [
            policies.RetentionResult(**r) for r in remote.post("/api/v1/admin/retention/runs")
        ]
    else:
        with open_ledger() as ledger, open_events(read_only=False) as events:
            results = policies.apply_retention(ledger, events, actor=actor())
    if not results:
        out.print("no deployment has a retention policy")
    for r in results:
        out.print(
            f"{r.deployment}: {r.texts_cleared:,} turn texts cleared, "
            f"{r.interactions_deleted:,} interactions deleted"
        )


# --- redaction ------------------------------------------------------------------------------

redaction_app = typer.Typer(
    help="Which PII each deployment redacts at ingest.", no_args_is_help=True
)


@redaction_app.command("set")
def redaction_set(
    deployment: str = typer.Argument(...),
    kinds: str = typer.Option(
        None, "--kinds", help="Comma-separated built-in kinds (default: all of them)."
    ),
    pattern: list[str] = typer.Option(
        [], "--pattern", help="A custom kind as NAME=REGEX (repeatable); `<CUSTOM:NAME>`."
    ),
    disable: bool = typer.Option(
        False, "--disable", help="Store this deployment's text unredacted (audited)."
    ),
    pseudonymize: bool = typer.Option(
        False,
        "--pseudonymize-customers",
        help="Store customer references as keyed hashes (HMAC-SHA256, the server's key).",
    ),
) -> None:
    """Set a deployment's redaction policy (replaces the previous one)."""
    from pydantic import ValidationError

    from daytwo.governance import policies
    from daytwo.governance.pii_patterns import PiiKind
    from daytwo.governance.redact import RedactionPolicy

    chosen = (
        frozenset(PiiKind(k.strip()) for k in kinds.split(",") if k.strip())
        if kinds is not None
        else frozenset(PiiKind)
    )
    custom = []
    for item in pattern:
        name, sep, regex = item.partition("=")
        if not sep:
            raise InputError(f"--pattern looks like NAME=REGEX, not {item!r}.")
        custom.append({"name": name.strip(), "pattern": regex})
    try:
        policy = RedactionPolicy.model_validate(
            {
                "enabled": not disable,
                "kinds": chosen,
                "custom_patterns": custom,
                "pseudonymize_customers": pseudonymize,
            }
        )
    except ValidationError as exc:
        raise InputError(f"Invalid redaction policy: {exc.errors()[0]['msg']}") from None
    with open_ledger() as ledger:
        policies.set_policy(ledger, deployment, redaction=policy, actor=actor())
    out.print(f"{deployment}: {_describe(policy)}")


@redaction_app.command("show")
def redaction_show() -> None:
    """Every deployment's redaction policy (the others get the default: every kind)."""
    from daytwo.governance import policies
    from daytwo.governance.redact import RedactionPolicy

    with open_ledger() as ledger:
        rows = policies.list_policies(ledger)
    out.print(f"default: {_describe(RedactionPolicy())}")
    for p in rows:
        out.print(f"{p.deployment}: {_describe(p.redaction)}")


def _describe(policy: RedactionPolicy) -> str:
    pseudonyms = "; customer references pseudonymised" if policy.pseudonymize_customers else ""
    return _describe_text(policy) + pseudonyms


def _describe_text(policy: RedactionPolicy) -> str:
    from daytwo.governance.pii_patterns import PiiKind

    if not policy.enabled:
        return "redaction OFF"
    kinds = [k.value for k in PiiKind if k in policy.kinds]
    custom = [p.name for p in policy.custom_patterns]
    return (
        "redacts " + ", ".join(kinds + [f"custom:{c}" for c in custom])
        if kinds or custom
        else "redacts nothing"
    )
