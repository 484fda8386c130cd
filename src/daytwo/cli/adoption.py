"""`daytwo adoption`: who uses the AI, who stopped, workarounds, champions, pilot vs rollout.

The command line runs as the data dir's owner, so it shows individual agents (by their
pseudonymous refs), as the analyst and owner roles see them in the UI.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from daytwo.cli.console import out
from daytwo.cli.stores import actor as cli_actor
from daytwo.cli.stores import backlog_policy, open_events, open_ledger, validated
from daytwo.errors import InputError

if TYPE_CHECKING:
    from daytwo.adoption.schemas import Comparison, KpiGap, Period
    from daytwo.store.events import EventStore

app = typer.Typer(
    help="Adoption: who uses the AI, who stopped, workarounds, champions, pilot vs rollout.",
    no_args_is_help=True,
)


@app.callback()
def _beside_a_server() -> None:
    """The adoption commands read the events store themselves: while `daytwo serve` holds it,
    say where the same answers are instead of waiting for it."""
    from daytwo.cli.stores import server
    from daytwo.errors import ConfigError

    remote = server()
    if remote is not None:
        raise ConfigError(
            f"`daytwo adoption` reads the events store, which the server at {remote.record.url} "
            f"holds: read the same answers at {remote.record.url}/api/v1/adoption/<deployment> "
            "(or the Adoption page), or stop the server first."
        )


cohorts_app = typer.Typer(help="The cohorts compared: the pilot and the rollout.")
champions_app = typer.Typer(help="Champions: mark them, end them, list them.")
app.add_typer(cohorts_app, name="cohorts")
app.add_typer(champions_app, name="champions")

DEPLOYMENT = typer.Option(..., "--deployment", "-d", help="Deployment name.")
START = typer.Option(None, help="First day (YYYY-MM-DD); default: 28 days before --end.")
END = typer.Option(None, help="Last day (YYYY-MM-DD, included); default: the last day of data.")
JSON = typer.Option(False, "--json", help="Print JSON.")
AS = typer.Option(None, "--as", help="Who is recording (default: cli:<your user>).")


def _day(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(f"--{name} must be a day as YYYY-MM-DD, not {value!r}.") from None


def _period(events: EventStore, deployment: str, start: str | None, end: str | None) -> Period:
    from daytwo.adoption.service import period_of

    s, e = _day(start, "start"), _day(end, "end")
    at = datetime.combine(e + timedelta(days=1), time(), tzinfo=UTC) if e else None
    since = datetime.combine(s, time(), tzinfo=UTC) if s else None
    if since and at is None:
        at = since + timedelta(days=28)
    return period_of(events, deployment, since, at)


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.1%}"


def _gap(k: KpiGap, v: float | None) -> str:
    if v is None:
        return "—"
    if k.unit == "share":
        return f"{v * 100:+.1f} pts"
    if k.unit == "seconds":
        return f"{v:+.0f} s"
    return f"{v:+.2f}"


def _span(k: KpiGap, lo: float | None, hi: float | None) -> str:
    return f"{_gap(k, lo)} to {_gap(k, hi)}" if lo is not None and hi is not None else "—"


def _comparison(title: str, c: Comparison) -> None:
    out.print(f"\n[bold]{title}[/] ({c.window}; like for like within {', '.join(c.strata)})")
    weighted = any(k.weighted is not None for k in c.kpis)
    extra = ("weighted gap", "95% interval") if weighted else ()
    table = Table("KPI", c.focus, c.other, "naive gap", "like-for-like gap", "95% interval", *extra)
    for k in c.kpis:
        fv = _pct(k.focus_value) if k.unit == "share" else f"{k.focus_value or 0:.2f}"
        ov = _pct(k.other_value) if k.unit == "share" else f"{k.other_value or 0:.2f}"
        cells = [k.name, fv, ov, _gap(k, k.naive), _gap(k, k.adjusted), _span(k, k.lo, k.hi)]
        if weighted:
            cells += [_gap(k, k.weighted), _span(k, k.weighted_lo, k.weighted_hi)]
        table.add_row(*cells)
    out.print(table)
    for k in c.kpis:
        out.print(f"  {k.sentence}", soft_wrap=True)
        if k.weighted_sentence:
            out.print(f"    {k.weighted_sentence}", soft_wrap=True)
    for band, gaps in c.by_band.items():
        for k in gaps:
            rel = f" ({k.relative:+.0%})" if k.relative is not None else ""
            out.print(f"  {k.name}, tenure {band}: {_gap(k, k.adjusted)}{rel}")


@app.command("show")
def show(
    deployment: str = DEPLOYMENT,
    start: str = START,
    end: str = END,
    as_json: bool = JSON,
) -> None:
    """The adoption page in the terminal: headline, funnel, who stopped, where it decays and
    why, workaround signals, pilot vs rollout, AI vs the legacy path, champions."""
    from daytwo.adoption.service import overview

    with open_ledger() as ledger, open_events() as events:
        policy = backlog_policy()
        period = _period(events, deployment, start, end)
        o = overview(ledger, events, deployment, period, policy, agents_visible=True)
    if as_json:
        out.print_json(o.model_dump_json())
        return
    h = o.headline
    last = (o.period.end - timedelta(days=1)).date()
    out.print(f"[bold]{deployment}[/] adoption, {o.period.start.date()} to {last}")
    target = f" (target {_pct(h.target)}: {h.status.replace('_', ' ')})" if h.status else ""
    out.print(
        f"acceptance {_pct(h.acceptance)} (before: {_pct(h.previous_acceptance)}){target}; "
        f"AI used in {_pct(h.usage)} of conversations; workflows completed {_pct(h.completion)}",
        soft_wrap=True,
    )
    out.print(
        f"active agents {h.active_daily:.0f} a day, {h.active_weekly} in the last week, of "
        f"{h.agents_offered} offered; {h.frequency or 0:.1f} suggestions used per active day"
    )
    funnel = Table("feature", "shown", "accepted", "edited", "dismissed", "ignored", "acceptance",
                   "median time to accept")  # fmt: skip
    for f in o.funnel:
        funnel.add_row(
            f.label, f"{f.shown:,}", f"{f.accepted:,}", f"{f.edited:,}", f"{f.dismissed:,}",
            f"{f.ignored:,}", _pct(f.acceptance),
            f"{f.tta_median_s:.0f} s" if f.tta_median_s is not None else "—",
        )  # fmt: skip
    out.print(funnel)
    out.print("\n[bold]Who stopped[/]")
    for g in o.stopped or []:
        out.print(f"  {g.sentence}", soft_wrap=True)
    if not o.stopped:
        out.print("  No group where more agents fell or stopped than before.")
    out.print("\n[bold]Where adoption is decaying[/] (open findings, with suspect changes)")
    for d in o.decay:
        out.print(f"  #{d.finding_id} {d.title}", soft_wrap=True)
        for suspect in d.suspects:
            out.print(f"      suspect: {suspect['title']} — {suspect['reason']}", soft_wrap=True)
    if not o.decay:
        out.print("  None open.")
    out.print("\n[bold]Workaround signals[/]")
    for sig in o.signals:
        out.print(f"  {sig.name}: {sig.sentence or 'not seen'}", soft_wrap=True)
    if o.pilot:
        _comparison("Pilot vs rollout", o.pilot)
    else:
        out.print(f"\n{o.pilot_note}")
    if o.ai_vs_legacy:
        _comparison("AI vs the legacy path", o.ai_vs_legacy)
    c = o.champions
    if c is None:
        return
    out.print(
        f"\n[bold]Champions[/]: {len(c.champions)}; teams without one: "
        f"{', '.join(c.uncovered) or 'none'}"
    )
    e = c.effect
    if e.estimate is not None and e.lo is not None and e.hi is not None:
        out.print(
            f"  their teams' acceptance after the start vs teams without: "
            f"{e.estimate * 100:+.1f} points ({e.lo * 100:+.1f} to {e.hi * 100:+.1f}). {e.note}",
            soft_wrap=True,
        )
    for team, cands in c.candidates.items():
        if cands:
            out.print(f"  candidates for {team}: {', '.join(x.agent_ref for x in cands)}")


@app.command("agents")
def agents(
    deployment: str = DEPLOYMENT,
    end: str = END,
    status: str = typer.Option(None, help="Only agents who fell, stopped, steady or untested."),
    as_json: bool = JSON,
) -> None:
    """Every agent's use in the last 14 days against their own 28 days before."""
    from daytwo.adoption.service import agents as agent_rows

    if status and status not in ("fell", "stopped", "steady", "untested"):
        raise InputError("--status takes fell, stopped, steady or untested.")
    with open_ledger() as ledger, open_events() as events:
        rows = agent_rows(ledger, events, deployment, _period(events, deployment, None, end))
    rows = [r for r in rows if not status or r.status == status]
    if as_json:
        out.print_json(json.dumps([r.model_dump(mode="json") for r in rows]))
        return
    table = Table("agent", "site", "team", "tenure", "conversations", "acceptance", "own baseline",
                  "status", "since", "features")  # fmt: skip
    for r in rows:
        table.add_row(
            r.agent_ref + (" ★" if r.champion else ""), r.site or "", r.team or "",
            r.tenure or "", str(r.conversations), _pct(r.acceptance),
            _pct(r.baseline_acceptance), r.status, str(r.stopped_since or ""),
            ", ".join(r.features),
        )  # fmt: skip
    out.print(table)


