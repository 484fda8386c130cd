"""`daytwo notify`: channels, routes, owner preferences, test messages, the delivery log."""

from __future__ import annotations

import json
import time

import typer
from rich.table import Table

from daytwo.cli.console import out
from daytwo.cli.stores import actor as cli_actor
from daytwo.cli.stores import open_events, open_ledger, server, validated
from daytwo.cli.stores import settings as stores_settings
from daytwo.errors import ConfigError, InputError
from daytwo.notify import alerts, outbox, service
from daytwo.notify.events import raise_due
from daytwo.notify.schemas import ChannelCreate, PreferenceSet, RouteCreate

app = typer.Typer(help="Alerts: channels, routes, preferences, delivery.", no_args_is_help=True)
channels_app = typer.Typer(help="Where alerts go: webhook, Slack, e-mail.", no_args_is_help=True)
routes_app = typer.Typer(help="Which alerts go where.", no_args_is_help=True)
app.add_typer(channels_app, name="channels")
app.add_typer(routes_app, name="routes")
AS = typer.Option(None, "--as", help="Who is acting (default: cli:<your user>).")
JSON = typer.Option(False, "--json", help="Print JSON.")


def _dump(rows: list[object]) -> None:
    out.print_json(json.dumps([r.model_dump(mode="json") for r in rows]))  # type: ignore[attr-defined]


@channels_app.command("list")
def list_channels(as_json: bool = JSON) -> None:
    """The channels (secrets are never printed, only how each is kept)."""
    with open_ledger() as ledger:
        rows = service.list_channels(ledger)
    if as_json:
        _dump(list(rows))
        return
    table = Table("name", "kind", "target", "secret")
    for r in rows:
        table.add_row(r.name, r.kind, str(r.config.get("url") or r.target), r.secret)
    out.print(table)


@channels_app.command("add")
def add_channel(
    name: str = typer.Argument(..., help="Unique name, e.g. cards-oncall."),
    kind: str = typer.Option(..., help="webhook, slack, email or apprise."),
    url: str = typer.Option(None, help="webhook: where to POST; slack: the incoming-webhook URL."),
    to: list[str] = typer.Option([], "--to", help="e-mail: a recipient (repeat)."),
    smtp_host: str = typer.Option(None, help="e-mail: the SMTP server."),
    smtp_port: int = typer.Option(None, help="e-mail: its port (587, 465 or 25 by security)."),
    smtp_security: str = typer.Option("starttls", help="e-mail: starttls, tls or none."),
    smtp_username: str = typer.Option(None, help="e-mail: the SMTP login."),
    sender: str = typer.Option(None, help="e-mail: the From address."),
    secret_env: str = typer.Option(
        None, help="Read the secret (signing key, SMTP password) from this environment variable."
    ),
    secret_stdin: bool = typer.Option(
        False, "--secret-stdin", help="Read the secret from standard input (stored encrypted)."
    ),
    max_per_hour: int = typer.Option(
        None, help="At most this many messages an hour; beyond it, grouped into one message."
    ),
) -> None:
    """Add a channel. A webhook without a secret gets a generated one, printed this once."""
    secret = typer.get_text_stream("stdin").read().strip() if secret_stdin else None
    spec = validated(
        ChannelCreate,
        {
            "name": name, "kind": kind, "url": url, "recipients": to, "smtp_host": smtp_host,
            "smtp_port": smtp_port, "smtp_security": smtp_security,
            "smtp_username": smtp_username, "sender": sender, "secret": secret,
            "secret_env": secret_env, "max_per_hour": max_per_hour,
        },
    )  # fmt: skip
    settings = stores_settings()
    with open_ledger() as ledger:
        created = service.create_channel(
            ledger, spec, server_key=settings.session_key(), actor=cli_actor(None)
        )
    out.print(f"added channel [bold]{created.channel.name}[/] ({created.channel.kind})")
    if created.generated_secret:
        out.print(f"signing secret (shown once): {created.generated_secret}")


@channels_app.command("remove")
def remove_channel(name: str = typer.Argument(...)) -> None:
    """Remove a channel, its routes and its deliveries."""
    with open_ledger() as ledger:
        service.delete_channel(ledger, name)
    out.print(f"removed channel {name}")


@routes_app.command("list")
def list_routes(as_json: bool = JSON) -> None:
    """The routing rules."""
    with open_ledger() as ledger:
        rows = service.list_routes(ledger)
    if as_json:
        _dump(list(rows))
        return
    table = Table(
        "id", "channel", "deployment", "owner", "events", "up to", "journey", "kind", "per hour"
    )
    for r in rows:
        table.add_row(
            str(r.id), r.channel, r.deployment or "any", r.owner or "any",
            ", ".join(r.event_kinds) or "any", r.max_priority, r.journey or "any",
            r.finding_kind or "any", str(r.max_per_hour) if r.max_per_hour else "no limit",
        )  # fmt: skip
    out.print(table)


@routes_app.command("add")
def add_route(
    channel: str = typer.Argument(..., help="The channel's name."),
    deployment: str = typer.Option(None, "--deployment", "-d", help="Only this deployment."),
    owner: str = typer.Option(None, help="Only this owner's alerts."),
    event: list[str] = typer.Option([], "--event", help="Only this event kind (repeat)."),
    max_priority: str = typer.Option("P2", help="Up to this priority (P1 most urgent)."),
    journey: str = typer.Option(None, help="Only this journey."),
    kind: str = typer.Option(None, help="Only this finding kind."),
    max_per_hour: int = typer.Option(
        None,
        help="At most this many messages an hour through this route (P1 breaks "
        "through); beyond it, grouped into one message.",
    ),
    actor: str = AS,
) -> None:
    """Send matching alerts to a channel (besides the owner's own)."""
    spec = validated(
        RouteCreate,
        {
            "channel": channel, "deployment": deployment, "owner": owner, "event_kinds": event,
            "max_priority": max_priority, "journey": journey, "finding_kind": kind,
            "max_per_hour": max_per_hour,
        },
    )  # fmt: skip
    with open_ledger() as ledger:
        route = service.add_route(ledger, spec, actor=cli_actor(actor))
    out.print(f"added route {route.id} → {route.channel}")


