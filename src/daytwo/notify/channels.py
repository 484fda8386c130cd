"""Sending one payload over one channel: a signed webhook, a Slack incoming webhook, SMTP, or
one of the many services Apprise speaks (Teams, Discord, PagerDuty, ntfy, …) by its URL.

Every failure becomes a :class:`SendFailed` with a message a person can act on (and the HTTP
status or SMTP code when there is one); nothing here raises anything else for a bad host,
bad TLS, refused credentials or a slow receiver, so delivery never crashes the server.
"""

from __future__ import annotations

import smtplib
import ssl
import time
from dataclasses import dataclass
from email.message import EmailMessage

import httpx

from daytwo.errors import InputError
from daytwo.notify.calc import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from daytwo.notify.messages import (
    document_email,
    email_message,
    headline,
    plain_text,
    slack_message,
    webhook_body,
)
from daytwo.notify.schemas import AlertPayload, DocumentPayload

USER_AGENT = "daytwo-notify/1"


class SendFailed(Exception):
    """A delivery attempt failed; ``status_code`` is the HTTP status or SMTP reply code."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True, slots=True)
class Target:
    """A channel resolved for sending: its kind, where, and its secret in the clear."""

    name: str
    kind: str
    url: str | None
    secret: str | None
    recipients: tuple[str, ...]
    smtp_host: str | None
    smtp_port: int | None
    smtp_security: str
    smtp_username: str | None
    sender: str | None
    timeout_s: float


def send(target: Target, payload: AlertPayload, *, recipient: str | None, thread_key: str) -> int:
    """Send ``payload``; the status code on success, :class:`SendFailed` otherwise."""
    if target.kind == "webhook":
        return _post_webhook(target, payload)
    if target.kind == "slack":
        return _post_slack(target, payload)
    if target.kind == "email":
        return _send_mail(target, payload, recipient=recipient, thread_key=thread_key)
    if target.kind == "apprise":
        return _send_apprise(target, payload)
    raise SendFailed(f"unknown channel kind {target.kind!r}")


def apprise_url(url: str | None) -> str:
    """``url`` if Apprise knows its service and can read it; a clear error naming the scheme
    otherwise (checked when the channel is made)."""
    import apprise

    scheme, sep, _ = (url or "").partition("://")
    if not url or not scheme or not sep:
        raise InputError(f"An Apprise URL looks like discord://… or json://host/path, not {url!r}.")
    if apprise.Apprise.instantiate(url) is None:
        raise InputError(
            f"Apprise cannot use the URL of scheme {scheme!r}: an unknown service or a URL "
            "it cannot read (see https://github.com/caronc/apprise/wiki for each service's)."
        )
    return url


def _send_apprise(target: Target, payload: AlertPayload) -> int:
    """One message through Apprise: the alert's headline as title (``Update:`` before it for
    a later event of the alert), its plain text and alert number as body.
    Apprise tells a failure only in its log, which is kept as the attempt's error."""
    import logging

    import apprise

    assert target.secret is not None  # the Apprise URL is the secret
    scheme = target.secret.partition("://")[0]
    sender = apprise.Apprise()
    if not sender.add(target.secret):
        raise SendFailed(f"Apprise cannot use the {scheme}:// URL")
    capture = apprise.LogCapture(level=logging.WARNING, fmt="%(message)s")  # type: ignore[no-untyped-call]
    with capture as log:
        sent = sender.notify(
            title=("Update: " if payload.update else "") + headline(payload),
            body=plain_text(payload) + f"\nalert #{payload.alert_id}\n",
            body_format=apprise.NotifyFormat.TEXT,
        )  # fmt: skip
        why = " ".join(log.getvalue().split())
    if not sent:
        raise SendFailed(f"Apprise could not send to {scheme}://" + (f": {why}" if why else ""))
    return 200


