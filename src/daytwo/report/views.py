"""The weekly update and the monthly review in the UI, the same documents as PDF, and as JSON."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field, ValidationError

from daytwo.backlog.api import ActorDep
from daytwo.deployments.service import overview
from daytwo.errors import DaytwoError, NotFoundError
from daytwo.http.access import Scope, check_deployments, current_principal, granted, requires
from daytwo.http.deps import EventsDep, LedgerDep, SettingsDep
from daytwo.http.params import RowId
from daytwo.http.templating import templates
from daytwo.notify.service import list_channels
from daytwo.report.archive import (
    IssuedPublic,
    get_issued,
    issue_report,
    issued_pdf,
    list_issued,
    public,
)
from daytwo.report.monthly import MonthlyReview, last_full_month, monthly_review
from daytwo.report.render import monthly_body, monthly_html, to_pdf, weekly_body, weekly_html
from daytwo.report.schedule import (
    SubscriptionCreate,
    SubscriptionPublic,
    list_subscriptions,
    subscribe,
    unsubscribe,
)
from daytwo.report.weekly import WeeklyUpdate, last_full_week, weekly_update
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger

router = APIRouter(include_in_schema=False, dependencies=[requires(Scope.read)])


def readable(request: Request, ledger: Ledger, events: EventStore, deployment: str | None) -> str:
    """The deployment asked for (default the first the caller may read); one the caller may
    not read is not found, as if it did not exist."""
    names = [d.name for d in granted(request, overview(ledger, events))]
    if not names:
        raise NotFoundError("No deployment to report on yet.")
    deployment = deployment or names[0]
    if deployment not in names:
        raise NotFoundError(f"No deployment named {deployment!r}.")
    return deployment


def readable_all(request: Request, ledger: Ledger, events: EventStore) -> list[str]:
    return [d.name for d in granted(request, overview(ledger, events))]


def _currency(request: Request) -> str | None:
    return request.query_params.get("currency") or None


def _update(
    request: Request, ledger: Ledger, events: EventStore, deployment: str | None, week: str | None
) -> WeeklyUpdate:
    name = readable(request, ledger, events, deployment)
    period = week or last_full_week(datetime.now(UTC))
    return weekly_update(ledger, events, name, period, currency=_currency(request))


def _review(
    request: Request, ledger: Ledger, events: EventStore, deployment: str | None, month: str | None
) -> MonthlyReview:
    name = readable(request, ledger, events, deployment)
    period = month or last_full_month(datetime.now(UTC))
    return monthly_review(ledger, events, name, period, currency=_currency(request))


def pdf_response(pdf: bytes, filename: str) -> Response:
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/reports/weekly", response_class=HTMLResponse)
def weekly_page(
    request: Request,
    ledger: LedgerDep,
    events: EventsDep,
    deployment: str | None = None,
    week: str | None = None,
) -> HTMLResponse:
    update = _update(request, ledger, events, deployment, week)
    return templates.TemplateResponse(
        request, "report_weekly.html", {"u": update, "body": weekly_body(update)}
    )


@router.get("/reports/weekly.pdf")
def weekly_pdf(
    request: Request,
    ledger: LedgerDep,
    events: EventsDep,
    settings: SettingsDep,
    deployment: str,
    week: str | None = None,
) -> Response:
    update = _update(request, ledger, events, deployment, week)
    title = f"{update.deployment}: weekly update, {update.week}"
    html = weekly_html(title, update, base=settings.notify_public_url)
    return pdf_response(to_pdf(html), f"{update.deployment}-weekly-{update.week}.pdf")


@router.get("/reports/monthly", response_class=HTMLResponse)
def monthly_page(
    request: Request,
    ledger: LedgerDep,
    events: EventsDep,
    deployment: str | None = None,
    month: str | None = None,
) -> HTMLResponse:
    review = _review(request, ledger, events, deployment, month)
    return templates.TemplateResponse(
        request, "report_monthly.html", {"r": review, "body": monthly_body(review)}
    )


@router.get("/reports/monthly.pdf")
def monthly_pdf(
    request: Request,
    ledger: LedgerDep,
    events: EventsDep,
    settings: SettingsDep,
    deployment: str,
    month: str | None = None,
) -> Response:
    review = _review(request, ledger, events, deployment, month)
    title = f"{review.deployment}: monthly review, {review.month}"
    html = monthly_html(title, review, base=settings.notify_public_url)
    return pdf_response(to_pdf(html), f"{review.deployment}-monthly-{review.month}.pdf")


WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _archive(
    request: Request,
    ledger: Ledger,
    events: EventStore,
    *,
    deployment: str | None = None,
    kind: str | None = None,
    form: dict[str, Any] | None = None,
    error: str | None = None,
    notice: str | None = None,
) -> HTMLResponse:
    readable_names = readable_all(request, ledger, events)
    names = [readable(request, ledger, events, deployment)] if deployment else readable_names
    principal = current_principal(request)
    can_manage = principal is not None and Scope.manage in principal.scopes
    return templates.TemplateResponse(
        request,
        "report_archive.html",
        {
            "rows": list_issued(ledger, names, kind=kind or None),
            "subs": list_subscriptions(ledger, names),
            "deployment": deployment,
            "kind": kind,
            "can_manage": can_manage,
            "deployments": readable_names,
            "channels": [c for c in list_channels(ledger) if c.kind == "email"]
            if can_manage
            else [],
            "weekdays": WEEKDAYS,
            "form": form or {"deployment": deployment or "", "kind": "weekly", "hour": 8,
                             "weekday": 0, "day": 1, "timezone": "UTC"},
            "error": error,
            "notice": notice,
        },
    )  # fmt: skip


@router.get("/reports/archive", response_class=HTMLResponse)
def archive_page(
    request: Request,
    ledger: LedgerDep,
    events: EventsDep,
    deployment: str | None = None,
    kind: str | None = None,
    notice: str | None = None,
) -> HTMLResponse:
    return _archive(request, ledger, events, deployment=deployment, kind=kind, notice=notice)


@router.post(
    "/reports/subscriptions", response_class=HTMLResponse, dependencies=[requires(Scope.manage)]
)
def subscribe_form(
    request: Request,
    ledger: LedgerDep,
    events: EventsDep,
    actor: ActorDep,
    deployment: Annotated[str, Form(max_length=100)] = "",
    kind: Annotated[str, Form(max_length=16)] = "weekly",
    channel: Annotated[str, Form(max_length=100)] = "",
    recipients: Annotated[str, Form(max_length=2000)] = "",
    weekday: Annotated[str, Form(max_length=4)] = "0",
    day: Annotated[str, Form(max_length=4)] = "1",
    hour: Annotated[str, Form(max_length=4)] = "8",
    timezone: Annotated[str, Form(max_length=64)] = "UTC",
) -> Response:
    """The archive page's form: a schedule added (then back to the page, 303), or the page
    again with the error beside the form and what was typed kept; nothing is written."""
    form = {"deployment": deployment, "kind": kind, "channel": channel, "recipients": recipients,
            "weekday": weekday, "day": day, "hour": hour, "timezone": timezone}  # fmt: skip
    if deployment:
        check_deployments(request, Scope.manage, [deployment])  # a denial is not a form error
    addresses = [r.strip() for r in recipients.replace(";", ",").split(",") if r.strip()]
    try:
        spec = SubscriptionCreate.model_validate({**form, "recipients": addresses})
        readable(request, ledger, events, spec.deployment)
        sub = subscribe(ledger, spec, actor=actor)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "form"
        message = f"{where}: {first['msg']}"
        return _archive(request, ledger, events, form=form, error=message)
    except DaytwoError as exc:
        return _archive(request, ledger, events, form=form, error=exc.message)
    notice = f"{sub.deployment}'s {sub.kind} report now goes to {sub.channel}."
    return RedirectResponse(f"/reports/archive?notice={quote(notice)}#subscribe", status_code=303)


@router.post(
    "/reports/subscriptions/{subscription_id}/delete", dependencies=[requires(Scope.manage)]
)
def unsubscribe_form(
    request: Request, subscription_id: RowId, ledger: LedgerDep, events: EventsDep, actor: ActorDep
) -> RedirectResponse:
    unsubscribe(ledger, subscription_id, readable_all(request, ledger, events), actor=actor)
    notice = f"Subscription {subscription_id} stopped."
    return RedirectResponse(f"/reports/archive?notice={quote(notice)}#subscribe", status_code=303)


@router.get("/reports/archive/{report_id:int}", response_class=HTMLResponse)
def archived_document(
    request: Request, report_id: RowId, ledger: LedgerDep, events: EventsDep
) -> HTMLResponse:
    """The issued document exactly as it was issued and sent."""
    row = get_issued(ledger, report_id, readable_all(request, ledger, events))
    return HTMLResponse(row.html)


@router.get("/reports/archive/{report_id:int}.pdf")
def archived_pdf(
    request: Request, report_id: RowId, ledger: LedgerDep, events: EventsDep
) -> Response:
    """The issued PDF, byte for byte what was attached to the mail; laid out from the kept HTML
    on its first download and kept from then on."""
    row = get_issued(ledger, report_id, readable_all(request, ledger, events))
    name = f"{row.deployment}-{row.kind}-{row.period}-v{row.version}.pdf"
    return pdf_response(issued_pdf(ledger, row), name)


api_router = APIRouter(prefix="/api/v1/reports", tags=["reports"])


class IssueRequest(BaseModel):
    kind: str = Field(description="weekly or monthly")
    deployment: str = Field(min_length=1, max_length=100)
    period: str | None = Field(
        default=None, description="2026-W48 or 2026-11; default the last full one"
    )
    currency: str | None = None


@api_router.post(
    "/issued",
    response_model=IssuedPublic,
    status_code=201,
    summary="Issue a report into the archive (a re-issue is a new version)",
    dependencies=[requires(Scope.manage)],
)
def issue_api(
    request: Request,
    spec: IssueRequest,
    ledger: LedgerDep,
    events: EventsDep,
    settings: SettingsDep,
    actor: ActorDep,
) -> IssuedPublic:
    check_deployments(request, Scope.manage, [spec.deployment])
    name = readable(request, ledger, events, spec.deployment)
    now = datetime.now(UTC)
    period = spec.period or (last_full_week(now) if spec.kind == "weekly" else last_full_month(now))
    row = issue_report(
        ledger, events, kind=spec.kind, deployment=name, period=period, issued_by=actor,
        base=settings.notify_public_url, currency=spec.currency, now=now, render_pdf=True,
    )  # fmt: skip
    return public(row)


@api_router.get(
    "/issued",
    response_model=list[IssuedPublic],
    summary="The archive: every issued report the caller may read",
    dependencies=[requires(Scope.read)],
)
def issued_api(
    request: Request,
    ledger: LedgerDep,
    events: EventsDep,
    deployment: str | None = None,
    kind: str | None = None,
) -> list[IssuedPublic]:
    names = readable_all(request, ledger, events)
    if deployment:
        names = [readable(request, ledger, events, deployment)]
    return list_issued(ledger, names, kind=kind or None)


@api_router.get(
    "/subscriptions",
    response_model=list[SubscriptionPublic],
    summary="Reports sent on schedule",
    dependencies=[requires(Scope.read)],
)
def subscriptions_api(
    request: Request, ledger: LedgerDep, events: EventsDep
) -> list[SubscriptionPublic]:
    return list_subscriptions(ledger, readable_all(request, ledger, events))


@api_router.post(
    "/subscriptions",
    response_model=SubscriptionPublic,
    status_code=201,
    summary="Send a deployment's weekly or monthly report on schedule by e-mail",
    dependencies=[requires(Scope.manage)],
)
def subscribe_api(
    request: Request,
    spec: SubscriptionCreate,
    ledger: LedgerDep,
    events: EventsDep,
    actor: ActorDep,
) -> SubscriptionPublic:
    check_deployments(request, Scope.manage, [spec.deployment])
    readable(request, ledger, events, spec.deployment)
    return subscribe(ledger, spec, actor=actor)


@api_router.delete(
    "/subscriptions/{subscription_id}",
    status_code=204,
    summary="Stop a scheduled report",
    dependencies=[requires(Scope.manage)],
)
def unsubscribe_api(
    request: Request, subscription_id: RowId, ledger: LedgerDep, events: EventsDep, actor: ActorDep
) -> None:
    unsubscribe(ledger, subscription_id, readable_all(request, ledger, events), actor=actor)


@api_router.get(
    "/weekly",
    response_model=WeeklyUpdate,
    summary="The weekly stakeholder update of a deployment",
    dependencies=[requires(Scope.read)],
)
def weekly_api(
    request: Request,
    ledger: LedgerDep,
    events: EventsDep,
    deployment: str,
    week: str | None = None,
    currency: str | None = None,
) -> WeeklyUpdate:
    """KPIs against target, baseline and last week; open problems; changes measured; backlog
    movement by owner with what is overdue; the feedback loop; adoption (agent assist); the
    plan's phase and gate; next week's focus; value (``currency``: price it in another ISO
    4217 code). ``week`` is an ISO week such as 2026-W48; default the last full one."""
    del currency  # read from the query by the shared builder, as the page does
    return _update(request, ledger, events, deployment, week)


@api_router.get(
    "/monthly",
    response_model=MonthlyReview,
    summary="The monthly business review of a deployment",
    dependencies=[requires(Scope.read)],
)
def monthly_api(
    request: Request,
    ledger: LedgerDep,
    events: EventsDep,
    deployment: str,
    month: str | None = None,
    currency: str | None = None,
) -> MonthlyReview:
    """Value and ROI of the month and since go-live, KPIs against target, baseline and last
    month with their weekly trend since go-live, adoption, top wins, top risks, decisions
    needed, the month's changes and the definitions. ``month`` such as 2026-11; default the
    last full one."""
    del currency  # read from the query by the shared builder, as the page does
    return _review(request, ledger, events, deployment, month)
