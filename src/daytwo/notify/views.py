"""The notifications page (alerts to acknowledge, channels with "send a test", routes,
preferences, the delivery log) and the signed acknowledgement link alerts carry."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from daytwo.backlog.api import ActorDep
from daytwo.errors import DaytwoError, PermissionDenied
from daytwo.http.access import Scope, requires
from daytwo.http.deps import LedgerDep, SettingsDep
from daytwo.http.params import RowId
from daytwo.http.templating import templates
from daytwo.notify import alerts, outbox, service
from daytwo.notify.calc import ack_signature

READ = [requires(Scope.read)]
MANAGE = [requires(Scope.manage)]
PUBLIC = [requires(Scope.public)]  # the signature is the credential

router = APIRouter(include_in_schema=False)

# What an alert is about, by its kind and the state it last told (an item's problem and its
# SLA clock are two alerts with the item's title: this tells them apart).
_ABOUT = {
    ("sla", "triage.at_risk"): "triage due soon",
    ("sla", "triage.breached"): "triage late",
    ("sla", "fix.at_risk"): "fix due soon",
    ("sla", "fix.breached"): "fix late",
    ("gate", "ready"): "gate ready",
    ("gate", "not_holding"): "gate no longer holds",
    ("feed", "silent"): "feed silent",
    ("feed", "flowing"): "feed flowing again",
}
_KIND = {"problem": "new problem", "sla": "SLA clock", "gate": "plan gate", "feed": "feed"}


def alert_about(kind: str, state: str | None) -> str:
    """A few words on what an alert is about: "new problem", "fix late", "gate ready"."""
    return _ABOUT.get((kind, state or ""), _KIND.get(kind, kind))


@router.get("/notify", response_class=HTMLResponse, dependencies=READ)
def notify_page(
    request: Request, ledger: LedgerDep, status: str | None = None, error: str | None = None,
    sent: int | None = None, alert: int | None = None,
) -> HTMLResponse:  # fmt: skip
    log = outbox.delivery_log(ledger, status=status or None, alert_id=alert, limit=100)
    context = {
        "alerts": alerts.list_alerts(ledger, limit=50),
        "channels": service.list_channels(ledger),
        "routes": service.list_routes(ledger),
        "preferences": service.list_preferences(ledger),
        "log": log,
        "status": status,
        "error": error,
        "sent": outbox.delivery_detail(ledger, sent) if sent else None,
        "about": alert_about,
    }
    return templates.TemplateResponse(request, "notify.html", context)


@router.post("/notify/alerts/{alert_id}/ack", dependencies=MANAGE)
def ack_form(alert_id: RowId, ledger: LedgerDep, actor: ActorDep) -> RedirectResponse:
    alerts.acknowledge(ledger, alert_id, actor=actor, via="page")
    return RedirectResponse("/notify", status_code=303)


@router.post("/notify/channels/{name}/test", dependencies=MANAGE)
def test_form(
    name: str, ledger: LedgerDep, settings: SettingsDep, actor: ActorDep
) -> RedirectResponse:
    try:
        detail = outbox.send_test(ledger, settings, name, actor=actor)
    except DaytwoError as exc:
        return RedirectResponse(f"/notify?error={exc}", status_code=303)
    return RedirectResponse(f"/notify?sent={detail.id}", status_code=303)


@router.post("/notify/deliveries/{delivery_id}/retry", dependencies=MANAGE)
def retry_form(delivery_id: RowId, ledger: LedgerDep) -> RedirectResponse:
    outbox.retry(ledger, delivery_id)
    return RedirectResponse("/notify?status=pending", status_code=303)


def _check_signature(request: Request, alert_id: int, sig: str) -> None:
    expected = ack_signature(request.app.state.session_key, alert_id)
    if not hmac.compare_digest(expected, sig):
        raise PermissionDenied("This acknowledgement link is not valid for this alert.")


@router.get("/notify/ack/{alert_id}", response_class=HTMLResponse, dependencies=PUBLIC)
def ack_link_page(request: Request, alert_id: RowId, sig: str, ledger: LedgerDep) -> HTMLResponse:
    """What the link in a message opens: the alert and one button (a GET changes nothing,
    so link previews in mail and chat cannot acknowledge by themselves)."""
    _check_signature(request, alert_id, sig)
    alert = alerts.get_alert(ledger, alert_id)
    return templates.TemplateResponse(
        request, "notify_ack.html", {"alert": alert, "sig": sig, "done": False}
    )


@router.post("/notify/ack/{alert_id}", response_class=HTMLResponse, dependencies=PUBLIC)
def ack_link_confirm(
    request: Request, alert_id: RowId, ledger: LedgerDep,
    sig: Annotated[str, Form()], name: Annotated[str, Form(max_length=200)] = "",
) -> HTMLResponse:  # fmt: skip
    _check_signature(request, alert_id, sig)
    who = name.strip() or "signed link"
    alert = alerts.acknowledge(ledger, alert_id, actor=who, via="signed link")
    return templates.TemplateResponse(
        request, "notify_ack.html", {"alert": alert, "sig": sig, "done": True}
    )
