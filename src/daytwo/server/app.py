"""The ASGI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from daytwo import __version__
from daytwo.adoption import memo as adoption_memo
from daytwo.adoption.api import router as adoption_router
from daytwo.adoption.served import PrepareAfterStart
from daytwo.adoption.views import router as adoption_views
from daytwo.backlog.api import items_router, owners_router, rules_router
from daytwo.backlog.changes import change_marks
from daytwo.backlog.changes_api import router as changes_router
from daytwo.backlog.feedback_api import router as feedback_router
from daytwo.backlog.finding_views import journey_problems
from daytwo.backlog.finding_views import router as finding_views
from daytwo.backlog.policy import BacklogPolicy
from daytwo.backlog.service import urgency_order
from daytwo.backlog.suspects_api import router as suspects_router
from daytwo.backlog.views import router as backlog_views
from daytwo.conversations.api import router as conversations_router
from daytwo.conversations.views import router as conversations_views
from daytwo.deployments.api import router as deployments_router
from daytwo.detect.api import router as findings_router
from daytwo.detect.gaps.api import router as gaps_router
from daytwo.detect.gaps.views import router as gaps_views
from daytwo.detect.views import router as findings_views
from daytwo.governance.admin_api import audit_router, keys_router, retention_router, users_router
from daytwo.governance.admin_views import router as admin_views
from daytwo.governance.policies import KeptPlans, retention_by_deployment
from daytwo.governance.schedule import RetentionSchedule
from daytwo.governance.views import router as governance_views
from daytwo.http.access import Scope, requires
from daytwo.ingest.api import router as ingest_router
from daytwo.ingest.imports_api import router as imports_router
from daytwo.ingest.otlp.api import router as otlp_router
from daytwo.ingest.otlp.service import TraceAssembler, TraceDoor
from daytwo.journeys.views import router as journeys_views
from daytwo.metrics.api import router as metrics_router
from daytwo.metrics.views import router as metrics_views
from daytwo.notify.api import router as notify_router
from daytwo.notify.views import router as notify_views
from daytwo.notify.worker import DeliveryWorker
from daytwo.pipeline import plugin_manager
from daytwo.pipeline.api import findings_router as analyze_router
from daytwo.pipeline.api import gaps_router as gap_runs_router
from daytwo.pipeline.api import runs_router as analysis_runs_router
from daytwo.pipeline.jobs import AnalysisRunner
from daytwo.pipeline.schedule import AnalysisSchedule
from daytwo.plan.api import rollout_router
from daytwo.plan.api import router as plan_router
from daytwo.plan.views import router as plan_views
from daytwo.report.schedule import ReportSchedule
from daytwo.report.views import api_router as report_api
from daytwo.report.views import router as report_views
from daytwo.server.contract import StrictJSON, install_contract
from daytwo.server.errors import install_error_handlers
from daytwo.server.health import StoreFaults
from daytwo.server.health import router as health_router
from daytwo.server.metrics import RequestMetrics
from daytwo.server.metrics import router as prometheus_router
from daytwo.server.openapi import build_openapi, prepare_openapi
from daytwo.server.security import AuditBatch, SecurityMiddleware
from daytwo.settings import Settings
from daytwo.store.events import EventStore, open_event_store
from daytwo.store.events.refresher import DerivedRefresher
from daytwo.store.ledger import Ledger, upgrade
from daytwo.web.views import STATIC_DIR
from daytwo.web.views import router as web_router


def create_app(
    settings: Settings,
    *,
    events: EventStore | None = None,
    ledger: Ledger | None = None,
    local_token_hash: str | None = None,
    serving: bool = False,
) -> FastAPI:
    """Build the app. Stores not given are opened from ``settings`` when the app starts
    (the ledger is migrated to the latest schema first) and closed when it stops.

    ``local_token_hash`` admits the command line of this machine (see
    :mod:`daytwo.http.link`); ``daytwo serve`` passes it. ``serving`` (also from ``daytwo
    serve``) runs what talks to the outside world on its own: notification delivery and the
    scheduled e-mail of reports. An app built without it (tests, benchmarks) sends only what
    it is asked to."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_events = events is None
        own_ledger = ledger is None
        if own_ledger:
            upgrade(settings.resolved_ledger_url)
        app.state.ledger = ledger or Ledger(settings.resolved_ledger_url)
        # Built once, before the first request, so the API docs never wait for it (building
        # it beside requests would race them over the same lazily built schemas).
        prepare_openapi(app)
        app.state.events = events or open_event_store(settings.resolved_events_url)
        # Answers an analysis prepares for the adoption page are read here (a one-shot
        # analysis, with no app, prepares none).
        adoption_memo.add_readers(app.state.events)
        refresher = None
        if settings.refresh_seconds > 0:
            # The trace assembler writes every otlp_assemble_seconds (plus its own time) while
            # spans stream in: a lull that short does not end the stream (where it ticks often
            # enough to make one within the longest deferral); the refresher lengthens it to
            # twice the stream's longest recent gap, and waits while turns are staged.
            tick = 2 * settings.otlp_assemble_seconds
            refresher = DerivedRefresher(
                app.state.events,
                settings.refresh_seconds,
                settings.refresh_stream_seconds,
                pause=settings.refresh_seconds
                + (tick if tick < settings.refresh_stream_seconds else 0),
            )
            refresher.start()
        app.state.refresher = refresher
        app.state.analysis = AnalysisRunner(settings, app.state.ledger, app.state.events)
        schedule = AnalysisSchedule.from_settings(
            app.state.ledger, app.state.events, settings, runner=app.state.analysis
        )
        if schedule is not None:
            schedule.start()
        app.state.trace_assembler = TraceAssembler.from_settings(
            app.state.events, app.state.trace_door, settings, app.state.ledger
        )
        app.state.trace_assembler.start()
        if serving:  # a server starts its trace workers now; other apps on the first trace
            app.state.trace_door.pool.start()
        retention = None
        if settings.retention_interval_minutes > 0:
            retention = RetentionSchedule(
                app.state.ledger, app.state.events, settings.retention_interval_minutes * 60
            )
            retention.start()
        delivery = (
            DeliveryWorker.from_settings(app.state.ledger, settings, app.state.events)
            if serving
            else None
        )
        if delivery is not None:
            delivery.start()
        app.state.delivery = delivery
        reports = None
        if serving and settings.report_schedule_seconds > 0:
            reports = ReportSchedule(
                app.state.ledger, app.state.events, settings, settings.report_schedule_seconds
            )
            reports.start()
        prepare = None
        if serving and settings.adoption_prepare_seconds > 0:
            # A server that has not analysed since it started: the adoption page's first
            # answers, computed in the background once it is serving.
            prepare = PrepareAfterStart(
                app.state.ledger,
                app.state.events,
                BacklogPolicy.from_settings(settings),
                settings.adoption_prepare_seconds,
                ready=refresher.first_round if refresher is not None else None,
            )
            prepare.start()
        app.state.adoption_prepare = prepare
        try:
            yield
        finally:
            if prepare is not None:
                prepare.stop()
            if reports is not None:
                reports.stop()
            if delivery is not None:
                delivery.stop()
            if retention is not None:
                retention.stop()
            if schedule is not None:
                schedule.stop()
            app.state.analysis.stop()
            if refresher is not None:
                refresher.stop()
            adoption_memo.drop_readers(app.state.events)
            app.state.trace_assembler.stop()
            app.state.trace_door.pool.close()
            if own_events:
                app.state.events.close()
            if own_ledger:
                app.state.ledger.dispose()

    app = FastAPI(
        title="daytwo",
        version=__version__,
        summary="Operations for AI assistants after go-live.",
        lifespan=lifespan,
        docs_url=None,  # served by the web package from vendored assets
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.settings = settings
    plugin_manager()  # the pipeline's plugins, so contributed detectors are listed too
    app.state.faults = StoreFaults()
    app.state.session_key = settings.session_key()
    app.state.local_token_hash = local_token_hash
    app.state.urgency = urgency_order  # pages open on the deployment with the most urgent problem
    app.state.change_marks = change_marks  # every trend chart marks the recorded changes
    app.state.journey_problems = journey_problems  # a journey's page lists its problems
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
    install_error_handlers(app)
    app.add_middleware(StrictJSON, skip=("/api/v1/ingest",))
    # The redaction plan every door applies, kept between requests until a policy changes.
    app.state.redaction_plans = KeptPlans()
    app.state.trace_door = TraceDoor(settings, app.state.redaction_plans)
    app.state.audit_batch = AuditBatch(app)
    app.add_middleware(
        SecurityMiddleware,
        per_minute=settings.rate_limit_per_minute,
        per_minute_by_prefix={"/v1/": settings.otlp_requests_per_minute},
    )
    app.add_middleware(RequestMetrics)

    app.include_router(health_router)

    @app.get(
        "/api/v1/health",
        tags=["service"],
        summary="The events store's health in detail: schema, size, parts, merges, memory",
        dependencies=[requires(Scope.admin)],
    )
    def health() -> JSONResponse:
        report = app.state.events.health(retention_by_deployment(app.state.ledger))
        body = {"version": __version__, "events": report.as_dict()}
        return JSONResponse(body, status_code=503 if report.status == "fail" else 200)

    app.include_router(ingest_router)
    app.include_router(imports_router)
    app.include_router(otlp_router)
    app.include_router(prometheus_router)
    app.include_router(deployments_router)
    app.include_router(conversations_router)
    app.include_router(metrics_router)
    app.include_router(items_router)
    app.include_router(owners_router)
    app.include_router(rules_router)
    app.include_router(changes_router)
    app.include_router(suspects_router)
    app.include_router(feedback_router)
    app.include_router(users_router)
    app.include_router(keys_router)
    app.include_router(audit_router)
    app.include_router(retention_router)
    app.include_router(adoption_router)
    app.include_router(findings_router)
    app.include_router(analyze_router)
    app.include_router(findings_views)
    app.include_router(gaps_router)
    app.include_router(gap_runs_router)
    app.include_router(analysis_runs_router)
    app.include_router(plan_router)
    app.include_router(rollout_router)
    app.include_router(web_router)
    app.include_router(governance_views)
    app.include_router(admin_views)
    app.include_router(metrics_views)
    app.include_router(journeys_views)
    app.include_router(gaps_views)
    app.include_router(report_api)
    app.include_router(report_views)
    app.include_router(conversations_views)
    app.include_router(backlog_views)
    app.include_router(finding_views)
    app.include_router(adoption_views)
    app.include_router(notify_router)
    app.include_router(notify_views)
    app.include_router(plan_views)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    install_contract(app)
    return app
