"""`/api/v1/notify`: channels, routes, owner preferences, alerts and the delivery log."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel

from daytwo.backlog.api import ActorDep
from daytwo.http.access import Scope, requires
from daytwo.http.deps import EventsDep, LedgerDep, SettingsDep
from daytwo.http.params import MAX_ROW_ID, RowId
from daytwo.notify import alerts, outbox, service
from daytwo.notify.events import raise_due
from daytwo.notify.schemas import (
    AlertPublic,
    ChannelCreate,
    ChannelPublic,
    DeliveryDetail,
    DeliveryPublic,
    DeliveryReport,
    DeliveryStatus,
    PreferencePublic,
    PreferenceSet,
    RouteCreate,
    RoutePublic,
)

READ = [requires(Scope.read)]
MANAGE = [requires(Scope.manage)]
ADMIN = [requires(Scope.admin)]  # channels hold credentials

router = APIRouter(prefix="/api/v1/notify", tags=["notify"])


class ChannelCreated(ChannelPublic):
    generated_secret: str | None = None  # the webhook signing secret, shown this once


class TestRecipient(BaseModel):
    recipient: str | None = None


@router.get("/channels", response_model=list[ChannelPublic], dependencies=READ)
def channels(ledger: LedgerDep) -> list[ChannelPublic]:
    """The channels; their secrets never appear, only how each is kept."""
    return service.list_channels(ledger)


@router.post(
    "/channels", response_model=ChannelCreated, status_code=status.HTTP_201_CREATED,
    dependencies=ADMIN, summary="Add a channel",
)  # fmt: skip
def create_channel(
    request: Request, spec: ChannelCreate, ledger: LedgerDep, actor: ActorDep
) -> ChannelCreated:
    created = service.create_channel(
        ledger, spec, server_key=request.app.state.session_key, actor=actor
    )
    return ChannelCreated(**created.channel.model_dump(), generated_secret=created.generated_secret)


@router.delete("/channels/{name}", status_code=status.HTTP_204_NO_CONTENT, dependencies=ADMIN)
def delete_channel(name: str, ledger: LedgerDep) -> None:
    service.delete_channel(ledger, name)


@router.post(
    "/channels/{name}/test", response_model=DeliveryDetail, dependencies=MANAGE,
    summary="Send a test message now",
)  # fmt: skip
def send_test_message(
    name: str,
    ledger: LedgerDep,
    settings: SettingsDep,
    actor: ActorDep,
    spec: TestRecipient | None = None,
) -> DeliveryDetail:
    return outbox.send_test(
        ledger, settings, name, actor=actor, recipient=spec.recipient if spec else None
    )


@router.get("/routes", response_model=list[RoutePublic], dependencies=READ)
def routes(ledger: LedgerDep) -> list[RoutePublic]:
    return service.list_routes(ledger)


@router.post(
    "/routes", response_model=RoutePublic, status_code=status.HTTP_201_CREATED,
    dependencies=MANAGE,
)  # fmt: skip
def add_route(spec: RouteCreate, ledger: LedgerDep, actor: ActorDep) -> RoutePublic:
    return service.add_route(ledger, spec, actor=actor)


@router.delete("/routes/{route_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=MANAGE)
def delete_route(route_id: RowId, ledger: LedgerDep) -> None:
    service.delete_route(ledger, route_id)


@router.get("/preferences", response_model=list[PreferencePublic], dependencies=READ)
def preferences(ledger: LedgerDep) -> list[PreferencePublic]:
    return service.list_preferences(ledger)


@router.put("/preferences/{owner}", response_model=PreferencePublic, dependencies=MANAGE)
def set_preference(owner: str, spec: PreferenceSet, ledger: LedgerDep) -> PreferencePublic:
    return service.set_preference(ledger, owner, spec)


@router.get("/alerts", response_model=list[AlertPublic], dependencies=READ)
def list_alerts(
    ledger: LedgerDep,
    deployment: str | None = None,
    alert_status: str | None = Query(default=None, alias="status"),
) -> list[AlertPublic]:
    return alerts.list_alerts(ledger, deployment=deployment, status=alert_status)


@router.post("/alerts/{alert_id}/ack", response_model=AlertPublic, dependencies=MANAGE)
def acknowledge(alert_id: RowId, ledger: LedgerDep, actor: ActorDep) -> AlertPublic:
    """Acknowledge an alert: recorded in its item's history; its escalation stops."""
    return alerts.acknowledge(ledger, alert_id, actor=actor, via="api")


@router.get("/deliveries", response_model=list[DeliveryPublic], dependencies=READ)
def deliveries(
    ledger: LedgerDep,
    delivery_status: DeliveryStatus | None = Query(default=None, alias="status"),
    alert_id: int | None = Query(default=None, ge=1, le=MAX_ROW_ID),
) -> list[DeliveryPublic]:
    """The delivery log, newest first."""
    return outbox.delivery_log(ledger, status=delivery_status, alert_id=alert_id)


@router.get("/deliveries/{delivery_id}", response_model=DeliveryDetail, dependencies=READ)
def delivery(delivery_id: RowId, ledger: LedgerDep) -> DeliveryDetail:
    """One delivery with every attempt (status, error, duration)."""
    return outbox.delivery_detail(ledger, delivery_id)


@router.post("/deliveries/{delivery_id}/retry", response_model=DeliveryPublic, dependencies=MANAGE)
def retry(delivery_id: RowId, ledger: LedgerDep) -> DeliveryPublic:
    return outbox.retry(ledger, delivery_id)


@router.post("/deliver", response_model=DeliveryReport, dependencies=MANAGE)
def deliver(ledger: LedgerDep, settings: SettingsDep, events: EventsDep) -> DeliveryReport:
    """Raise the alerts of items opened outside an analysis, SLA clocks at risk or breached
    and silent feeds, escalate what is due and send what is due, now (``serve`` does it every
    few seconds)."""
    raise_due(ledger, settings, events)
    escalated = alerts.escalate_due(ledger, settings)
    report = outbox.deliver_due(ledger, settings)
    report.escalated = escalated
    return report
