"""`daytwo report`: the weekly stakeholder update and the monthly review, as a table, JSON
or PDF."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.table import Table

from daytwo.cli.console import out
from daytwo.cli.stores import open_events, open_ledger, server, settings
from daytwo.report.monthly import MonthlyReview, last_full_month, monthly_review
from daytwo.report.render import kpi_text, monthly_html, pct_text, to_pdf, weekly_html
from daytwo.report.weekly import WeeklyUpdate, last_full_week, weekly_update

app = typer.Typer(help="Stakeholder reports.", no_args_is_help=True)


@app.command("weekly")
def weekly(
    deployment: str = typer.Option(..., "--deployment", "-d", help="Deployment name."),
    week: str | None = typer.Option(
        None, "--week", help="ISO week such as 2026-W48 (default: the last full week)."
    ),
    currency: str | None = typer.Option(
        None, "--currency", help="ISO 4217 code to price the value in (default: the deployment's)."
    ),
    pdf: Path | None = typer.Option(None, "--pdf", help="Also write the report as PDF here."),
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
    table = Table("KPI", "this week", "target", "baseline", "last week", "status",
                  title=f"{deployment}, {period}")  # fmt: skip
    for k in update.kpis:
        table.add_row(
            k.name,
            kpi_text(k.value, k.unit),
            kpi_text(k.target, k.unit),
            kpi_text(k.baseline, k.unit),
            kpi_text(k.previous, k.unit),
            (k.status or "").replace("_", " "),
        )
    out.print(table)
    out.print(
        f"open problems {len(update.worse)} · items opened {update.opened}, "
        f"closed {update.closed}, open {update.open_now} · changes measured {len(update.fixes)}"
    )
    if update.value is not None:
        out.print(f"net value {update.value.net:,.2f} {update.value.currency}")
    for m in update.missing:
        out.print(f"missing: {m}")
    if pdf is not None:
        out.print(f"PDF written to {pdf}")


@app.command("monthly")
def monthly(
    deployment: str = typer.Option(..., "--deployment", "-d", help="Deployment name."),
    month: str | None = typer.Option(
        None, "--month", help="Calendar month such as 2026-11 (default: the last full month)."
    ),
    currency: str | None = typer.Option(
        None, "--currency", help="ISO 4217 code to price the value in (default: the deployment's)."
    ),
    pdf: Path | None = typer.Option(None, "--pdf", help="Also write the review as PDF here."),
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
    table = Table("KPI", period, "target", "baseline", "last month", "status",
                  title=f"{deployment}, {period}")  # fmt: skip
    for k in review.kpis:
        table.add_row(
            k.name,
            kpi_text(k.value, k.unit),
            kpi_text(k.target, k.unit),
            kpi_text(k.baseline, k.unit),
            kpi_text(k.previous, k.unit),
            (k.status or "").replace("_", " "),
        )
    out.print(table)
    if review.value is not None:
        v = review.value
        line = f"net value {v.net:,.2f} {v.currency}, ROI {pct_text(v.roi)}"
        if review.cumulative is not None:
            c = review.cumulative
            line += f" · since {c.since}: {c.net:,.2f} {c.currency}, ROI {pct_text(c.roi)}"
        out.print(line)
    out.print(
        f"open problems {review.open_problems} · wins {len(review.wins)} · "
        f"decisions needed {len(review.decisions)}"
    )
    for m in review.missing:
        out.print(f"missing: {m}")
    if pdf is not None:
        out.print(f"PDF written to {pdf}")
