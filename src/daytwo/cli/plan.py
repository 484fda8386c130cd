"""`daytwo plan`: the 90-day plan from the terminal: show, apply, evaluate, sign off."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import typer
from rich.table import Table

from daytwo.cli.console import out
from daytwo.cli.stores import actor as cli_actor
from daytwo.cli.stores import open_events, open_ledger, server
from daytwo.errors import InputError, PermissionDenied
from daytwo.governance.accounts import get_user
from daytwo.plan import service, standing
from daytwo.plan.consumer import evaluate_gates
from daytwo.plan.schemas import GateResult, PlanPublic, SignoffPublic
from daytwo.plan.validate import TEMPLATE_KINDS, parse_yaml, template_text
from daytwo.units import fmt_value

app = typer.Typer(help="The 90-day plan: phases, exit gates, sign-off.", no_args_is_help=True)
DEPLOYMENT = typer.Option(..., "--deployment", "-d", help="Deployment name.")
THROUGH = typer.Option(None, "--through", help="Evaluate through this day (default: latest).")
VERDICT_STYLE = {"met": "green", "not_met": "red", "no_data": "dim"}
API = "/api/v1/plans"


def _day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(f"--through must be a date like 2026-03-01, not {value!r}.") from None


def print_gate(result: GateResult) -> None:
    table = Table("criterion", "verdict", "value", "n", "window", "why", title=None)
    for c in result.criteria:
        value = "—" if c.value is None else fmt_value(c.value, c.unit or "count")
        if c.lo is not None and c.hi is not None:
            value += (
                f" [{fmt_value(c.lo, c.unit or 'count')}, {fmt_value(c.hi, c.unit or 'count')}]"
            )
        window = f"{c.window_start:%d %b}–{c.window_end:%d %b}" if c.window_start else "now"
        style = VERDICT_STYLE[c.verdict]
        why = c.summary + "".join(f"\n  blocks: #{b.id} {b.priority} {b.title}" for b in c.blocking)
        table.add_row(
            c.label,
            f"[{style}]{c.verdict.replace('_', ' ')}[/]",
            value,
            f"{c.n:,}" if c.n is not None else "—",
            window,
            why,
        )
    out.print(table)


def print_plan(plan: PlanPublic) -> None:
    st = plan.status
    out.print(f"[bold]{plan.deployment}[/] · 90-day plan v{plan.version}", soft_wrap=True)
    style = "yellow" if st.calendar_ahead else "green"
    out.print(f"[{style}]{st.headline}[/]", soft_wrap=True)
    for p in plan.phases:
        dates = f" ({p.start:%d %b} – {p.end:%d %b})" if p.start and p.end else ""
        out.print(f"\n[bold]{p.name}[/] · days {p.start_day}–{p.end_day}{dates} · {p.status}")
        if p.signoff is not None:
            s = p.signoff
            if s.kind == "override":
                out.print(
                    f"[yellow]passed by override[/] on {s.at:%Y-%m-%d} by {s.actor}, "
                    f"{len(s.unmet)} criteria not met ({', '.join(s.unmet)}): “{s.reason}”",
                    soft_wrap=True,
                )
            else:
                out.print(f"signed off on {s.at:%Y-%m-%d} by {s.actor}")
        for o in p.objectives:
            out.print(f"  · {o}", soft_wrap=True)
        if p.evaluation is not None:
            ev = p.evaluation
            out.print(
                f"gate through {ev.through}: {ev.met} of {ev.total} met"
                + (" · ready" if ev.ready else "")
            )
            print_gate(ev)
        else:
            out.print("gate not evaluated yet: daytwo plan evaluate -d " + plan.deployment)


@app.command("show")
def show(
    deployment: str = DEPLOYMENT,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Day N of the plan, the current phase by evidence, and every gate with its evidence."""
    remote = server()
    if remote is not None:
        plan = PlanPublic.model_validate(remote.get(f"{API}/{deployment}"))
    else:
        with open_ledger() as ledger, open_events() as events:
            plan = standing.get_plan(ledger, events, deployment)
    if as_json:
        out.print_json(plan.model_dump_json())
        return
    print_plan(plan)