@cohorts_app.command("list")
def cohorts_list(deployment: str = DEPLOYMENT, as_json: bool = JSON) -> None:
    """The recorded cohorts, with how many agents each holds."""
    from daytwo.adoption.cohorts import list_cohorts

    with open_ledger() as ledger, open_events() as events:
        rows = list_cohorts(ledger, deployment, events)
    if as_json:
        out.print_json(json.dumps([r.model_dump(mode="json") for r in rows]))
        return
    if not rows:
        out.print("No cohorts recorded; a 'cohort=pilot' segment gives the default pilot.")
    for r in rows:
        out.print(f"{r.name} ({r.role}): {r.definition}; {r.n_agents} agents")


@cohorts_app.command("add")
def cohorts_add(
    deployment: str = DEPLOYMENT,
    name: str = typer.Option(..., help="The cohort's name."),
    role: str = typer.Option(..., help="pilot or rollout."),
    segment: str = typer.Option(None, help="key=value its agents' conversations carry."),
    agents: str = typer.Option("", help="Comma-separated agent refs."),
    enabled_from: str = typer.Option(None, "--from", help="First offered on or after (day)."),
    enabled_until: str = typer.Option(None, "--until", help="...and on or before (day)."),
    journeys: str = typer.Option("", help="Comma-separated journeys (default: all)."),
    description: str = typer.Option("", help="What it is."),
    actor: str = AS,
) -> None:
    """Record a cohort (one definition: a segment, a list of agents or a first-offer range)."""
    from daytwo.adoption.cohorts import create_cohort
    from daytwo.adoption.schemas import CohortCreate

    spec = validated(
        CohortCreate,
        {
            "deployment": deployment, "name": name, "role": role, "segment": segment,
            "agents": [a.strip() for a in agents.split(",") if a.strip()],
            "enabled_from": _day(enabled_from, "from"),
            "enabled_until": _day(enabled_until, "until"),
            "journeys": [j.strip() for j in journeys.split(",") if j.strip()],
            "description": description,
        },
    )  # fmt: skip
    with open_ledger() as ledger, open_events() as events:
        row = create_cohort(ledger, events, spec, actor=cli_actor(actor))
    out.print(f"cohort {row.name} ({row.role}): {row.definition}; {row.n_agents} agents")


