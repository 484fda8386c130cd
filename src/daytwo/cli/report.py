"""`daytwo report`: the weekly stakeholder update and the monthly review, as a table, JSON
or PDF."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.table import Table

from daytwo.cli.console import out
from daytwo.cli.stores import actor, open_events, open_ledger, server, settings
from daytwo.metrics.schemas import MetricSummary
from daytwo.report.monthly import MonthlyReview, last_full_month, monthly_review
from daytwo.report.render import kpi_text, monthly_html, pct_text, to_pdf, weekly_html
from daytwo.report.weekly import WeeklyUpdate, last_full_week, weekly_update
from daytwo.units import fmt_money

app = typer.Typer(help="Stakeholder reports.", no_args_is_help=True)

# The options every report command shares.
DEPLOYMENT = typer.Option(..., "--deployment", "-d", help="Deployment name.")
CURRENCY = typer.Option(
    None, "--currency", help="ISO 4217 code to price the value in (default: the deployment's)."
)
PDF = typer.Option(None, "--pdf", help="Also write the report as PDF here.")


def kpi_table(
    kpis: list[MetricSummary], periods: tuple[str, str], title: str, currency: str | None
) -> Table:
    """The KPIs against target, baseline and the period before, as the terminal shows them
    (money in ``currency``)."""
    table = Table("KPI", periods[0], "target", "baseline", periods[1], "status", title=title)
    for k in kpis:
        table.add_row(
            k.name,
            kpi_text(k.value, k.unit, currency),
            kpi_text(k.target, k.unit, currency),
            kpi_text(k.baseline, k.unit, currency),
            kpi_text(k.previous, k.unit, currency),
            (k.status or "").replace("_", " "),
        )
    return table


@app.command("weekly")
def weekly(
    deployment: str = DEPLOYMENT,
    week: str | None = typer.Option(
        None, "--week", help="ISO week such as 2026-W48 (default: the last full week)."
    ),
    currency: str | None = CURRENCY,
    pdf: Path | None = PDF,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """The weekly update: KPIs against target, baseline and last week; open findings; backlog
    movement; measured changes; value."""
    period = week or last_full_week(datetime.now(UTC))
    remote = server()
    if remote is not None:  # the running server holds the events store: ask it
        answer = remote.get(
            "/api/v1/reports/weekly", deployment=deployment, week=period, currency=currency
        )
        update = WeeklyUpdate.model_validate(answer)
    else:
        with open_ledger() as ledger, open_events() as events:
            update = weekly_update(ledger, events, deployment, period, currency=currency)
    if pdf is not None:
        title = f"{deployment}: weekly update, {period}"
        html = weekly_html(title, update, base=settings().notify_public_url)
        pdf.write_bytes(to_pdf(html))
    if as_json:
        out.print_json(json.dumps(update.model_dump(mode="json")))
        return
    currency = update.value.currency if update.value else None
    out.print(
        kpi_table(update.kpis, ("this week", "last week"), f"{deployment}, {period}", currency)
    )
    out.print(
        f"open problems {len(update.worse)} · items opened {update.backlog.opened}, "
        f"closed {update.backlog.closed}, open {update.backlog.open}, overdue "
        f"{update.backlog.overdue} · changes measured {update.fixes_total}"
    )
    if update.value is not None:
        out.print(f"net value {fmt_money(update.value.net, update.value.currency)}")
    for m in update.missing:
        out.print(f"missing: {m}")
    if pdf is not None:
        out.print(f"PDF written to {pdf}")


@app.command("monthly")
def monthly(
    deployment: str = DEPLOYMENT,
    month: str | None = typer.Option(
        None, "--month", help="Calendar month such as 2026-11 (default: the last full month)."
    ),
    currency: str | None = CURRENCY,
    pdf: Path | None = PDF,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a summary."),
) -> None:
    """The monthly business review: value and ROI (month and since go-live), KPIs and their
    trend, adoption, wins, risks, decisions needed, retrospective, definitions."""
    period = month or last_full_month(datetime.now(UTC))
    remote = server()
    if remote is not None:  # the running server holds the events store: ask it
        answer = remote.get(
            "/api/v1/reports/monthly", deployment=deployment, month=period, currency=currency
        )
        review = MonthlyReview.model_validate(answer)
    else:
        with open_ledger() as ledger, open_events() as events:
            review = monthly_review(ledger, events, deployment, period, currency=currency)
    if pdf is not None:
        title = f"{deployment}: monthly review, {period}"
        pdf.write_bytes(to_pdf(monthly_html(title, review, base=settings().notify_public_url)))
    if as_json:
        out.print_json(json.dumps(review.model_dump(mode="json")))
        return
    out.print(
        kpi_table(
            review.kpis,
            (period, "last month"),
            f"{deployment}, {period}",
            review.value.currency if review.value else None,
        )
    )
    if review.value is not None:
        v = review.value
        line = f"net value {fmt_money(v.net, v.currency)}, ROI {pct_text(v.roi)}"
        if review.cumulative is not None:
            c = review.cumulative
            line += f" · since {c.since}: {fmt_money(c.net, c.currency)}, ROI {pct_text(c.roi)}"
        out.print(line)
    out.print(
        f"open problems {review.open_problems} · wins {len(review.wins)} · "
        f"decisions needed {len(review.decisions)}"
    )
    for m in review.missing:
        out.print(f"missing: {m}")
    if pdf is not None:
        out.print(f"PDF written to {pdf}")


@app.command("issue")
def issue(
    kind: str = typer.Argument(..., help="weekly or monthly."),
    deployment: str = DEPLOYMENT,
    period: str | None = typer.Option(
        None, "--period", help="2026-W48 or 2026-11 (default: the last full week or month)."
    ),
    currency: str | None = CURRENCY,
    pdf: Path | None = typer.Option(None, "--pdf", help="Also write the issued PDF here."),
) -> None:
    """Issue a report into the archive: its numbers and its document (HTML and PDF) frozen as
    a new version of the period."""
    from daytwo.report.archive import IssuedPublic, issue_report, public

    now = datetime.now(UTC)
    period = period or (last_full_week(now) if kind == "weekly" else last_full_month(now))
    remote = server()
    if remote is not None:  # the running server holds the events store: it issues the report
        body = {"kind": kind, "deployment": deployment, "period": period, "currency": currency}
        issued = IssuedPublic.model_validate(remote.post("/api/v1/reports/issued", body))
        if pdf is not None:
            with remote.stream("GET", f"/reports/archive/{issued.id}.pdf") as response:
                pdf.write_bytes(response.read())
    else:
        with open_ledger() as ledger, open_events() as events:
            row = issue_report(
                ledger, events, kind=kind, deployment=deployment, period=period,
                issued_by=actor(None), base=settings().notify_public_url, currency=currency,
                now=now, render_pdf=True,
            )  # fmt: skip
        if pdf is not None and row.pdf is not None:
            pdf.write_bytes(row.pdf)
        issued = public(row)
    out.print(
        f"issued {issued.title} (version {issued.version}, {issued.pdf_bytes:,} bytes of PDF, "
        f"sha256 {issued.sha256[:12]}); open it at {issued.href}"
    )


@app.command("archive")
def archive(
    deployment: str | None = typer.Option(None, "--deployment", "-d", help="Deployment name."),
    kind: str | None = typer.Option(None, "--kind", help="weekly or monthly."),
) -> None:
    """The issued reports, newest period first, every version."""
    from daytwo.deployments.service import list_deployments
    from daytwo.report.archive import list_issued

    with open_ledger() as ledger:
        names = [deployment] if deployment else [d.name for d in list_deployments(ledger)]
        rows = list_issued(ledger, names, kind=kind)
    table = Table("id", "deployment", "report", "period", "version", "as of", "issued by")
    for r in rows:
        table.add_row(
            str(r.id), r.deployment, r.kind, r.period, str(r.version),
            f"{r.as_of:%Y-%m-%d %H:%M}", r.issued_by,
        )  # fmt: skip
    out.print(table)


@app.command("subscribe")
def subscribe_cmd(
    kind: str = typer.Argument(..., help="weekly or monthly."),
    deployment: str = DEPLOYMENT,
    channel: str = typer.Option(..., "--channel", help="An e-mail notification channel."),
    to: list[str] = typer.Option([], "--to", help="Recipient (repeat); default the channel's."),
    weekday: int = typer.Option(0, "--weekday", min=0, max=6, help="0 = Monday (weekly)."),
    day: int = typer.Option(1, "--day", min=1, max=28, help="Day of the month (monthly)."),
    hour: int = typer.Option(8, "--hour", min=0, max=23, help="Hour of the day."),
    timezone: str = typer.Option("UTC", "--timezone", help="IANA time zone, e.g. Europe/Lisbon."),
) -> None:
    """Send a deployment's weekly update or monthly review by e-mail on schedule."""
    from daytwo.report.schedule import SubscriptionCreate, subscribe

    spec = SubscriptionCreate(
        deployment=deployment, kind=kind, channel=channel, recipients=to, weekday=weekday,
        day=day, hour=hour, timezone=timezone,
    )  # fmt: skip
    with open_ledger() as ledger:
        sub = subscribe(ledger, spec, actor=actor(None))
    out.print(f"subscription {sub.id}: {sub.deployment}'s {sub.kind} report to {sub.channel}")


@app.command("send-due")
def send_due_cmd() -> None:
    """Issue and queue the scheduled reports whose time has come, then deliver the outbox
    (what `daytwo serve` does on its own every DAYTWO_REPORT_SCHEDULE_SECONDS)."""
    from daytwo.errors import ConfigError
    from daytwo.notify.outbox import deliver_due
    from daytwo.report.schedule import send_due

    remote = server()
    if remote is not None:
        raise ConfigError(
            f"daytwo serve at {remote.record.url} sends the scheduled reports itself (every "
            f"{settings().report_schedule_seconds:g} s); `daytwo report archive` lists what it "
            "issued and `daytwo notify log` what it sent."
        )
    with open_ledger() as ledger, open_events() as events:
        queued = send_due(ledger, events, settings())
        report = deliver_due(ledger, settings())
    out.print(
        f"{len(queued)} report(s) queued; {report.delivered} delivered, {report.failed} to retry, "
        f"{report.dead} dead"
    )