@app.command("apply")
def apply(
    file: Path = typer.Argument(None, help="The plan as YAML (see docs/plan.md).", dir_okay=False),
    deployment: str = typer.Option(
        None, "--deployment", "-d", help="Deployment (when the file names none)."
    ),
    template: bool = typer.Option(
        False, "--template", help="Apply the default plan of the deployment's kind instead."
    ),
    actor: str = typer.Option(None, "--as", help="Who is applying (default: cli:<your user>)."),
) -> None:
    """Validate a plan and store it as the deployment's plan; every problem is named by its
    field and nothing is stored while one remains."""
    who = cli_actor(actor)
    if template and (file is not None or deployment is None):
        raise InputError("--template takes --deployment and no file.")
    if not template and file is None:
        raise InputError("Give the plan's YAML file, or --template -d DEPLOYMENT.")
    if file is not None and not file.exists():
        raise InputError(f"No file {str(file)!r}.")
    text = file.read_text(encoding="utf-8") if file is not None else ""
    spec = None if template else parse_yaml(text, deployment=deployment)
    remote = server(actor)
    if remote is not None:
        if spec is None:
            answer = remote.post(f"{API}/{deployment}/template")
        else:  # the server parses the same YAML again, so its errors name the same fields
            headers = {"content-type": "application/yaml"}
            answer = remote.request(
                "PUT", f"{API}/{spec.deployment}", content=text.encode(), headers=headers
            )
        plan = PlanPublic.model_validate(answer)
    else:
        with open_ledger() as ledger, open_events() as events:
            if spec is None:
                plan = service.apply_template(ledger, events, deployment, actor=who)
            else:
                plan = service.apply_plan(ledger, events, spec, actor=who)
    out.print(
        f"plan v{plan.version} of [bold]{plan.deployment}[/] applied: "
        + ", ".join(
            f"{p.name} (days {p.start_day}–{p.end_day}, {len(p.gate)} criteria)"
            for p in plan.phases
        ),
        soft_wrap=True,
    )


@app.command("template")
def template(kind: str = typer.Argument(..., help=", ".join(TEMPLATE_KINDS))) -> None:
    """Print the default plan of a deployment kind, to adapt and apply."""
    out.print(template_text(kind), end="", markup=False, highlight=False, soft_wrap=True)


@app.command("evaluate")
def evaluate(
    deployment: str = DEPLOYMENT,
    through: str = THROUGH,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Evaluate every gate now (kept as its latest evaluation) and print the evidence."""
    day = _day(through)
    raised = 0
    remote = server()
    if remote is not None:
        body = {"through": day.isoformat()} if day else None
        gates = [
            GateResult.model_validate(g) for g in remote.post(f"{API}/{deployment}/evaluate", body)
        ]
        plan = PlanPublic.model_validate(remote.get(f"{API}/{deployment}"))
    else:
        with open_ledger() as ledger, open_events() as events:
            outcome = evaluate_gates(ledger, events, deployment, through=day, trigger="on_demand")
            if outcome is None:
                standing.get_plan(ledger, events, deployment)  # says there is no plan
                return
            gates, raised = outcome.gates, outcome.raised
            plan = standing.get_plan(ledger, events, deployment, through=outcome.through)
    if as_json:
        out.print_json(json.dumps([g.model_dump(mode="json") for g in gates]))
        return
    print_plan(plan)
    if raised:
        out.print(f"[red]{raised} passed gate(s) no longer hold: a finding was raised.[/]")


@app.command("signoff")
def signoff(
    phase: str = typer.Argument(..., help="The phase whose gate to pass (e.g. stabilise)."),
    deployment: str = DEPLOYMENT,
    actor: str = typer.Option(..., "--as", help="The daytwo user signing (owner or admin)."),
    override: bool = typer.Option(
        False, "--override", help="Pass an unready gate (admins only; needs --reason)."
    ),
    reason: str = typer.Option("", "--reason", help="Why (required with --override)."),
) -> None:
    """Sign off a ready gate, or override an unready one with a reason; audited."""
    with open_ledger() as ledger:
        user = get_user(ledger, actor)
    if not user.active:
        raise PermissionDenied(f"User {actor!r} is disabled.")
    who = f"user:{user.username}"
    # The user's role is checked here: a running server takes this machine's command line as
    # an administrator, and records the sign-off as the user's.
    service.check_signer(who, user.role, override=override)
    remote = server(who)
    if remote is not None:
        body = {"reason": reason, "override": override}
        done = SignoffPublic.model_validate(
            remote.post(f"{API}/{deployment}/phases/{phase}/signoff", body)
        )
    else:
        with open_ledger() as ledger, open_events() as events:
            done = service.signoff(
                ledger,
                events,
                deployment,
                phase,
                actor=who,
                role=user.role,
                reason=reason,
                override=override,
            )
    word = "overridden" if done.kind == "override" else "signed off"
    out.print(f"the {phase} gate of {deployment} is {word} by {done.actor} on {done.at:%Y-%m-%d}")