@cohorts_app.command("remove")
def cohorts_remove(
    deployment: str = DEPLOYMENT, name: str = typer.Option(..., help="The cohort's name.")
) -> None:
    """Remove a recorded cohort."""
    from daytwo.adoption.cohorts import delete_cohort

    with open_ledger() as ledger:
        delete_cohort(ledger, deployment, name)
    out.print(f"removed cohort {name}")


@cohorts_app.command("compare")
def cohorts_compare(
    deployment: str = DEPLOYMENT,
    basis: str = typer.Option("same_age", help="same_age or calendar."),
    start: str = START,
    end: str = END,
    as_json: bool = JSON,
) -> None:
    """The pilot against the rollout, naive and like for like, KPI by KPI."""
    from daytwo.adoption.service import pilot_comparison

    if basis not in ("same_age", "calendar"):
        raise InputError("--basis takes same_age or calendar.")
    with open_ledger() as ledger, open_events() as events:
        period = _period(events, deployment, start, end)
        found, note = pilot_comparison(
            ledger, events, deployment, period, "same_age" if basis == "same_age" else "calendar"
        )
    if found is None:
        raise InputError(note)
    if as_json:
        out.print_json(found.model_dump_json())
        return
    _comparison("Pilot vs rollout", found)
    out.print(f"\n{found.note}", soft_wrap=True)


