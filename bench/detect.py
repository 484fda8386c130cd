"""Detection quality on the demo's ground truth, and the speed of `daytwo analyze`.

Quality: for each of 5 generator seeds the demo (90 days) is loaded through the real ingest
path; the detectors are then run as of the end of each day after each injected problem's onset
(up to 7 days), and the problem counts as found on the first day a finding matches its
deployment and scope. Recall is over every injected problem except the shipped improvement
(which is not a problem); the detection delay is from onset to the end of that day. False
findings: on seeds with nothing injected (7, 8 and 9 by default), the detectors run as of the
end of every day after the first comparable week, and every distinct fingerprint is a false
finding, per deployment-week (pooled over the calm seeds; the worst seed is reported too).

Speed: the demo scaled to 1,000,000 interactions, then one full `analyze` run (both
deployments, every detector, findings written to the ledger), timed in a fresh process.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from daytwo.demo.generator import DemoConfig, generate
from daytwo.demo.load import build_demo, prepare_data_dir
from daytwo.deployments.schemas import DeploymentCreate
from daytwo.deployments.service import create_deployment, get_deployment
from daytwo.detect.data import DeploymentInfo
from daytwo.detect.findings import Finding
from daytwo.detect.registry import detectors
from daytwo.detect.runner import analysis_window, load_data, run_detectors
from daytwo.ingest.decode import Decoded
from daytwo.ingest.service import ingest
from daytwo.settings import Settings
from daytwo.store.events import EventStore, open_event_store
from daytwo.store.ledger import DeploymentKind, Ledger, upgrade

END = date(2026, 11, 29)
DEPLOYMENTS = ("care-bot", "care-assist")
MAX_DELAY_DAYS = 7
Matcher = Callable[[Finding, dict[str, Any]], bool]


def _metric_in(f: Finding, *metrics: str) -> bool:
    return f.scope.metric in metrics


def mostly_in(journeys: dict[str, int], problem: dict[str, Any]) -> bool:
    """Whether most of a gap's questions landed in the problem's journeys (a gap elsewhere,
    about fraud or travel, is some other gap, not this problem)."""
    total = sum(journeys.values())
    inside = sum(n for j, n in journeys.items() if j in problem["scope"]["journeys"])
    return total > 0 and inside >= total / 2


MATCHERS: dict[str, Matcher] = {
    "knowledge_gap": lambda f, p: (
        (f.kind == "knowledge_gap" and mostly_in(f.details.get("journeys") or {}, p))
        or (
            f.scope.journey in p["scope"]["journeys"]
            and _metric_in(f, "fallback_rate_conversation", "rephrase_rate", "containment_rate")
        )
    ),
    "latency_error_regression": lambda f, p: (
        f.scope.segment == ("channel", "chat") and _metric_in(f, "latency_mean", "error_rate")
    ),
    "escalation_rise": lambda f, p: (
        f.scope.journey == p["scope"]["journey"]
        and _metric_in(f, "escalation_rate", "containment_rate")
    ),
    "adoption_decay": lambda f, p: (
        f.scope.segment is not None
        and f.scope.segment[1].startswith(p["scope"]["site"])
        and _metric_in(f, "suggestion_acceptance_rate")
    ),
    "feed_outage": lambda f, p: (
        f.kind == "freshness_gap"
        and f.first_seen <= _at(p["end"])
        and f.last_seen >= _at(p["onset"])
    ),
    "duplicate_deliveries": lambda f, p: f.kind == "duplicate_deliveries",
}


def _at(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def _findings(
    ledger: Ledger, events: EventStore, deployment: str, as_of: datetime
) -> list[Finding] | None:
    """What the detectors find as of ``as_of``; None when no analysis can run yet."""
    dep = get_deployment(ledger, deployment)
    first = next(v.first_started_at for v in events.volumes() if v.deployment == deployment)
    if first is None:
        return None
    window = analysis_window(dep, first, as_of)
    if window is None:
        return None
    chosen = detectors()
    info = DeploymentInfo(deployment, str(dep.kind), dict(dep.targets))
    data = load_data(events, info, window, [d.needs for d in chosen])
    return run_detectors(data, chosen)


def replay(
    work: Path, config: DemoConfig, on_day: Callable[[int, datetime, Ledger, EventStore], bool]
) -> dict[str, Any]:
    """Deliver the demo batch by batch through the ingest path; after day ``d``'s batch,
    call ``on_day(d, end of day d, ...)``; stop when it returns False. Returns the manifest."""
    settings = Settings(data_dir=work)
    prepare_data_dir(settings, force=True)
    upgrade(settings.resolved_ledger_url)
    ledger = Ledger(settings.resolved_ledger_url)
    dataset = generate(config)
    for spec in dataset.deployments:
        create_deployment(
            ledger,
            DeploymentCreate(
                name=spec.name,
                kind=DeploymentKind(spec.kind),
                go_live=spec.go_live,
                baseline_start=spec.baseline_start,
                journeys=list(spec.journeys),
                targets=dict(spec.targets),
                cost_model=dict(spec.cost_model),
            ),
        )
    midnight = datetime.combine(dataset.start, datetime.min.time(), tzinfo=UTC)
    with open_event_store(settings.resolved_events_url) as events:
        for day, batch in enumerate(dataset.batches()):
            ingest(events, Decoded(batch, [], batch.n_records), source="demo")
            if not on_day(day, midnight + timedelta(days=day + 1), ledger, events):
                break
    ledger.dispose()
    return dataset.manifest


def quality_seed(work: Path, seed: int, per_day: int) -> dict[str, Any]:
    """Replay one seed; after each day, look for the problems whose onset has passed."""
    config = DemoConfig(seed=seed, interactions_per_day=per_day, end=END)
    manifest = generate(config).manifest
    problems = [p for p in manifest["problems"] if p["kind"] in MATCHERS]
    found: dict[str, tuple[datetime, list[str]]] = {}

    def on_day(day: int, as_of: datetime, ledger: Ledger, events: EventStore) -> bool:
        open_ = [
            p
            for p in problems
            if p["id"] not in found
            and _at(p["onset"]) < as_of <= _at(p["onset"]) + timedelta(days=MAX_DELAY_DAYS + 1)
        ]
        deps = {
            d for p in open_ for d in (DEPLOYMENTS if p["deployment"] == "*" else [p["deployment"]])
        }
        seen = {d: _findings(ledger, events, d, as_of) or [] for d in sorted(deps)}
        for p in open_:
            names = DEPLOYMENTS if p["deployment"] == "*" else [p["deployment"]]
            hits = [f for d in names for f in seen[d] if MATCHERS[p["kind"]](f, p)]
            if hits:
                found[p["id"]] = (as_of, sorted({f.detector for f in hits}))
        last_onset = max(_at(p["onset"]) for p in problems)
        return len(found) < len(problems) and as_of <= last_onset + timedelta(
            days=MAX_DELAY_DAYS + 1
        )

    replay(work / f"seed-{seed}", config, on_day)
    out = []
    for p in problems:
        at, by = found.get(p["id"], (None, None))
        out.append(
            {
                "id": p["id"],
                "kind": p["kind"],
                "onset": p["onset"],
                "found": at is not None,
                "delay_days": round((at - _at(p["onset"])) / timedelta(days=1), 3) if at else None,
                "matched_by": by,
            }
        )
    return {"seed": seed, "problems": out}


def false_findings(work: Path, seed: int, per_day: int) -> dict[str, Any]:
    """Replay a seed with nothing injected; every distinct finding is a false one."""
    config = DemoConfig(seed=seed, interactions_per_day=per_day, end=END, problems=False)
    fingerprints: dict[str, dict[str, Any]] = {}
    evaluated = 0  # deployment-days on which an analysis ran (after baseline + a current week)

    def on_day(day: int, as_of: datetime, ledger: Ledger, events: EventStore) -> bool:
        nonlocal evaluated
        for dep in DEPLOYMENTS:
            found = _findings(ledger, events, dep, as_of)
            if found is None:
                continue
            evaluated += 1
            for f in found:
                fingerprints.setdefault(
                    f.fingerprint, {"title": f.title, "detector": f.detector, "as_of": str(as_of)}
                )
        return True

    replay(work / f"calm-{seed}", config, on_day)
    weeks = evaluated / 7
    by_detector = Counter(v["detector"] for v in fingerprints.values())
    return {
        "seed": seed,
        "distinct_false_findings": len(fingerprints),
        "by_detector": dict(by_detector),
        "deployment_weeks": round(weeks, 2),
        "per_deployment_week": round(len(fingerprints) / weeks, 3) if weeks else None,
        "examples": list(fingerprints.values())[:30],
    }


# `daytwo analyze` in a fresh process that writes its /proc status (VmHWM: its peak resident
# set) to a file as it exits.
_ANALYZE = (
    "import atexit, runpy, shutil, sys\n"
    "atexit.register(lambda: shutil.copyfile('/proc/self/status', {status!r}))\n"
    "sys.argv = ['daytwo', *sys.argv[1:]]\n"
    "runpy.run_module('daytwo', run_name='__main__')\n"
)


def _hwm_mb(status: Path) -> float:
    for line in status.read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM in {status}")


def _build(work: Path, n: int, url: str | None) -> tuple[float | None, int, int]:
    """Build the demo at ``n`` interactions into ``work`` unless it holds it: the seconds it
    took (None if it was there) and the interactions and turns stored."""
    settings = Settings(data_dir=work, events_url=url)
    build_s = None
    if not (work / ("clickhouse" if url else "events.duckdb")).exists():
        t0 = time.perf_counter()
        build_demo(settings, DemoConfig(seed=11, interactions_per_day=n // 90, end=END))
        build_s = round(time.perf_counter() - t0, 1)
    with open_event_store(settings.resolved_events_url, read_only=True) as events:
        return build_s, events.count("interactions"), events.count("turns")


def speed(work: Path, n: int, engine: str = "duckdb") -> dict[str, Any]:
    """Build the demo at ``n`` interactions (unless ``work`` holds it), then time a fresh
    `daytwo analyze --force` process over it: imports, reads, every detector, ledger writes.
    ``engine``: DuckDB, or ClickHouse's engine in-process (chDB) in ``work/clickhouse``."""
    url = f"chdb:///{work / 'clickhouse'}" if engine == "clickhouse" else None
    # Built and counted in a process of its own: chDB keeps its engine (and its data folder)
    # for the life of the process that opened it, so the analysis could not open it after.
    spawn = multiprocessing.get_context("spawn")
    with spawn.Pool(1) as pool:
        build_s, interactions, turns = pool.apply(_build, (work, n, url))
    env = {**os.environ, "DAYTWO_DATA_DIR": str(work), "COLUMNS": "120"}
    env.pop("DAYTWO_EVENTS_URL", None)
    env.pop("DAYTWO_LEDGER_URL", None)
    if url:
        env["DAYTWO_EVENTS_URL"] = url
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    before = os.times()
    peak_file = work / "analyze-status.txt"
    peak_file.unlink(missing_ok=True)
    proc = subprocess.run(
        [sys.executable, "-c", _ANALYZE.format(status=str(peak_file)), "analyze", "--force"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - t0
    after = os.times()
    # The analyze process's own peak resident set (VmHWM, written as it exits): ru_maxrss of
    # the children would carry this process's memory at fork time (the build ran here).
    if proc.returncode != 0:
        raise RuntimeError(f"daytwo analyze failed:\n{proc.stderr[-4000:]}")
    peak_mb = _hwm_mb(peak_file)
    return {
        "engine": engine,
        "interactions": interactions,
        "turns": turns,
        "build_seconds": build_s,
        "analyze_seconds": round(seconds, 2),
        "analyze_peak_rss_mb": round(peak_mb, 1),
        "analyze_cpu_seconds": round(
            (after.children_user - before.children_user)
            + (after.children_system - before.children_system),
            2,
        ),
        "cpus": os.cpu_count(),
        "load_average_before": round(load_before, 2),
        "output": proc.stdout[-2000:],
    }


def run(
    work: Path, seeds: list[int], per_day: int, calm_seeds: list[int], n_speed: int
) -> dict[str, Any]:
    per_seed = []
    for seed in seeds:
        per_seed.append(quality_seed(work, seed, per_day))
        print(json.dumps(per_seed[-1], default=str), file=sys.stderr, flush=True)  # progress
    problems = [p for s in per_seed for p in s["problems"]]
    found = [p for p in problems if p["found"]]
    delays = [p["delay_days"] for p in found]
    calm_runs = []
    for seed in calm_seeds:
        calm_runs.append(false_findings(work, seed, per_day))
        print(json.dumps(calm_runs[-1], default=str), file=sys.stderr, flush=True)  # progress
    weeks = sum(c["deployment_weeks"] for c in calm_runs)
    distinct = sum(c["distinct_false_findings"] for c in calm_runs)
    calm = {
        "seeds": calm_seeds,
        "distinct_false_findings": distinct,
        "deployment_weeks": round(weeks, 2),
        # Pooled over the calm seeds: every distinct false finding over every deployment-week.
        "per_deployment_week": round(distinct / weeks, 3) if weeks else None,
        "worst_seed_per_deployment_week": max(
            (c["per_deployment_week"] or 0.0 for c in calm_runs), default=None
        ),
        "per_seed": calm_runs,
    }
    result: dict[str, Any] = {
        "seeds": seeds,
        "interactions_per_day": per_day,
        "recall": round(len(found) / len(problems), 4) if problems else None,
        "median_delay_days": statistics.median(delays) if delays else None,
        "false_per_deployment_week": calm["per_deployment_week"],
        "per_seed": per_seed,
        "calm": calm,
        "targets": {"recall": 0.95, "median_delay_days": 1.0, "false_per_deployment_week": 1.0},
    }
    if n_speed:
        result["speed"] = speed(work / "speed", n_speed)
        result["targets"]["analyze_seconds"] = 120
    met = (
        result["recall"] is not None
        and result["recall"] >= 0.95
        and (result["median_delay_days"] or 99) <= 1.0
        and calm["per_deployment_week"] is not None
        and calm["per_deployment_week"] <= 1.0
    )
    if n_speed:
        met = met and result["speed"]["analyze_seconds"] <= 120
    result["met"] = met
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.detect", description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--per-day", type=int, default=2000)
    parser.add_argument("--calm-seeds", type=int, nargs="+", default=[7, 8, 9])
    parser.add_argument("--speed", type=int, default=1_000_000, help="0 skips the speed run")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--speed-only", action="store_true", help="only the speed run")
    parser.add_argument(
        "--engine",
        choices=["duckdb", "clickhouse"],
        default="duckdb",
        help="Events engine of the speed run (ClickHouse: its engine in-process, chDB).",
    )
    args = parser.parse_args()
    from bench.__main__ import RESULTS, _environment

    if args.speed_only:
        result: dict[str, Any] = speed(args.work / f"speed-{args.engine}", args.speed, args.engine)
        name = "detect_speed" if args.engine == "duckdb" else f"detect_speed_{args.engine}"
    else:
        result = run(args.work, args.seeds, args.per_day, args.calm_seeds, args.speed)
        name = "detect"
    result = {"benchmark": name, "environment": _environment(), **result}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
