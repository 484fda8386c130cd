"""Reading and checking a plan: YAML in, every problem named by its field, nothing stored.

Two passes. The shape (:func:`parse_plan`): YAML syntax, then the schema, each error with its
path (``phases[0].gate[2].threshold``). The meaning (:func:`check_plan`): against the metric
catalog and the deployment — an unknown metric or journey, a threshold outside the metric's
range, a significance test on a metric without an interval, a window longer than the data the
gate can have, phases that overlap or run backwards. Either raises one :class:`InputError`
listing every problem (``details["errors"]``), so a plan is fixed in one go.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml
from pydantic import ValidationError

from daytwo.deployments.schemas import DeploymentPublic
from daytwo.errors import InputError
from daytwo.metrics.catalog import REGISTRY
from daytwo.plan import calc
from daytwo.plan.schemas import (
    CheckCriterion,
    CheckKind,
    Criterion,
    MetricCriterion,
    PlanSpec,
)

TEMPLATE_KINDS = ("virtual_agent", "agent_assist", "llm_app")


@dataclass(frozen=True, slots=True)
class Problem:
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


def refuse(problems: Sequence[Problem], what: str = "the plan") -> None:
    """Raise one input error naming every problem (nothing is stored)."""
    if not problems:
        return
    first = problems[0]
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    raise InputError(
        f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in {what}; nothing was "
        f"stored. {first.field}: {first.message}{more}",
        details={"errors": [p.as_dict() for p in problems]},
    )


def _path(loc: Iterable[int | str]) -> str:
    out = ""
    parts = list(loc)
    for i, part in enumerate(parts):
        # A criterion's kind tag follows its index: it is not a field the author wrote.
        if (
            part in ("metric", "check")
            and i > 0
            and isinstance(parts[i - 1], int)
            and (i >= 2 and parts[i - 2] == "gate")
        ):
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "plan"


def schema_problems(exc: ValidationError) -> list[Problem]:
    problems = []
    for e in exc.errors():
        message = str(e["msg"]).removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            message = "unknown field"
        problems.append(Problem(_path(e["loc"]), message))
    return problems


def parse_plan(data: dict[str, Any]) -> PlanSpec:
    """The plan's shape: a :class:`PlanSpec`, or an input error naming each bad field."""
    try:
        return PlanSpec.model_validate(data)
    except ValidationError as exc:
        refuse(schema_problems(exc))
        raise  # pragma: no cover - refuse raised


