"""Detection quality on the demo's ground truth, and the speed of `daytwo analyze`.

Quality: for each of 5 generator seeds the demo (90 days) is loaded through the real ingest
path; the detectors are then run as of the end of each day after each injected problem's onset
(up to 7 days), and the problem counts as found on the first day a finding matches its
deployment and scope. Recall is over every injected problem except the shipped improvement
(which is not a problem); the detection delay is from onset to the end of that day. False
findings: on a seed with nothing injected, the detectors run as of the end of every day after
the first comparable week, and every distinct fingerprint is a false finding, per
deployment-week.

Speed: the demo scaled to 1,000,000 interactions, then one full `analyze` run (both
deployments, every detector, findings written to the ledger), timed in a fresh process.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from daytwo.demo.generator import DemoConfig
from daytwo.demo.load import build_demo
from daytwo.deployments.service import get_deployment
from daytwo.detect.data import DeploymentInfo
from daytwo.detect.findings import Finding
from daytwo.detect.registry import detectors
from daytwo.detect.runner import analysis_window, load_data, run_detectors
from daytwo.settings import Settings
from daytwo.store.events import open_event_store
from daytwo.store.ledger import Ledger

END = date(2026, 11, 29)
MAX_DELAY_DAYS = 7
Matcher = Callable[[Finding, dict[str, Any]], bool]


def _metric_in(f: Finding, *metrics: str) -> bool:
    return f.scope.metric in metrics


MATCHERS: dict[str, Matcher] = {
    "knowledge_gap": lambda f, p: (
        f.kind == "knowledge_gap"
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


def _findings(settings: Settings, deployment: str, as_of: datetime) -> list[Finding]:
    ledger = Ledger(settings.resolved_ledger_url)
    dep = get_deployment(ledger, deployment)
    ledger.dispose()
    with open_event_store(settings.resolved_events_url, read_only=True) as events:
        first = next(v.first_started_at for v in events.volumes() if v.deployment == deployment)
        window = analysis_window(dep, first, as_of)  # type: ignore[arg-type]
        if window is None:
            return []
        chosen = detectors()
        info = DeploymentInfo(deployment, str(dep.kind), dict(dep.targets))
        data = load_data(events, info, window, [d.needs for d in chosen])
    return run_detectors(data, chosen)


def quality_seed(work: Path, seed: int, per_day: int) -> dict[str, Any]:
    settings = Settings(data_dir=work / f"seed-{seed}")
    build_demo(settings, DemoConfig(seed=seed, interactions_per_day=per_day, end=END), force=True)
    manifest = json.loads((settings.data_dir / "demo-manifest.json").read_text())
    problems = []
    for p in manifest["problems"]:
        if p["kind"] not in MATCHERS:
            continue
        onset = _at(p["onset"])
        deps = manifest["deployments"] if p["deployment"] == "*" else [p["deployment"]]
        day_end = datetime.combine(onset.date(), datetime.min.time(), tzinfo=UTC)
        found_at, matched_by = None, None
        for k in range(1, MAX_DELAY_DAYS + 1):
            as_of = day_end + timedelta(days=k)
            hits = [
                f
                for dep in deps
                for f in _findings(settings, dep, as_of)
                if f.scope.deployment == dep and MATCHERS[p["kind"]](f, p)
            ]
            if hits:
                found_at, matched_by = as_of, sorted({f.detector for f in hits})
                break
        problems.append(
            {
                "id": p["id"],
                "kind": p["kind"],
                "onset": p["onset"],
                "found": found_at is not None,
                "delay_days": round((found_at - onset) / timedelta(days=1), 3)
                if found_at
                else None,
                "matched_by": matched_by,
            }
        )
    return {"seed": seed, "problems": problems}


def false_findings(work: Path, seed: int, per_day: int) -> dict[str, Any]:
    settings = Settings(data_dir=work / f"calm-{seed}")
    config = DemoConfig(seed=seed, interactions_per_day=per_day, end=END, problems=False)
    build_demo(settings, config, force=True)
    start = END - timedelta(days=config.days - 1)
    first_day = 28  # baseline days 7-20, then one full current week
    fingerprints: dict[str, dict[str, Any]] = {}
    deployments = ("care-bot", "care-assist")
    for day in range(first_day, config.days + 1):
        as_of = datetime.combine(start, datetime.min.time(), tzinfo=UTC) + timedelta(days=day)
        for dep in deployments:
            for f in _findings(settings, dep, as_of):
                fingerprints.setdefault(
                    f.fingerprint, {"title": f.title, "detector": f.detector, "as_of": str(as_of)}
                )
    weeks = (config.days - first_day + 1) / 7 * len(deployments)
    return {
        "seed": seed,
        "distinct_false_findings": len(fingerprints),
        "deployment_weeks": round(weeks, 2),
        "per_deployment_week": round(len(fingerprints) / weeks, 3),
        "examples": list(fingerprints.values())[:20],
    }


def speed(work: Path, n: int) -> dict[str, Any]:
    settings = Settings(data_dir=work / "speed")
    per_day = n // 90
    t0 = time.perf_counter()
    summary = build_demo(settings, DemoConfig(seed=11, interactions_per_day=per_day, end=END))
    build_s = time.perf_counter() - t0
    from daytwo.detect.runner import analyze

    ledger = Ledger(settings.resolved_ledger_url)
    with open_event_store(settings.resolved_events_url) as events:
        t0 = time.perf_counter()
        outcomes = analyze(ledger, events, force=True)
        seconds = time.perf_counter() - t0
    ledger.dispose()
    return {
        "interactions": summary.interactions,
        "turns": summary.turns,
        "build_seconds": round(build_s, 1),
        "analyze_seconds": round(seconds, 2),
        "findings": sum(len(o.findings) for o in outcomes),
    }


def run(work: Path, seeds: list[int], per_day: int, calm_seed: int, n_speed: int) -> dict[str, Any]:
    per_seed = [quality_seed(work, s, per_day) for s in seeds]
    problems = [p for s in per_seed for p in s["problems"]]
    found = [p for p in problems if p["found"]]
    delays = [p["delay_days"] for p in found]
    calm = false_findings(work, calm_seed, per_day)
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
        result["speed"] = speed(work, n_speed)
        result["targets"]["analyze_seconds"] = 120
    met = (
        result["recall"] is not None
        and result["recall"] >= 0.95
        and (result["median_delay_days"] or 99) <= 1.0
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
    parser.add_argument("--calm-seed", type=int, default=7)
    parser.add_argument("--speed", type=int, default=1_000_000, help="0 skips the speed run")
    parser.add_argument("--work", type=Path, required=True)
    args = parser.parse_args()
    result = run(args.work, args.seeds, args.per_day, args.calm_seed, args.speed)
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