def _post(url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> int:
    try:
        response = httpx.post(
            url, content=body, headers={"user-agent": USER_AGENT, **headers}, timeout=timeout_s
        )
    except httpx.TimeoutException:
        raise SendFailed(f"no answer from {url} within {timeout_s:g} s") from None
    except httpx.ConnectError as exc:
        raise SendFailed(f"cannot connect to {url}: {_reason(exc)}") from None
    except httpx.HTTPError as exc:
        raise SendFailed(f"request to {url} failed: {_reason(exc)}") from None
    if response.status_code >= 300:
        snippet = response.text[:200].strip()
        raise SendFailed(
            f"{url} answered {response.status_code}" + (f": {snippet}" if snippet else ""),
            response.status_code,
        )
    return response.status_code


def _reason(exc: BaseException) -> str:
    cause = exc.__context__ or exc.__cause__
    text = str(exc) or type(exc).__name__
    if isinstance(cause, ssl.SSLError):
        return f"TLS failed ({cause.reason or cause})"
    return text


def _post_webhook(target: Target, payload: AlertPayload) -> int:
    assert target.url is not None
    assert target.secret is not None
    body = webhook_body(payload)
    timestamp = int(time.time())
    headers = {
        "content-type": "application/json",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(target.secret, timestamp, body),
        IDEMPOTENCY_HEADER: payload.idempotency_key,
    }
    return _post(target.url, body, headers, target.timeout_s)


def _post_slack(target: Target, payload: AlertPayload) -> int:
    assert target.secret is not None  # the webhook URL is the secret
    import orjson

    body = orjson.dumps(slack_message(payload))
    return _post(target.secret, body, {"content-type": "application/json"}, target.timeout_s)


def _send_mail(
    target: Target, payload: AlertPayload, *, recipient: str | None, thread_key: str
) -> int:
    assert target.smtp_host is not None
    assert target.sender is not None
    recipients = [recipient] if recipient else list(target.recipients)
    if not recipients:
        raise SendFailed("no recipient: the channel has none and the owner has no e-mail")
    msg = email_message(payload, sender=target.sender, recipients=recipients, thread_key=thread_key)
    return _smtp_send(target, msg)


def send_document(target: Target, doc: DocumentPayload, *, recipient: str | None) -> int:
    """Send a document (an issued report with its PDF) by e-mail; other kinds refuse it."""
    if target.kind != "email":
        raise SendFailed(
            f"channel {target.name!r} is a {target.kind} channel: documents go by e-mail"
        )
    assert target.sender is not None
    recipients = [r.strip() for r in recipient.split(",")] if recipient else list(target.recipients)
    if not recipients:
        raise SendFailed("no recipient: the subscription and the channel name none")
    return _smtp_send(target, document_email(doc, sender=target.sender, recipients=recipients))


def _smtp_send(target: Target, msg: EmailMessage) -> int:
    """Hand ``msg`` to the channel's SMTP server; every failure a :class:`SendFailed`."""
    assert target.smtp_host is not None
    port = target.smtp_port or {"tls": 465, "starttls": 587}.get(target.smtp_security, 25)
    context = ssl.create_default_context()
    where = f"{target.smtp_host}:{port}"
    try:
        smtp: smtplib.SMTP
        if target.smtp_security == "tls":
            smtp = smtplib.SMTP_SSL(
                target.smtp_host, port, timeout=target.timeout_s, context=context
            )
        else:
            smtp = smtplib.SMTP(target.smtp_host, port, timeout=target.timeout_s)
        with smtp:
            if target.smtp_security == "starttls":
                smtp.starttls(context=context)
            if target.smtp_username:
                smtp.login(target.smtp_username, target.secret or "")
            smtp.send_message(msg)
    except smtplib.SMTPAuthenticationError as exc:
        raise SendFailed(
            f"{where} refused the credentials of {target.smtp_username!r}", exc.smtp_code
        ) from None
    except smtplib.SMTPNotSupportedError:
        raise SendFailed(f"{where} does not offer STARTTLS (choose tls or none)") from None
    except smtplib.SMTPResponseException as exc:
        raise SendFailed(
            f"{where} answered {exc.smtp_code}: {exc.smtp_error!r}", exc.smtp_code
        ) from None
    except ssl.SSLError as exc:
        raise SendFailed(f"TLS with {where} failed: {exc.reason or exc}") from None
    except TimeoutError:
        raise SendFailed(f"no answer from {where} within {target.timeout_s:g} s") from None
    except (OSError, smtplib.SMTPException) as exc:
        raise SendFailed(f"cannot send through {where}: {exc}") from None
    return 250
