"""The findings page: what the detectors found, with the conversations behind each."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from daytwo.deployments.service import currency_of, overview
from daytwo.detect.api import parse_severity
from daytwo.detect.findings import Severity
from daytwo.detect.registry import detectors
from daytwo.detect.schemas import FindingFilter, FindingPublic
from daytwo.detect.service import last_run, list_findings, problems_of
from daytwo.errors import InputError
from daytwo.http.access import Scope, granted, requires
from daytwo.http.deps import EventsDep, LedgerDep
from daytwo.http.scope import FILTER_DIMS
from daytwo.http.templating import templates
from daytwo.http.timeline import timeline_of
from daytwo.metrics.catalog import REGISTRY
from daytwo.metrics.charts import with_marks
from daytwo.store.ledger import Ledger

router = APIRouter(include_in_schema=False, dependencies=[requires(Scope.read)])

STATUSES = ("open", "regressed", "resolved")
SEVERITY_COLOURS = {
    "critical": "#7a1712",
    "high": "#b3261e",
    "medium": "#a86a00",
    "low": "#5c6670",
    "info": "#9aa5b1",
}


def evidence_url(f: FindingPublic) -> str:
    """The conversations page narrowed to the finding's scope and period."""
    params: list[tuple[str, str]] = [
        ("deployment", f.scope.deployment),
        ("start", (f.first_seen.date()).isoformat()),
        ("end", max(f.last_seen - timedelta(seconds=1), f.first_seen).date().isoformat()),
    ]
    if f.scope.journey:
        params.append(("journey", f.scope.journey))
    for key, value in (f.scope.segment or {}).items():
        params.append((key, value) if key in FILTER_DIMS else ("segment", f"{key}:{value}"))
    if f.scope.metric in REGISTRY and REGISTRY[f.scope.metric].drill:
        params.append(("metric", f.scope.metric))
    return f"/conversations?{urlencode(params)}"


def timeline_spec(rows: list[FindingPublic]) -> dict[str, Any]:
    """Findings by the day they were first seen, stacked by severity."""
    counts = Counter((f.first_seen.date().isoformat(), f.severity) for f in rows)
    order = [s.name for s in sorted(Severity, reverse=True)]
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v6.json",
        "width": "container",
        "height": 160,
        "data": {"values": [{"day": d, "severity": s, "n": n} for (d, s), n in counts.items()]},
        "mark": {"type": "bar", "tooltip": True},
        "encoding": {
            "x": {"field": "day", "type": "temporal", "timeUnit": "yearmonthdate", "title": None},
            "y": {"field": "n", "type": "quantitative", "aggregate": "sum", "title": "findings"},
            "color": {
                "field": "severity",
                "type": "nominal",
                "sort": order,
                "scale": {"domain": order, "range": [SEVERITY_COLOURS[s] for s in order]},
                "legend": {"orient": "top", "title": None},
            },
        },
    }


def _marked(ledger: Ledger, deployment: str | None, spec: dict[str, Any]) -> dict[str, Any]:
    """The chart with the plan's phases and gates, for one deployment with a plan."""
    plan = timeline_of(ledger, deployment) if deployment else None
    return with_marks(spec, plan.marks, "day") if plan is not None else spec


def value_formatter(
    currencies: Mapping[str, str | None] | None = None,
) -> Callable[[FindingPublic, float | None], str]:
    """The pages' ``fmt(finding, value)``: through :mod:`daytwo.units`, as every page formats,
    money in the currency of the finding's deployment."""

    def fmt(f: FindingPublic, value: float | None) -> str:
        return f.show(value, (currencies or {}).get(f.scope.deployment))

    return fmt


@router.get("/findings", response_class=HTMLResponse)
def findings_page(request: Request, ledger: LedgerDep, events: EventsDep) -> HTMLResponse:
    deployments = granted(request, overview(ledger, events))
    names = [d.name for d in deployments]
    q = request.query_params
    deployment = q.get("deployment") or None
    if deployment and deployment not in names:
        raise InputError(f"Unknown deployment {deployment!r}.")
    statuses = [s for s in q.getlist("status") if s]
    bad = [s for s in statuses if s not in STATUSES]
    if bad:
        raise InputError(f"status must be one of {', '.join(STATUSES)}, not {bad[0]!r}.")
    chosen: dict[str, Any] = {
        "deployment": deployment,
        "kind": q.get("kind") or None,
        "journey": q.get("journey") or None,
        "status": statuses or ["open", "regressed"],
        "severity": q.get("severity") or None,
    }
    rows = list_findings(
        ledger,
        FindingFilter(
            deployments=[deployment] if deployment else names,
            kind=chosen["kind"],
            journey=chosen["journey"],
            status=chosen["status"],
            min_severity=parse_severity(chosen["severity"]),
            limit=500,
        ),
    )
    # One row per problem: a finding another shown finding explains is a symptom, one click
    # below its root (on the root's page), unless every finding is asked for.
    flat = q.get("symptoms") == "1"
    every = list_findings(ledger, FindingFilter(deployments=names, limit=1000))
    problems, symptoms = problems_of(rows, every)
    if not flat:
        rows = problems
    runs = {n: last_run(ledger, n) for n in names}
    context: dict[str, object] = {
        "deployments": deployments,
        "scope": None,
        "rows": rows,
        "chosen": chosen,
        "kinds": sorted({f.kind for f in every}),
        "journeys": sorted({f.scope.journey for f in every if f.scope.journey}),
        "statuses": STATUSES,
        "severities": [s.name for s in sorted(Severity, reverse=True)],
        "by_severity": Counter(f.severity for f in rows),
        "runs": {n: r for n, r in runs.items() if r is not None},
        "spec": json.dumps(_marked(ledger, deployment, timeline_spec(rows))),
        "evidence_url": evidence_url,
        "detectors": {d.id: d for d in detectors()},
        "regressed": sum(1 for f in rows if f.status == "regressed"),
        "metrics": REGISTRY,
        "fmt": value_formatter({n: currency_of(ledger, n) for n in names}),
        "symptoms": symptoms,
        "flat": flat,
        "hidden": sum(symptoms.values()) if not flat else 0,
        "query": request.url.query,
    }
    return templates.TemplateResponse(request, "findings.html", context)
