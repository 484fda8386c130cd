"""The weekly update in the UI, and the same document as PDF."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from daytwo.deployments.service import overview
from daytwo.errors import NotFoundError
from daytwo.http.access import Scope, granted, requires
from daytwo.http.deps import EventsDep, LedgerDep, SettingsDep
from daytwo.http.templating import templates
from daytwo.report.render import to_pdf, weekly_body, weekly_html
from daytwo.report.weekly import WeeklyUpdate, last_full_week, weekly_update

router = APIRouter(include_in_schema=False, dependencies=[requires(Scope.read)])


def _update(
    request: Request,
    ledger: LedgerDep,
    events: EventsDep,
    deployment: str | None,
    week: str | None,
) -> WeeklyUpdate:
    readable = [d.name for d in granted(request, overview(ledger, events))]
    if not readable:
        raise NotFoundError("No deployment to report on yet.")
    deployment = deployment or readable[0]
    if deployment not in readable:
        raise NotFoundError(f"No deployment named {deployment!r}.")
    period = week or last_full_week(datetime.now(UTC))
    currency = request.query_params.get("currency") or None
    return weekly_update(ledger, events, deployment, period, currency=currency)


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
    filename = f"{update.deployment}-weekly-{update.week}.pdf"
    return Response(
        to_pdf(weekly_html(title, update, base=settings.notify_public_url)),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


api_router = APIRouter(prefix="/api/v1/reports", tags=["reports"])


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
    """KPIs against target, baseline and last week; open findings; backlog movement; measured
    changes; value (``currency``: price it in another ISO 4217 code). ``week`` is an ISO week
    such as 2026-W48; default the last full one."""
    del currency  # read from the query by the shared builder, as the page does
    return _update(request, ledger, events, deployment, week)