@champions_app.command("list")
def champions_list(deployment: str = DEPLOYMENT, as_json: bool = JSON) -> None:
    """The champions, from when, where."""
    from daytwo.adoption.champions import list_champions

    with open_ledger() as ledger:
        rows = list_champions(ledger, deployment)
    if as_json:
        out.print_json(json.dumps([r.model_dump(mode="json") for r in rows]))
        return
    for r in rows:
        until = f" until {r.ended_at:%Y-%m-%d}" if r.ended_at else ""
        out.print(f"#{r.id} {r.agent_ref}: {r.team or '?'} ({r.site or '?'}) from "
                  f"{r.started_at:%Y-%m-%d}{until}")  # fmt: skip


@champions_app.command("add")
def champions_add(
    deployment: str = DEPLOYMENT,
    agent: str = typer.Option(..., help="The agent's ref."),
    started: str = typer.Option(None, help="First day as champion (default: today)."),
    team: str = typer.Option(None, help="Team (default: the team of their conversations)."),
    note: str = typer.Option("", help="A note."),
    actor: str = AS,
) -> None:
    """Mark an agent of the deployment as a champion."""
    from daytwo.adoption.champions import add_champion
    from daytwo.adoption.schemas import ChampionCreate

    day = _day(started, "started") or datetime.now(UTC).date()
    spec = validated(
        ChampionCreate,
        {"deployment": deployment, "agent_ref": agent, "team": team, "note": note,
         "started_at": datetime.combine(day, time(), tzinfo=UTC)},
    )  # fmt: skip
    with open_ledger() as ledger, open_events() as events:
        row = add_champion(ledger, events, spec, actor=cli_actor(actor))
    out.print(f"champion #{row.id}: {row.agent_ref} for {row.team} from {row.started_at:%Y-%m-%d}")


@champions_app.command("end")
def champions_end(
    champion_id: int = typer.Argument(..., help="Champion id (see `champions list`)."),
    ended: str = typer.Option(None, help="Last day (default: today)."),
) -> None:
    """End a champion's role."""
    from daytwo.adoption.champions import end_champion

    day = _day(ended, "ended") or datetime.now(UTC).date()
    with open_ledger() as ledger:
        row = end_champion(ledger, champion_id, datetime.combine(day, time(), tzinfo=UTC))
    out.print(f"champion #{row.id} {row.agent_ref} ended {row.ended_at:%Y-%m-%d}")
