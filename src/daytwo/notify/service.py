"""Channels, routes and owner preferences: created with every check that can be made then."""

from __future__ import annotations

import secrets as token_source
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlparse

from sqlalchemy import select
from sqlalchemy.orm import Session

from daytwo.backlog.models import Owner
from daytwo.errors import ConflictError, InputError, NotFoundError
from daytwo.notify import vault
from daytwo.notify.calc import MIN_SECRET_LENGTH, parse_quiet_hours, parse_zone
from daytwo.notify.channels import Target, apprise_url
from daytwo.notify.models import Channel, Preference, Route
from daytwo.notify.schemas import (
    ChannelCreate,
    ChannelPublic,
    PreferencePublic,
    PreferenceSet,
    RouteCreate,
    RoutePublic,
)
from daytwo.store.ledger import Deployment, Ledger


@dataclass(frozen=True, slots=True)
class CreatedChannel:
    channel: ChannelPublic
    # A signing secret daytwo generated: shown this once, never again.
    generated_secret: str | None


def _http_url(url: str | None, what: str) -> str:
    parsed = urlparse(url or "")
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise InputError(f"{what} must be an http(s) URL, not {url!r}.")
    return url or ""


def _mailbox(address: str, what: str) -> str:
    local, at, domain = address.strip().partition("@")
    if not (local and at and "." in domain) or " " in address.strip():
        raise InputError(f"{what} {address!r} is not an e-mail address.")
    return address.strip()


def channel_by_name(session: Session, name: str) -> Channel:
    row = session.scalar(select(Channel).where(Channel.name == name))
    if row is None:
        raise NotFoundError(f"No notification channel named {name!r}.")
    return row


def public_channel(row: Channel) -> ChannelPublic:
    kept = f"from ${row.secret_env}" if row.secret_env else "stored encrypted"
    if row.secret_box is None and row.secret_env is None:
        kept = "none"
    return ChannelPublic(
        id=row.id, name=row.name, kind=row.kind, target=row.target, config=dict(row.config),
        secret=kept, active=row.active, created_by=row.created_by, created_at=row.created_at,
    )  # fmt: skip


def create_channel(
    ledger: Ledger, spec: ChannelCreate, *, server_key: bytes, actor: str
) -> CreatedChannel:
    """Check and store a channel; its secret is sealed (or referenced), never kept in clear."""
    generated = None
    secret = spec.secret
    config: dict[str, object] = {"timeout_s": spec.timeout_s}
    if spec.max_per_hour is not None:
        config["max_per_hour"] = spec.max_per_hour
    if spec.secret and spec.secret_env:
        raise InputError("Give the secret or the environment variable that holds it, not both.")
    if spec.kind == "webhook":
        target = _http_url(spec.url, "A webhook URL")
        if secret is None and spec.secret_env is None:
            secret = generated = token_source.token_urlsafe(32)
        if secret is not None and len(secret) < MIN_SECRET_LENGTH:
            raise InputError(
                f"A webhook signing secret needs at least {MIN_SECRET_LENGTH} characters "
                f"(got {len(secret)}); leave it out and one is generated."
            )
    elif spec.kind == "slack":
        # The incoming-webhook URL is the credential: it is the secret, shown by host only.
        url = spec.url or secret
        if spec.secret_env is None:
            url = _http_url(url, "A Slack incoming-webhook URL")
            secret = url
        target = f"slack webhook on {urlparse(url or '').netloc}" if url else "slack webhook"
    elif spec.kind == "apprise":
        # An Apprise URL (discord://…, msteams://…, json://…) carries the service's tokens:
        # it is the secret, shown by its scheme only.
        url = spec.url or secret
        if spec.secret_env is None:
            secret = url = apprise_url(url)
        target = f"apprise {urlparse(url or '').scheme}://" if url else "apprise"
    else:
        if not spec.smtp_host:
            raise InputError("An e-mail channel needs smtp_host.")
        if not spec.sender:
            raise InputError("An e-mail channel needs a sender (the From address).")
        _mailbox(spec.sender, "The sender")
        recipients = [_mailbox(r, "Recipient") for r in spec.recipients]
        if spec.smtp_username and secret is None and spec.secret_env is None:
            raise InputError("An SMTP username needs a password (secret or secret_env).")
        target = ", ".join(recipients)
        config.update(
            smtp_host=spec.smtp_host, smtp_port=spec.smtp_port, smtp_security=spec.smtp_security,
            smtp_username=spec.smtp_username, sender=spec.sender, recipients=recipients,
        )  # fmt: skip
    with ledger.session() as session:
        if session.scalar(select(Channel.id).where(Channel.name == spec.name)) is not None:
            raise ConflictError(f"A channel named {spec.name!r} already exists.")
        row = Channel(
            name=spec.name,
            kind=spec.kind,
            target=target[:500],
            config=config | ({"url": spec.url} if spec.kind == "webhook" else {}),
            secret_box=vault.seal(server_key, secret) if secret is not None else None,
            secret_env=spec.secret_env,
            active=True,
            created_by=actor,
        )
        session.add(row)
        session.flush()
        return CreatedChannel(public_channel(row), generated)


def list_channels(ledger: Ledger) -> list[ChannelPublic]:
    with ledger.session() as session:
        return [public_channel(r) for r in session.scalars(select(Channel).order_by(Channel.name))]


def delete_channel(ledger: Ledger, name: str) -> None:
    with ledger.session() as session:
        session.delete(channel_by_name(session, name))


