"""`daytwo gaps`: cluster what the assistant could not handle into knowledge gaps, and list them."""

from __future__ import annotations

import json
from typing import cast

import typer

from daytwo.cli.console import out
from daytwo.cli.stores import open_events, open_ledger, server


def gaps(
    deployment: str = typer.Option(..., "--deployment", "-d", help="Deployment name."),
    as_json: bool = typer.Option(
        False, "--json", help="Print JSON: every gap with its member utterances."
    ),
    refresh: bool = typer.Option(
        True, help="Cluster new data first (skipped when nothing arrived since the last run)."
    ),
    force: bool = typer.Option(False, help="Cluster again even when no data arrived."),
    encoder: str | None = typer.Option(
        None, help="minilm or wordllama (default: the DAYTWO_GAPS_ENCODER setting)."
    ),
    show_all: bool = typer.Option(False, "--all", help="Also list gaps no longer found."),
) -> None:
    """Knowledge gaps of a deployment: label, type, volume, growth, journeys and examples,
    by volume × growth; off-topic chit-chat counted apart."""
    from rich.table import Table

    from daytwo.cli.analyze import follow, run_here
    from daytwo.detect.gaps.calc import BUSINESS_KINDS, kind_phrase
    from daytwo.detect.gaps.listing import list_gaps
    from daytwo.detect.gaps.schemas import GapPublic
    from daytwo.errors import ConfigError
    from daytwo.pipeline.jobs import AnalysisRequest
    from daytwo.settings import GAP_ENCODERS, GapEncoder

    if encoder is not None and encoder not in GAP_ENCODERS:
        raise ConfigError(
            f"Unknown gap encoder {encoder!r}; choose one of: {', '.join(GAP_ENCODERS)}."
        )
    request = AnalysisRequest(
        deployment=deployment,
        force=force,
        detectors=False,
        gaps=True,
        encoder=cast(GapEncoder | None, encoder),
    )
    remote = server()
    if remote is not None:
        if refresh:
            follow(remote, request, "clustering utterances into gaps on the server")
        answer = remote.get(
            "/api/v1/gaps",
            deployment=deployment,
            status="all" if show_all else "open",
            members=as_json,
        )
        found = [GapPublic.model_validate(g) for g in answer]
    else:
        if refresh:
            run_here(request, "clustering utterances into gaps")
        with open_ledger() as ledger, open_events() as events:
            found = list_gaps(
                ledger,
                events,
                deployment,
                status=None if show_all else "open",
                with_members=as_json,
            )
    if as_json:
        out.print_json(json.dumps([g.model_dump(mode="json") for g in found]))
        return
    table = Table("id", "gap", "type", "utterances", "7 days", "growth", "journeys", "example")
    business = sorted(
        (g for g in found if g.kind in BUSINESS_KINDS), key=lambda g: (-g.priority, g.id)
    )
    for g in business:
        table.add_row(
            g.id,
            g.label,
            kind_phrase(g.kind, g.intent),
            f"{g.volume:,}",
            f"{g.recent:,}",
            f"{g.growth:+.0%}" if g.growth is not None else "-",
            ", ".join(list(g.journeys)[:3]),
            (g.examples[0].text or "") if g.examples else "",
        )
    out.print(table)
    off = [g for g in found if g.kind not in BUSINESS_KINDS]
    if off:
        out.print(
            f"Off-topic, kept apart: {len(off)} gaps, {sum(g.volume for g in off):,} utterances "
            f"({sum(g.recent for g in off):,} in the last 7 days; "
            f"{sum(g.previous for g in off):,} the 7 before). `--json` lists them."
        )