@routes_app.command("remove")
def remove_route(route_id: int = typer.Argument(...)) -> None:
    with open_ledger() as ledger:
        service.delete_route(ledger, route_id)
    out.print(f"removed route {route_id}")


@app.command("prefs")
def prefs(
    owner: str = typer.Argument(..., help="The owner's handle."),
    channel: str = typer.Option(None, help="Their own channel (default: their e-mail contact)."),
    escalation: str = typer.Option(None, help="Where their unacknowledged P1s escalate."),
    timezone: str = typer.Option("UTC", help="Their IANA time zone."),
    quiet: str = typer.Option(None, help="Quiet hours, e.g. 22:00-07:00 (P1 breaks through)."),
    digest: str = typer.Option(
        "off", help="off, daily or weekly: non-P1 messages wait for one digest at 08:00."
    ),
) -> None:
    """Set an owner's notification preferences."""
    spec = validated(
        PreferenceSet,
        {"channel": channel, "escalation_channel": escalation, "timezone": timezone,
         "quiet_hours": quiet, "digest": digest},
    )  # fmt: skip
    with open_ledger() as ledger:
        service.set_preference(ledger, owner, spec)
    out.print(f"preferences of {owner} saved")


@app.command("test")
def send_test_command(
    channel: str = typer.Argument(..., help="The channel's name."),
    to: str = typer.Option(None, "--to", help="e-mail: send to this address instead."),
    actor: str = AS,
) -> None:
    """Send a test message through a channel now and say what happened."""
    settings = stores_settings()
    with open_ledger() as ledger:
        detail = outbox.send_test(ledger, settings, channel, actor=cli_actor(actor), recipient=to)
    if detail.status != "delivered":
        raise InputError(f"The test message to {channel} failed: {detail.last_error}")
    out.print(f"test message delivered to {channel} ({detail.log[-1].duration_ms:.0f} ms)")


@app.command("log")
def log(
    status: str = typer.Option(None, help="pending, sending, delivered or dead."),
    limit: int = typer.Option(50, help="How many, newest first."),
    as_json: bool = JSON,
) -> None:
    """The delivery log: every message, its status, attempts and last error."""
    with open_ledger() as ledger:
        rows = outbox.delivery_log(ledger, status=status, limit=limit)
    if as_json:
        _dump(list(rows))
        return
    table = Table("id", "created", "event", "alert", "channel", "status", "tries", "last error")
    for r in rows:
        table.add_row(
            str(r.id), f"{r.created_at:%m-%d %H:%M:%S}", r.event, str(r.alert_id), r.channel,
            r.status, str(r.attempts), r.last_error[:60],
        )  # fmt: skip
    out.print(table)


@app.command("alerts")
def list_alerts(status: str = typer.Option(None), as_json: bool = JSON) -> None:
    """The alerts, one per problem."""
    with open_ledger() as ledger:
        rows = alerts.list_alerts(ledger, status=status)
    if as_json:
        _dump(list(rows))
        return
    table = Table("id", "priority", "deployment", "owner", "status", "events", "title")
    for r in rows:
        table.add_row(
            str(r.id), r.priority, r.deployment, r.owner or "-", r.status, str(r.events), r.title
        )
    out.print(table)


@app.command("ack")
def ack(alert_id: int = typer.Argument(...), actor: str = AS) -> None:
    """Acknowledge an alert (recorded in its item's history; escalation stops)."""
    with open_ledger() as ledger:
        alert = alerts.acknowledge(ledger, alert_id, actor=cli_actor(actor), via="cli")
    out.print(f"alert {alert.id} acknowledged by {alert.acknowledged_by}")


@app.command("retry")
def retry(delivery_id: int = typer.Argument(...)) -> None:
    """Send a dead delivery again."""
    with open_ledger() as ledger:
        outbox.retry(ledger, delivery_id)
    out.print(f"delivery {delivery_id} will be sent again")


@app.command("deliver")
def deliver(
    loop: bool = typer.Option(False, "--loop", help="Keep delivering until interrupted."),
    every: float = typer.Option(1.0, help="Seconds between passes with --loop."),
) -> None:
    """Raise missing alerts (problems, SLA clocks, silent feeds), escalate and send what is
    due (`daytwo serve` does this)."""
    remote = server()
    if remote is not None:
        if loop:
            raise ConfigError(
                f"daytwo serve at {remote.record.url} delivers on its own (every "
                f"{stores_settings().notify_deliver_seconds:g} s); `daytwo notify log` lists "
                "what it sent."
            )
        done = remote.post("/api/v1/notify/deliver")  # one pass now, by the server
        out.print(
            f"{done['delivered']} delivered, {done['failed']} to retry, {done['dead']} dead,"
            f" {done['escalated']} escalated"
        )
        return
    stores = stores_settings()
    with open_ledger() as ledger:
        while True:
            with open_events() as events:  # per pass: never held between passes
                raise_due(ledger, stores, events)
            escalated = alerts.escalate_due(ledger, stores)
            report = outbox.deliver_due(ledger, stores)
            if not loop:
                out.print(
                    f"{report.delivered} delivered, {report.failed} to retry, {report.dead} dead,"
                    f" {escalated} escalated"
                )
                return
            time.sleep(every)
