"""Load the generated demo deployment into the stores of a data dir."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from daytwo.adoption import rollup as adoption_rollup
from daytwo.backlog import changes
from daytwo.backlog.policy import BacklogPolicy
from daytwo.backlog.service import list_items
from daytwo.clock import frozen_at
from daytwo.conversations import text_index
from daytwo.demo.adoption import seed_adoption
from daytwo.demo.backlog import seed_backlog
from daytwo.demo.generator import DemoConfig, generate
from daytwo.demo.manifest import ASSIST
from daytwo.demo.plan import seed_plan
from daytwo.demo.team import DemoTeam
from daytwo.deployments.schemas import DeploymentCreate
from daytwo.deployments.service import create_deployment
from daytwo.detect.gaps.service import (
    GapWindow,
    candidate_texts,
    confident_texts,
    latest_data,
    read_gap_window,
    record_gaps,
    warm_vectors,
    warming,
)
from daytwo.detect.registry import select as select_detectors
from daytwo.detect.service import count_findings
from daytwo.errors import ConfigError, ConflictError
from daytwo.ingest.decode import Decoded
from daytwo.ingest.service import ingest
from daytwo.journeys import rollup as journey_rollup
from daytwo.metrics import rollup
from daytwo.pipeline import LastLooks, analyze, cluster_gaps
from daytwo.pipeline.ahead import GapsAhead, fork_available
from daytwo.settings import Settings
from daytwo.store.events import EventStore, open_event_store
from daytwo.store.ledger import DeploymentKind, Ledger, upgrade

MARKER = ".daytwo-demo"
MANIFEST = "demo-manifest.json"
# The first day an analysis can run: a week before the baseline, two weeks of it, a week after.
FIRST_ANALYSIS_DAY = 28
# Processes computing the replay's looks (where the machine has the cores).
REPLAY_WORKERS = 2
# Days stored between two starts of the gap vectors' embedding while the demo builds.
WARM_EVERY_DAYS = 15


@dataclass(frozen=True, slots=True)
class DemoSummary:
    deployments: list[str]
    interactions: int
    turns: int
    deliveries: int
    seconds: float
    manifest_path: Path


def prepare_data_dir(settings: Settings, *, force: bool = False) -> None:
    """Empty the data dir for a fresh demo; refuse to wipe stores the demo did not create."""
    data_dir = settings.data_dir
    if settings.ledger_url or (settings.events_url and not _chdb_inside(settings)):
        raise ConflictError(
            "The demo builds into the embedded stores of DAYTWO_DATA_DIR; unset "
            "DAYTWO_LEDGER_URL and DAYTWO_EVENTS_URL (or point DAYTWO_DATA_DIR elsewhere). "
            "ClickHouse's engine in-process is allowed inside the data dir: "
            "DAYTWO_EVENTS_URL=chdb:///DATA_DIR/clickhouse."
        )
    if data_dir.exists() and any(data_dir.iterdir()):
        if not (data_dir / MARKER).exists() and not force:
            raise ConflictError(
                f"{data_dir} already holds data that the demo did not create. Choose another "
                "folder with DAYTWO_DATA_DIR, or pass --force to replace it."
            )
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / MARKER).write_text("This folder was built by `daytwo demo`.\n")


def _chdb_inside(settings: Settings) -> bool:
    """Whether the events URL is chDB in a folder of the data dir (the demo may wipe it)."""
    url = settings.events_url or ""
    if not url.startswith("chdb:///"):
        return False
    folder = Path(url.removeprefix("chdb:///").split("?", 1)[0]).resolve()
    return folder.is_relative_to(settings.data_dir.resolve())


def build_demo(
    settings: Settings,
    config: DemoConfig,
    *,
    force: bool = False,
    on_batch: Callable[[int, int], None] | None = None,
    history: bool = False,
    warm_gaps: bool = False,
) -> DemoSummary:
    """Generate the demo and store it through the same ingest path real data takes.

    ``on_batch(done, total)`` reports progress in batches. With ``history``, the owners,
    changes and feedback are left to :func:`analyze_demo`'s replay, which records each on its
    own day. With ``warm_gaps`` (an analysis follows in this process), the messages the
    knowledge gaps will cluster are embedded on another thread from the moment they are
    stored, while the build finishes (:func:`daytwo.detect.gaps.service.warm_vectors`).
    """
    started = time.perf_counter()
    prepare_data_dir(settings, force=force)
    upgrade(settings.resolved_ledger_url)
    ledger = Ledger(settings.resolved_ledger_url)
    dataset = generate(config)
    for spec in dataset.deployments:
        create_deployment(
            ledger,
            DeploymentCreate(
                name=spec.name,
                kind=DeploymentKind(spec.kind),
                description=spec.description,
                go_live=spec.go_live,
                baseline_start=spec.baseline_start,
                journeys=list(spec.journeys),
                targets=dict(spec.targets),
                cost_model=dict(spec.cost_model),
            ),
            replace=True,
        )
    ledger.dispose()
    deliveries = 0
    total = dataset.n_batches
    names = [d.name for d in dataset.deployments]
    warmed: dict[str, datetime | None] = dict.fromkeys(names)
    with open_event_store(settings.resolved_events_url) as store:
        for done, batch in enumerate(dataset.batches(), start=1):
            decoded = Decoded(batch, [], batch.n_records)
            ingest(store, decoded, source="demo")
            deliveries += batch.n_records
            if warm_gaps and done % WARM_EVERY_DAYS == 0:
                _warm_stored_so_far(settings, store, warmed)
            if on_batch:
                on_batch(done, total)
        # Written once drawn: the value truth is summed from the days' own draws.
        manifest_path = settings.data_dir / MANIFEST
        manifest_path.write_bytes(orjson.dumps(dataset.manifest, option=orjson.OPT_INDENT_2))
        interactions = store.count("interactions")
        turns = store.count("turns")
        if warm_gaps:
            _warm_gap_vectors(settings, store, names)
        store.optimize()
        # Build the rollups and the search text now, so the first page served is fast.
        tables = (*rollup.TABLES, text_index.TABLE, *journey_rollup.TABLES, *adoption_rollup.TABLES)
        for table in tables:
            store.derived_ready(table.name)
    if not history:
        seed_backlog(settings, dataset.manifest)
    seed_adoption(settings, dataset.manifest)
    return DemoSummary(
        deployments=[d.name for d in dataset.deployments],
        interactions=interactions,
        turns=turns,
        deliveries=deliveries,
        seconds=time.perf_counter() - started,
        manifest_path=manifest_path,
    )


def _warm_stored_so_far(
    settings: Settings, store: EventStore, warmed: dict[str, datetime | None]
) -> None:
    """Start embedding the candidate messages of the days stored since the last call (by
    deployment, from the start time ``warmed`` holds), unless the last call's are still being
    embedded: the encoder takes the core the build leaves idle, and the embedding that
    :func:`_warm_gap_vectors` waits for at the end of the build is what is left. Which texts
    are warmed early changes no vector (:func:`~daytwo.detect.gaps.service.warm_vectors`)."""
    try:
        if warming(settings.gaps_encoder):
            return
        texts: list[str] = []
        for name, since in warmed.items():
            latest = latest_data(store, name)
            texts += candidate_texts(store, name, since)
            warmed[name] = latest
        warm_vectors(settings.gaps_encoder, texts)
    except ConfigError:
        return


def _warm_gap_vectors(settings: Settings, store: EventStore, deployments: list[str]) -> None:
    """Start embedding the messages the analysis's gap clustering will read: the candidates
    of every window, and what the last window's intents look like answered (no encoder
    installed: nothing to warm, and the analysis says so itself)."""
    try:
        texts = [t for name in deployments for t in candidate_texts(store, name)]
        texts += [
            t
            for name in deployments
            for t in confident_texts(store, name, settings.gaps_window_days)
        ]
        warm_vectors(settings.gaps_encoder, texts)
    except ConfigError:
        return


@dataclass(frozen=True, slots=True)
class DemoAnalysis:
    findings: int
    items: int
    gaps: int
    seconds: float


def analyze_demo(
    settings: Settings,
    manifest: dict[str, Any],
    progress: Callable[[str], None] | None = None,
    *,
    history: bool = False,
    on_look: Callable[[int, int], None] | None = None,
    gaps_warmed: bool = False,
) -> DemoAnalysis:
    """Run the detectors over the demo the way its owner's schedule would have.

    By default the feed checks run as of the end of every week of the history, so the problems
    that came and went (the feed outage, the duplicate deliveries) were seen while they lasted;
    then every detector runs as of the latest data (its findings open and join items in the
    backlog), and the knowledge gaps of each deployment are clustered for the gaps page.

    With ``history`` (a demo built with it), the scheduled analysis is replayed day by day
    from :data:`FIRST_ANALYSIS_DAY`, each look at its own day on the clock, with the demo's
    people acting on the backlog between the looks (:mod:`daytwo.demo.team`): findings, items,
    SLA clocks, triage, fixes, verdicts and feedback carry their true dates; ``on_look(done,
    total)`` counts its looks (one a deployment a day).
    """
    started = time.perf_counter()
    ledger = Ledger(settings.resolved_ledger_url)
    gaps = 0
    try:
        with open_event_store(settings.resolved_events_url) as events:
            end = datetime.fromisoformat(manifest["through"].replace("Z", "+00:00"))
            at = datetime.combine(date.fromisoformat(manifest["start"]), datetime.min.time(), UTC)
            ahead = None
            if history:
                ahead = replay_history(
                    settings, ledger, events, manifest, progress, on_look, gaps_ahead=True,
                    gaps_warmed=gaps_warmed,
                )  # fmt: skip
            at += timedelta(days=FIRST_ANALYSIS_DAY)
            if progress and not history:
                progress("feed checks, week by week")
            while at < end and not history:
                analyze(
                    settings, ledger, events, trigger="demo", as_of=at,
                    detector_ids=["feed_quality"], force=True,
                )  # fmt: skip
                at += timedelta(days=7)
            if not history:
                analyze(settings, ledger, events, trigger="demo", force=True, progress=progress)
            try:
                for i, deployment in enumerate(manifest["deployments"]):
                    if progress:
                        progress(f"knowledge gaps of {deployment}")
                    if ahead is not None:
                        result = record_gaps(ledger, ahead.windows[i], *ahead.take(i))
                    else:
                        result = cluster_gaps(
                            settings, ledger, events, deployment, trigger="demo", force=True
                        )
                    gaps += result.gaps
            finally:
                if ahead is not None:
                    ahead.close()
            if progress:
                progress("the 90-day plans, evaluated through the history")
        seed_plan(settings, manifest)
        findings = sum(count_findings(ledger).values())
        items = len(list_items(ledger))
    finally:
        ledger.dispose()
    return DemoAnalysis(findings, items, gaps, time.perf_counter() - started)


def replay_history(
    settings: Settings,
    ledger: Ledger,
    events: EventStore,
    manifest: dict[str, Any],
    progress: Callable[[str], None] | None = None,
    on_look: Callable[[int, int], None] | None = None,
    *,
    gaps_ahead: bool = False,
    gaps_warmed: bool = False,
) -> GapsAhead | None:
    """The demo's history through the scheduled analysis, one look a day from
    :data:`FIRST_ANALYSIS_DAY`, its people acting between the looks (a demo built with
    ``history``); ``on_look(done, total)`` after each look.

    With ``gaps_ahead`` on two cores, the knowledge gaps of each deployment at its latest
    data (what the gaps page shows) are clustered by a second process while this one takes
    the looks that follow the replay; what it returns hands them over, to be recorded once
    those are (the ledger's rows and ids are those of clustering them afterwards here: nothing
    between writes the gaps or the events they read). With ``gaps_warmed``, a build in this
    process has started embedding every vector the gaps read (the same events): they are not
    looked for again."""
    end = datetime.fromisoformat(manifest["through"].replace("Z", "+00:00"))
    start = datetime.combine(date.fromisoformat(manifest["start"]), datetime.min.time(), UTC)
    team = DemoTeam(settings, ledger, events, manifest, end)
    team.start(start)
    since = start + timedelta(days=FIRST_ANALYSIS_DAY - 1)
    # One look a deployment a day, the last day's included: what the progress counts to.
    total = len(manifest["deployments"]) * max((end - since).days + 1, 1)
    done = 0

    @contextmanager
    def around(deployment: str, at: datetime) -> Iterator[None]:
        nonlocal done
        if progress:
            progress(f"{deployment} as of {at:%d %b}")
        with team.around(deployment, at):
            yield
        done += 1
        if on_look:
            on_look(min(done, total), total)

    # Two cores: each deployment's looks are computed from both ends at once, recorded here
    # in their order (:class:`daytwo.pipeline.ahead.DetectAhead`). The knowledge gaps' vectors
    # are embedded first (unless a build in this process has started on them already), so the
    # second process finds them in its copy of the cache.
    workers = min(REPLAY_WORKERS, os.cpu_count() or 1)
    if workers > 1 and not gaps_warmed:
        _warm_gap_vectors(settings, events, list(manifest["deployments"]))
    # The replay's last look at each deployment is its latest data: the look on the real clock
    # below runs the same detectors on the same window and events, and records its findings.
    last_looks = LastLooks()
    analyze(
        settings, ledger, events, trigger="demo", since=since, around_look=around,
        workers=workers, last_looks=last_looks,
    )  # fmt: skip
    ahead = _gaps_ahead(settings, ledger, events, manifest) if gaps_ahead and workers > 1 else None
    try:
        with frozen_at(end):
            # The replay's looks are history: the assist deployment's pilot comparison is
            # stored by a look at the latest data, as the schedule's next run would; the
            # changes whose impact window is still open are measured on the days they have.
            analyze(settings, ledger, events, trigger="demo", deployment=ASSIST, force=True)
            changes.measure_all(ledger, events, BacklogPolicy.from_settings(settings), actor="demo")
        # The looks ran on the demo's clock, but its events were delivered when the demo
        # loaded them, after ``end`` on the real clock. One more look at each deployment's
        # latest data, on the real clock, marks those deliveries analysed: without it the first
        # scheduled run of a server on this demo took every day as a backfill and replayed the
        # whole history again, findings flipping between resolved and regressed as each old day
        # was judged anew. The paced detectors keep their cadence (the replay's last gap
        # clustering is days old).
        every_look = [d.id for d in select_detectors(None) if not d.paced]
        analyze(
            settings, ledger, events, trigger="demo", detector_ids=every_look, force=True,
            last_looks=last_looks,
        )  # fmt: skip
    except BaseException:
        if ahead is not None:
            ahead.close()
        raise
    return ahead


def _gaps_ahead(
    settings: Settings, ledger: Ledger, events: EventStore, manifest: dict[str, Any]
) -> GapsAhead | None:
    """The knowledge gaps of every deployment, clustered by a forked worker (None: this
    platform cannot fork, or a deployment has nothing to cluster)."""
    if not fork_available():
        return None
    windows = []
    for deployment in manifest["deployments"]:
        window = read_gap_window(
            ledger, events, deployment, encoder=settings.gaps_encoder,
            window_days=settings.gaps_window_days, force=True,
        )  # fmt: skip
        if not isinstance(window, GapWindow):
            return None
        windows.append(window)
    return GapsAhead(windows)
