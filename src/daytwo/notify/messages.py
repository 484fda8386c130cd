"""What each channel sends, built from one :class:`AlertPayload`: the webhook's JSON body,
a Slack Block Kit message, and a multipart e-mail (plain text and HTML)."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime
from html import escape
from typing import Any

import orjson

from daytwo.notify.schemas import AlertPayload, DocumentPayload, PayloadItem

_EVENT_TITLES = {
    "problem.new": "New problem",
    "problem.regressed": "Regression",
    "problem.priority_raised": "Priority raised",
    "problem.resolved": "Resolved",
    "sla.at_risk": "SLA at risk",
    "sla.breached": "SLA breached",
    "gate.ready": "Gate ready",
    "gate.stopped_holding": "Gate stopped holding",
    "feed.silent": "Feed silent",
    "feed.resumed": "Feed back",
    "traffic.error_spike": "Error spike",
    "traffic.fallback_spike": "Fallback spike",
    "traffic.latency_spike": "Slow answers",
    "traffic.volume_drop": "Traffic drop",
    "traffic.volume_surge": "Traffic surge",
    "traffic.recovered": "Back to usual",
    "alert.escalated": "Escalated: not acknowledged",
    "grouped": "Grouped",
    "digest": "Digest",
    "test": "Test message",
}
_SLACK_TEXT_LIMIT = 3000  # a section's text may not be longer


def _open(item: PayloadItem) -> str:
    return "Open item" if item.id is not None else "Open"


def headline(payload: AlertPayload) -> str:
    """``[P1] Regression · care-bot · Card not arriving: fallback rate up``."""
    what = _EVENT_TITLES.get(payload.event, payload.event)
    return f"[{payload.item.priority}] {what} · {payload.deployment} · {payload.item.title}"


def webhook_body(payload: AlertPayload) -> bytes:
    """The webhook's body: the payload as compact JSON (the bytes that are signed)."""
    return orjson.dumps(payload.model_dump(mode="json", by_alias=True))


def _mrkdwn(text: str) -> str:
    # Slack's mrkdwn needs &, < and > escaped; nothing else.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(payload: AlertPayload) -> dict[str, Any]:
    """A Block Kit message: a header, the summary, the facts, the evidence and the links.

    Incoming webhooks cannot thread, so a later event of the same alert says it is an update
    and names the alert (``alert #12``) so it can be found."""
    item = payload.item
    fields = [
        f"*Priority*\n{item.priority}",
        f"*Owner*\n{_mrkdwn(item.owner or 'unowned')}",
        f"*Deployment*\n{_mrkdwn(payload.deployment)}",
        f"*Journey*\n{_mrkdwn(item.journey or 'all')}",
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": headline(payload)[:150]}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": _mrkdwn(payload.summary)[:_SLACK_TEXT_LIMIT]},
            "fields": [{"type": "mrkdwn", "text": f} for f in fields],
        },
    ]
    if payload.evidence:
        lines = "\n".join(f"• {_mrkdwn(e)}" for e in payload.evidence)
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": lines[:_SLACK_TEXT_LIMIT]}}
        )
    buttons = []
    if item.url:
        buttons.append(
            {"type": "button", "text": {"type": "plain_text", "text": _open(item)}, "url": item.url}
        )
    if payload.acknowledge_url:
        buttons.append(
            {
                "type": "button",
                "style": "primary",
                "text": {"type": "plain_text", "text": "Acknowledge"},
                "url": payload.acknowledge_url,
            }
        )
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    context = f"alert #{payload.alert_id}" + (" · update" if payload.update else "")
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    return {"text": headline(payload), "blocks": blocks}


def message_id(key: str, domain: str) -> str:
    """A stable Message-ID for an idempotency key: a resent mail is recognisably the same."""
    return f"<{key.replace(':', '.').replace('/', '.')}@{domain}>"


def _facts(payload: AlertPayload) -> list[tuple[str, str]]:
    item = payload.item
    return [
        ("Priority", item.priority),
        ("Owner", item.owner or "unowned"),
        ("Deployment", payload.deployment),
        ("Journey", item.journey or "all"),
    ]


def plain_text(payload: AlertPayload) -> str:
    """The alert as plain text (a mail's text part, a message of another service): its
    headline, summary, facts, evidence and links."""
    item = payload.item
    text = [headline(payload), "", payload.summary, ""]
    text += [f"{k}: {v}" for k, v in _facts(payload)]
    text += ["", *[f"- {e}" for e in payload.evidence]]
    if item.url:
        text += ["", f"{_open(item)}: {item.url}"]
    if payload.acknowledge_url:
        text += [f"Acknowledge: {payload.acknowledge_url}"]
    return "\n".join(text) + "\n"


def email_message(
    payload: AlertPayload, *, sender: str, recipients: list[str], thread_key: str
) -> EmailMessage:
    """A multipart/alternative mail; updates of the alert reply to its first message, so
    mail clients thread them."""
    domain = sender.rpartition("@")[2] or "daytwo.local"
    msg = EmailMessage()
    msg["Subject"] = headline(payload)
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = format_datetime(payload.occurred_at)
    msg["Message-ID"] = message_id(payload.idempotency_key, domain)
    msg["X-Daytwo-Idempotency-Key"] = payload.idempotency_key
    if payload.update:
        first = message_id(thread_key, domain)
        msg["In-Reply-To"] = first
        msg["References"] = first
    item = payload.item
    facts = _facts(payload)
    msg.set_content(plain_text(payload))
    rows = "".join(
        f"<tr><th align='left'>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in facts
    )
    evidence = "".join(f"<li>{escape(e)}</li>" for e in payload.evidence)
    links = []
    if item.url:
        links.append(f"<a href='{escape(item.url)}'>{_open(item)}</a>")
    if payload.acknowledge_url:
        links.append(f"<a href='{escape(payload.acknowledge_url)}'>Acknowledge</a>")
    html = (
        f"<html><body style='font-family:system-ui,sans-serif'>"
        f"<h2 style='font-size:16px'>{escape(headline(payload))}</h2>"
        f"<p>{escape(payload.summary)}</p><table>{rows}</table>"
        f"<ul>{evidence}</ul><p>{' · '.join(links)}</p></body></html>"
    )
    msg.add_alternative(html, subtype="html")
    return msg


def document_email(doc: DocumentPayload, *, sender: str, recipients: list[str]) -> EmailMessage:
    """A document as mail: plain text and HTML alternatives, the attachment as a file."""
    import base64

    domain = sender.rpartition("@")[2] or "daytwo.local"
    msg = EmailMessage()
    msg["Subject"] = doc.subject
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = format_datetime(doc.occurred_at)
    msg["Message-ID"] = message_id(doc.idempotency_key, domain)
    msg["X-Daytwo-Idempotency-Key"] = doc.idempotency_key
    msg.set_content(doc.text)
    msg.add_alternative(doc.html, subtype="html")
    msg.add_attachment(
        base64.b64decode(doc.attachment_b64),
        maintype="application",
        subtype="pdf",
        filename=doc.attachment_name,
    )
    return msg
