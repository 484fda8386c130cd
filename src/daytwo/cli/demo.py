"""`daytwo demo`: build the living demo deployment, then serve it."""

from __future__ import annotations

import typer

from daytwo.cli.console import out
from daytwo.cli.serve import run_server

DEMO_ADMIN = "admin"


def demo(
    serve: bool = typer.Option(True, "--serve/--no-serve", help="Serve the UI when built."),
    seed: int = typer.Option(7, help="Generator seed: the same seed builds the same data."),
    days: int = typer.Option(90, min=14, help="Days of history."),
    interactions_per_day: int = typer.Option(
        2000, "--interactions-per-day", min=10, help="Volume; raise it for benchmarks."
    ),
    force: bool = typer.Option(
        False, "--force", help="Replace a data dir that holds data the demo did not create."
    ),
    analyze: bool = typer.Option(
        True,
        "--analyze/--no-analyze",
        help="Run the detectors and cluster the knowledge gaps once the data is in, so the "
        "findings, backlog and gaps pages have the demo's problems on them.",
    ),
    history: bool = typer.Option(
        True,
        "--history/--no-history",
        help="Replay the history through the scheduled analysis day by day, the demo's "
        "people acting on the backlog between the days, so findings, items, SLA clocks, "
        "triage, fixes and verdicts carry their true dates (the default). --no-history "
        "analyses once, at the latest data: quicker, but every finding and item is dated "
        "the build day.",
    ),
    with_receiver: bool = typer.Option(
        False,
        "--with-receiver",
        help="Start a local webhook receiver, point the demo's alerts at it and show each alert "
        "in this terminal as it arrives (while the demo serves).",
    ),
    host: str = typer.Option(None, help="Address to bind when serving."),
    port: int = typer.Option(None, help="Port when serving."),
) -> None:
    """Generate a realistic 90-day contact-center deployment into the data dir and serve it."""
    # daytwo uses Arrow, never pandas, but pyarrow imports pandas on its first array wherever
    # it is installed (a second and a half of the build's start): left out, as in the
    # server's workers.
    from daytwo.worker_start import without_pandas

    without_pandas()
    # Imported here: the generator and its corpus load only when the demo is asked for.
    import orjson

    from daytwo.cli.progress import steps
    from daytwo.demo.generator import DemoConfig
    from daytwo.demo.load import analyze_demo, build_demo
    from daytwo.errors import ConfigError
    from daytwo.governance.accounts import create_user, new_password
    from daytwo.governance.roles import Role
    from daytwo.http import link
    from daytwo.settings import Settings
    from daytwo.store.ledger import Ledger

    settings = Settings(demo=True)
    if host:
        settings.host = host
    if port:
        settings.port = port
    running = link.read(settings.data_dir)
    if running is not None:
        raise ConfigError(
            f"daytwo serve (process {running.pid}) is serving {settings.data_dir} at "
            f"{running.url}: stop it before building the demo there (the demo replaces the "
            "data dir), or set DAYTWO_DATA_DIR to another folder."
        )
    config = DemoConfig(seed=seed, days=days, interactions_per_day=interactions_per_day)
    with steps("building the demo", "days") as progress:
        summary = build_demo(
            settings,
            config,
            force=force,
            on_batch=lambda done, total: progress.update(done, total),
            history=history and analyze,
            warm_gaps=analyze,
        )
    out.print(
        f"demo built in {summary.seconds:.1f}s: {', '.join(summary.deployments)}; "
        f"{summary.interactions:,} interactions, {summary.turns:,} turns "
        f"({summary.deliveries - summary.interactions:,} duplicate deliveries absorbed). "
        f"Ground truth: {summary.manifest_path}"
    )
    receiver = None
    if with_receiver:
        from daytwo.demo.receiver import DemoReceiver, wire

        receiver = DemoReceiver(show=lambda text: out.print(text, markup=False, highlight=False))
        receiver.start()
        ledger = Ledger(settings.resolved_ledger_url)
        try:
            wire(ledger, settings, receiver)
        finally:
            ledger.dispose()
        out.print(f"alerts go to the demo's receiver at {receiver.url} and show here")
    if analyze:
        manifest = orjson.loads(summary.manifest_path.read_bytes())
        label = "replaying the history day by day" if history else "analysing the demo"
        with steps(label, "looks" if history else "") as progress:
            done = analyze_demo(
                settings,
                manifest,
                progress=lambda step: progress.update(note=step),
                history=history,
                on_look=lambda looks, total: progress.update(looks, total),
                gaps_warmed=True,  # by the build (``warm_gaps``)
            )
        out.print(
            f"analysed in {done.seconds:.1f}s: {done.findings:,} findings in {done.items:,} "
            f"backlog items, {done.gaps:,} knowledge gaps"
        )
        from daytwo.demo.reports import issue_demo_reports

        with steps("issuing the weekly and monthly reports") as progress:
            issued = issue_demo_reports(
                settings,
                manifest,
                progress=lambda step: progress.update(note=step),
                dated=history,
            )
        out.print(f"{issued:,} reports issued into the archive (/reports/archive)")
    password = new_password()
    ledger = Ledger(settings.resolved_ledger_url)
    try:
        create_user(ledger, DEMO_ADMIN, password, Role.admin, actor="demo")
    finally:
        ledger.dispose()
    url = link.loopback_url(settings.host, settings.port)
    where = f"open [bold]{url}/[/] and " if serve else f"after `daytwo serve`, open {url}/ and "
    out.print(
        f"{where}sign in as [bold]{DEMO_ADMIN}[/] with the password [bold]{password}[/] "
        "(shown once; `daytwo users set admin --reset-password` makes a new one)",
        soft_wrap=True,
    )
    try:
        if serve:
            run_server(settings)
    finally:
        if receiver is not None:
            receiver.stop()
