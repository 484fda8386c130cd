"""Issued reports: the weekly update or monthly review of a period, frozen with the document it
was (HTML and PDF, byte for byte) so that re-opening it next year shows what was read and sent.
A re-issue of a period is a new version; nothing issued is ever changed.

Issuing freezes the numbers and the HTML. The PDF is laid out from that kept HTML either at
once (``render_pdf=True``: what is mailed or handed over) or the first time it is needed
(:func:`issued_pdf`: a download, a mail), and its bytes are kept from then on, so a batch of
reports nobody opens costs no layout and a reopened PDF is still the same bytes."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from pydantic import BaseModel
from sqlalchemy import select, update

from daytwo.errors import InputError, NotFoundError
from daytwo.report.models import IssuedReport
from daytwo.report.monthly import monthly_review
from daytwo.report.render import monthly_html, to_pdf, weekly_html
from daytwo.report.service import REPORT_KINDS, issue_snapshot
from daytwo.report.weekly import weekly_update
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
) -> IssuedReport:
    """Build the report of ``period``, render it, and keep numbers and document as a new
    version. With ``render_pdf`` the PDF is made before anything is written (a failure leaves
    nothing behind); without, it is laid out from the kept HTML on its first download
    (:func:`issued_pdf`)."""
    now = now or datetime.now(UTC)
    if kind not in REPORT_KINDS:
        raise InputError(f"report kind {kind!r}: use one of {', '.join(REPORT_KINDS)}")
    title = document_title(deployment, kind, period)
    if kind == "weekly":
        update = weekly_update(ledger, events, deployment, period, currency=currency, now=now)
        html, payload = weekly_html(title, update, base=base), update.model_dump(mode="json")
    else:
        review = monthly_review(ledger, events, deployment, period, currency=currency, now=now)
        html, payload = monthly_html(title, review, base=base), review.model_dump(mode="json")
    pdf = to_pdf(html) if render_pdf else None
    return issue_snapshot(
        ledger,
        deployment=deployment,
        kind=kind,
        period=period,
        as_of=now,
        payload=payload,
        issued_by=issued_by,
        title=title,
        html=html,
        pdf=pdf,
    )


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