def resolve_target(row: Channel, server_key: bytes) -> Target:
    """The channel ready to send: its secret opened (from the ledger or the environment)."""
    secret = None
    if row.secret_env:
        secret = vault.from_env(row.secret_env, channel=row.name)
    elif row.secret_box:
        secret = vault.open_sealed(server_key, row.secret_box, channel=row.name)
    cfg = row.config
    port = cfg.get("smtp_port")
    return Target(
        name=row.name,
        kind=row.kind,
        url=str(cfg["url"]) if cfg.get("url") else None,
        secret=secret,
        recipients=tuple(str(r) for r in cfg.get("recipients", ())),
        smtp_host=str(cfg["smtp_host"]) if cfg.get("smtp_host") else None,
        smtp_port=int(port) if port else None,
        smtp_security=str(cfg.get("smtp_security", "starttls")),
        smtp_username=str(cfg["smtp_username"]) if cfg.get("smtp_username") else None,
        sender=str(cfg["sender"]) if cfg.get("sender") else None,
        timeout_s=float(cfg.get("timeout_s", 10.0)),
    )


# -- routes ----------------------------------------------------------------------------------


def _route_public(row: Route, channel: str) -> RoutePublic:
    return RoutePublic(
        id=row.id, channel=channel, deployment=row.deployment, owner=row.owner,
        event_kinds=list(row.event_kinds), max_priority=row.max_priority, journey=row.journey,
        finding_kind=row.finding_kind, max_per_hour=row.max_per_hour,
    )  # fmt: skip


def _known_owner(session: Session, handle: str) -> None:
    if session.scalar(select(Owner.id).where(Owner.handle == handle)) is None:
        raise NotFoundError(f"No owner with handle {handle!r}: add it to the owner directory.")


def add_route(ledger: Ledger, spec: RouteCreate, *, actor: str) -> RoutePublic:
    with ledger.session() as session:
        channel = channel_by_name(session, spec.channel)
        if spec.owner is not None:
            _known_owner(session, spec.owner)
        if spec.deployment is not None:
            dep = session.scalar(select(Deployment).where(Deployment.name == spec.deployment))
            if dep is None:
                raise NotFoundError(f"No deployment named {spec.deployment!r}.")
            if spec.journey is not None and dep.journeys and spec.journey not in dep.journeys:
                raise InputError(
                    f"The route can never match: {spec.deployment!r} has no journey "
                    f"{spec.journey!r}."
                )
        row = Route(
            channel_id=channel.id, deployment=spec.deployment, owner=spec.owner,
            event_kinds=list(spec.event_kinds), max_priority=spec.max_priority,
            journey=spec.journey, finding_kind=spec.finding_kind,
            max_per_hour=spec.max_per_hour, created_by=actor,
        )  # fmt: skip
        session.add(row)
        session.flush()
        return _route_public(row, channel.name)


def list_routes(ledger: Ledger) -> list[RoutePublic]:
    with ledger.session() as session:
        rows = session.execute(
            select(Route, Channel.name)
            .join(Channel, Channel.id == Route.channel_id)
            .order_by(Route.id)
        ).all()
        return [_route_public(r, name) for r, name in rows]


def delete_route(ledger: Ledger, route_id: int) -> None:
    with ledger.session() as session:
        row = session.get(Route, route_id)
        if row is None:
            raise NotFoundError(f"No notification route {route_id}.")
        session.delete(row)


# -- preferences -----------------------------------------------------------------------------


def set_preference(ledger: Ledger, owner: str, spec: PreferenceSet) -> PreferencePublic:
    try:
        parse_zone(spec.timezone)
        if spec.quiet_hours is not None:
            parse_quiet_hours(spec.quiet_hours, spec.timezone)
    except ValueError as exc:
        raise InputError(f"Preferences of {owner!r}: {exc}.") from None
    with ledger.session() as session:
        _known_owner(session, owner)
        channel = channel_by_name(session, spec.channel) if spec.channel else None
        escalation = (
            channel_by_name(session, spec.escalation_channel) if spec.escalation_channel else None
        )
        row = session.scalar(select(Preference).where(Preference.owner == owner))
        if row is None:
            row = Preference(owner=owner)
            session.add(row)
        row.channel_id = channel.id if channel else None
        row.escalation_channel_id = escalation.id if escalation else None
        row.timezone = spec.timezone
        row.quiet_hours = spec.quiet_hours
        if spec.digest != row.digest:
            row.digest_sent_at = datetime.now(UTC)  # the first digest covers from now on
        row.digest = spec.digest
        session.flush()
        return PreferencePublic(
            owner=owner, channel=spec.channel, escalation_channel=spec.escalation_channel,
            timezone=spec.timezone, quiet_hours=spec.quiet_hours, digest=spec.digest,
        )  # fmt: skip


def list_preferences(ledger: Ledger) -> list[PreferencePublic]:
    with ledger.session() as session:
        names: dict[int, str] = dict(session.execute(select(Channel.id, Channel.name)).all())
        return [
            PreferencePublic(
                owner=p.owner,
                channel=names.get(p.channel_id) if p.channel_id else None,
                escalation_channel=(
                    names.get(p.escalation_channel_id) if p.escalation_channel_id else None
                ),
                timezone=p.timezone,
                quiet_hours=p.quiet_hours,
                digest=p.digest,
            )
            for p in session.scalars(select(Preference).order_by(Preference.owner))
        ]
