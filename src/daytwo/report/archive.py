"""Issued reports: the weekly update or monthly review of a period, frozen with the document it
was (HTML and PDF, byte for byte) so that re-opening it next year shows what was read and sent.
A re-issue of a period is a new version; nothing issued is ever changed.

Issuing freezes the numbers and the HTML. The PDF is laid out from that kept HTML either at
once (``render_pdf=True``: what is mailed or handed over) or the first time it is needed
(:func:`issued_pdf`: a download, a mail), and its bytes are kept from then on, so a batch of
reports nobody opens costs no layout and a reopened PDF is still the same bytes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select, update

from daytwo.errors import InputError, NotFoundError
from daytwo.report.models import IssuedReport
from daytwo.report.monthly import MonthlyReview, monthly_review
from daytwo.report.render import monthly_html, to_pdf, weekly_html
from daytwo.report.sections import Subject
from daytwo.report.service import REPORT_KINDS, issue_snapshot
from daytwo.report.weekly import WeeklyUpdate, weekly_update
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger


class IssuedPublic(BaseModel):
    """An issued report as the archive lists it (the document itself is fetched apart)."""

    id: int
    deployment: str
    kind: str
    period: str
    version: int
    title: str
    as_of: datetime
    code_version: str
    issued_by: str
    issued_at: datetime
    sha256: str  # of the PDF; empty until it is laid out
    pdf_bytes: int  # 0 until the PDF is laid out (on its first download)
    href: str
    pdf_href: str


def public(row: IssuedReport) -> IssuedPublic:
    return IssuedPublic(
        id=row.id,
        deployment=row.deployment,
        kind=row.kind,
        period=row.period,
        version=row.version,
        title=row.title or f"{row.deployment}: {row.kind} report, {row.period}",
        as_of=row.as_of,
        code_version=row.code_version,
        issued_by=row.issued_by,
        issued_at=row.issued_at,
        sha256=row.sha256,
        pdf_bytes=len(row.pdf or b""),
        href=f"/reports/archive/{row.id}",
        pdf_href=f"/reports/archive/{row.id}.pdf",
    )


def document_title(deployment: str, kind: str, period: str) -> str:
    what = "weekly update" if kind == "weekly" else "monthly review"
    return f"{deployment}: {what}, {period}"


@dataclass(frozen=True, slots=True)
class ReportDocument:
    """A report built and rendered, not yet issued: its title, numbers and HTML."""

    kind: str
    deployment: str
    period: str
    as_of: datetime
    title: str
    payload: dict[str, Any]
    html: str


def report_numbers(
    ledger: Ledger,
    events: EventStore,
    *,
    kind: str,
    deployment: str,
    period: str,
    currency: str | None = None,
    now: datetime | None = None,
    who: Subject | None = None,
) -> WeeklyUpdate | MonthlyReview:
    """The numbers of the report of ``period`` as of ``now`` (nothing rendered or written).
    ``who``: the deployment's :func:`~daytwo.report.sections.subject`, for a caller that
    builds several of its reports from the same data (read here otherwise)."""
    now = now or datetime.now(UTC)
    if kind not in REPORT_KINDS:
        raise InputError(f"report kind {kind!r}: use one of {', '.join(REPORT_KINDS)}")
    if kind == "weekly":
        return weekly_update(
            ledger, events, deployment, period, currency=currency, now=now, who=who
        )
    return monthly_review(ledger, events, deployment, period, currency=currency, now=now, who=who)


def render_report(numbers: WeeklyUpdate | MonthlyReview, *, base: str) -> ReportDocument:
    """A report's numbers rendered as its document (the charts drawn as SVG, the same whichever
    charts the process drew before)."""
    if isinstance(numbers, WeeklyUpdate):
        kind, period = "weekly", numbers.week
        title = document_title(numbers.deployment, kind, period)
        html = weekly_html(title, numbers, base=base)
    else:
        kind, period = "monthly", numbers.month
        title = document_title(numbers.deployment, kind, period)
        html = monthly_html(title, numbers, base=base)
    payload = numbers.model_dump(mode="json")
    return ReportDocument(kind, numbers.deployment, period, numbers.as_of, title, payload, html)


def issue_document(
    ledger: Ledger, document: ReportDocument, *, issued_by: str, render_pdf: bool = False
) -> IssuedReport:
    """Keep a built report's numbers and document as a new version of its period. With
    ``render_pdf`` the PDF is made before anything is written (a failure leaves nothing
    behind); without, it is laid out from the kept HTML on its first download
    (:func:`issued_pdf`)."""
    pdf = to_pdf(document.html) if render_pdf else None
    return issue_snapshot(
        ledger,
        deployment=document.deployment,
        kind=document.kind,
        period=document.period,
        as_of=document.as_of,
        payload=document.payload,
        issued_by=issued_by,
        title=document.title,
        html=document.html,
        pdf=pdf,
    )


def issue_report(
    ledger: Ledger,
    events: EventStore,
    *,
    kind: str,
    deployment: str,
    period: str,
    issued_by: str,
    base: str,
    currency: str | None = None,
    now: datetime | None = None,
    render_pdf: bool = False,
    who: Subject | None = None,
) -> IssuedReport:
    """Build the report of ``period`` (:func:`report_numbers`), render it
    (:func:`render_report`), and keep numbers and document as a new version
    (:func:`issue_document`)."""
    numbers = report_numbers(
        ledger, events, kind=kind, deployment=deployment, period=period, currency=currency,
        now=now, who=who,
    )  # fmt: skip
    document = render_report(numbers, base=base)
    return issue_document(ledger, document, issued_by=issued_by, render_pdf=render_pdf)


def issued_pdf(ledger: Ledger, row: IssuedReport) -> bytes:
    """The issued report's PDF: the kept bytes, or, the first time, laid out from its kept
    HTML and kept. Two first downloads at once both lay it out; the first write is kept and
    both answer with it, so every download of a report is the same bytes."""
    if row.pdf is not None:
        return row.pdf
    pdf = to_pdf(row.html)
    with ledger.session() as session:
        session.execute(
            update(IssuedReport)
            .where(IssuedReport.id == row.id, IssuedReport.pdf.is_(None))
            .values(pdf=pdf, sha256=hashlib.sha256(pdf).hexdigest())
        )
    with ledger.session() as session:
        kept = session.scalar(select(IssuedReport.pdf).where(IssuedReport.id == row.id))
    row.pdf = kept if kept is not None else pdf
    row.sha256 = hashlib.sha256(row.pdf).hexdigest()
    return row.pdf


def list_issued(
    ledger: Ledger, deployments: list[str], *, kind: str | None = None
) -> list[IssuedPublic]:
    """The issued reports of ``deployments``, newest period first, every version listed."""
    with ledger.session() as session:
        query = select(IssuedReport).where(IssuedReport.deployment.in_(deployments))
        if kind:
            query = query.where(IssuedReport.kind == kind)
        query = query.order_by(
            IssuedReport.period.desc(), IssuedReport.deployment, IssuedReport.version.desc()
        )
        return [public(r) for r in session.scalars(query)]


def get_issued(ledger: Ledger, report_id: int, deployments: list[str]) -> IssuedReport:
    """One issued report with its document; one of a deployment the caller may not read is
    not found."""
    with ledger.session() as session:
        row = session.get(IssuedReport, report_id)
        if row is None or row.deployment not in deployments:
            raise NotFoundError(f"No issued report {report_id}.")
        session.expunge(row)
        return row