def parse_yaml(text: str, *, deployment: str | None = None) -> PlanSpec:
    """A plan from YAML (``deployment`` fills in a plan that does not name one)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(f"The plan is not valid YAML{where}: {problem}.") from None
    if not isinstance(data, dict):
        raise InputError("The plan must be a YAML mapping with `deployment` and `phases`.")
    if deployment is not None:
        given = data.get("deployment")
        if given is not None and given != deployment:
            raise InputError(
                f"deployment: the file is the plan of {given!r}, not of {deployment!r}."
            )
        data["deployment"] = deployment
    return parse_plan(data)


def template_text(kind: str) -> str:
    """The YAML of the default template of a deployment kind, as shipped."""
    if kind not in TEMPLATE_KINDS:
        raise InputError(f"No template {kind!r}: use one of {', '.join(TEMPLATE_KINDS)}.")
    return (resources.files("daytwo.plan") / "templates" / f"{kind}.yaml").read_text()


def template_for(deployment: DeploymentPublic) -> PlanSpec:
    """The default plan of ``deployment``'s kind, with the deployment's own targets as the
    thresholds of the metrics it has one for (the direction of the target's metric)."""
    data = yaml.safe_load(template_text(str(deployment.kind.value)))
    data["deployment"] = deployment.name
    for phase in data["phases"]:
        for criterion in phase["gate"]:
            metric = REGISTRY.get(str(criterion.get("metric")))
            target = deployment.targets.get(str(criterion.get("metric")))
            if metric is None or target is None or "threshold" not in criterion:
                continue
            criterion["threshold"] = float(target)
            criterion["comparator"] = "at_least" if metric.good == "up" else "at_most"
    return parse_plan(data)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "criterion"


def criterion_ids(gate: Sequence[Criterion]) -> list[str]:
    """Each criterion's id: its own, else one made from what it checks and where; unique."""
    taken: set[str] = {c.id for c in gate if c.id}
    out = []
    for c in gate:
        if c.id:
            out.append(c.id)
            continue
        if isinstance(c, MetricCriterion):
            base = _slug(f"{c.metric} {c.scope.label() if c.scope.label() != 'deployment' else ''}")
        else:
            base = _slug(
                f"{c.check.value} {c.priority if c.check == CheckKind.no_open_items else ''}"
            )
        cid, k = base, 2
        while cid in taken:
            cid, k = f"{base}-{k}", k + 1
        taken.add(cid)
        out.append(cid)
    return out


def check_plan(
    spec: PlanSpec,
    deployment: DeploymentPublic,
    *,
    known_journeys: Iterable[str],
    retention_days: int | None,
    owners: Iterable[str],
) -> None:
    """Refuse a plan whose content does not fit the catalog or the deployment."""
    journeys = set(known_journeys)
    owner_handles = set(owners)
    problems: list[Problem] = []
    keys: set[str] = set()
    for i, phase in enumerate(spec.phases):
        where = f"phases[{i}]"
        if phase.key in keys:
            problems.append(Problem(f"{where}.key", f"phase {phase.key!r} appears twice"))
        keys.add(phase.key)
        ids = [c.id for c in phase.gate if c.id]
        for dup in sorted({x for x in ids if ids.count(x) > 1}):
            problems.append(Problem(f"{where}.gate", f"criterion id {dup!r} appears twice"))
        for j, c in enumerate(phase.gate):
            at = f"{where}.gate[{j}]"
            if isinstance(c, MetricCriterion):
                problems += _metric_problems(c, at, journeys, phase.end_day, retention_days)
            else:
                problems += _check_problems(c, at, journeys)
    for i, field, message in calc.check_phases(
        [(p.key, p.start_day, p.end_day) for p in spec.phases]
    ):
        problems.append(Problem(f"phases[{i}].{field}", message))
    for i, r in enumerate(spec.records):
        if journeys and r.journey not in journeys:
            problems.append(Problem(f"records[{i}].journey", _unknown_journey(r.journey, journeys)))
        if r.owner is not None and r.owner not in owner_handles:
            problems.append(Problem(f"records[{i}].owner", f"no owner with handle {r.owner!r}"))
    refuse(problems, f"the plan of {deployment.name!r}")


def _unknown_journey(name: str, journeys: set[str]) -> str:
    return f"unknown journey {name!r}; the deployment has: {', '.join(sorted(journeys))}"


def _metric_problems(
    c: MetricCriterion,
    at: str,
    journeys: set[str],
    phase_end: int,
    retention_days: int | None,
) -> list[Problem]:
    metric = REGISTRY.get(c.metric)
    if metric is None:
        return [
            Problem(
                f"{at}.metric",
                f"unknown metric {c.metric!r}; see `daytwo metrics list` or /metrics",
            )
        ]
    problems = []
    lo, hi = calc.metric_range(metric)
    if c.threshold is not None and not lo <= c.threshold <= hi:
        bounds = f"[{lo:g}, {hi:g}]" if hi != calc.UNBOUNDED else f"at least {lo:g}"
        problems.append(
            Problem(
                f"{at}.threshold",
                f"{c.threshold:g} is outside the range of {metric.id} ({metric.unit}: {bounds})",
            )
        )
    if c.vs_baseline is not None:
        if metric.good is None:
            problems.append(
                Problem(
                    f"{at}.vs_baseline",
                    f"{metric.id} has no better direction to compare with the baseline",
                )
            )
        elif not calc.has_interval(metric):
            problems.append(
                Problem(
                    f"{at}.vs_baseline",
                    f"{metric.id} is a {metric.kind} "
                    "without an interval: its change cannot be tested for "
                    "significance; use comparator and threshold",
                )
            )
        if hi != calc.UNBOUNDED and c.vs_baseline.by > hi - lo:
            problems.append(
                Problem(
                    f"{at}.vs_baseline.by",
                    f"{c.vs_baseline.by:g} is larger than the whole range of {metric.id}",
                )
            )
    if c.scope.journey is not None and journeys and c.scope.journey not in journeys:
        problems.append(Problem(f"{at}.scope.journey", _unknown_journey(c.scope.journey, journeys)))
    span = c.window_days + c.sustained_days - 1
    if span > phase_end:
        problems.append(
            Problem(
                f"{at}.window_days",
                f"the window ({c.window_days} days"
                + (f", sustained {c.sustained_days}" if c.sustained_days > 1 else "")
                + f") needs {span} days of data, longer than the data the gate "
                f"can have by the phase's last day (day {phase_end})",
            )
        )
    elif retention_days is not None and span > retention_days:
        problems.append(
            Problem(
                f"{at}.window_days",
                f"the window needs {span} days of data, "
                f"longer than the {retention_days} days the deployment keeps",
            )
        )
    return problems


def _check_problems(c: CheckCriterion, at: str, journeys: set[str]) -> list[Problem]:
    if c.journey is not None and journeys and c.journey not in journeys:
        return [Problem(f"{at}.journey", _unknown_journey(c.journey, journeys))]
    return []
