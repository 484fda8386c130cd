"""Problems, not symptoms: the demo's findings against its ground truth, on 5 seeds.

For each seed the 90-day demo is built and analysed exactly as ``daytwo demo --no-serve`` does
(:func:`daytwo.demo.load.build_demo`, then :func:`daytwo.demo.load.analyze_demo`). Then, for
every injected problem of the manifest (the shipped improvement is not a problem):

- **one problem, one row**: the top-level findings that show it (findings no other finding
  explains, as the findings page lists them: :func:`daytwo.detect.service.problems_of`, over
  every finding of any status, so that problems that came and went count too; matched to the
  problem by deployment and scope as ``bench/impact.py`` matches them) must be exactly one in
  each deployment the problem touched;
- **first seen in time**: the earliest ``first_seen`` of those rows must lie within the
  detection delay of the manifest's onset: no more than :data:`EARLY_DAYS` before it (an onset
  estimated from daily data) and no more than :data:`DETECTION_DELAY_DAYS` after it (the delay
  within which ``bench/detect.py`` counts a problem as found);
- **ranked by what it costs**: the problems' place in the backlog (the highest score of the
  items holding their findings, as ``bench/impact.py`` reads it) against their true weekly cost
  (the manifest's ``true_weekly_cost``): Spearman's rho at least :data:`RHO_MIN` on every seed;
- **a short list**: the default findings view (open and regressed findings of every
  deployment, one row per problem) shows at most twice as many rows as injected problems.

    python -m bench problems
    python -m bench problems_history   # each demo built day by day
    BENCH_PROBLEMS_SEEDS=7 python -m bench problems_history   # one seed
    BENCH_PROBLEMS_DATA=DIR python -m bench problems_history     # keep each seed's build

A day-by-day build is mostly its analysis: with ``BENCH_PROBLEMS_DATA`` (or
``python -m bench.problems --data DIR``) each seed's data, before any analysis, is kept in
``DIR/built-SEED-PERDAY`` and reused by later runs, which analyse a fresh copy of it (the
analysis is what a change to the detectors or the backlog changes). The demo's dates are
fixed (:data:`END`), so a kept build is the same build whenever it is reused.

With ``problems_history`` each seed's demo is built as ``daytwo demo --history`` does:
the scheduled analysis replayed day by day, so first-seen dates are the days a look first saw
each problem.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.impact import _items_on_demo, injected, questions, spearman
from daytwo.backlog.intake import LEAD_CHANGED
from daytwo.backlog.service import get_item, list_items
from daytwo.demo.generator import DemoConfig
from daytwo.demo.load import MANIFEST, build_demo
from daytwo.detect.schemas import FindingFilter, FindingPublic
from daytwo.detect.service import list_findings, problems_of
from daytwo.settings import Settings
from daytwo.store.ledger import Ledger

END = date(2026, 11, 29)
DAYS = 90
DETECTION_DELAY_DAYS = 7.0
EARLY_DAYS = 1.0
RHO_MIN = 0.9
ROWS_PER_PROBLEM = 2
DEFAULT_VIEW = ("open", "regressed")  # the findings page's statuses when none are chosen


def _at(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def snapshot(f: FindingPublic) -> dict[str, Any]:
    """A finding as the matchers of ``bench/impact.py`` read it (an item's finding snapshot)."""
    segment = next(iter(f.scope.segment.items()), None) if f.scope.segment else None
    return {
        "kind": f.kind,
        "journey": f.scope.journey,
        "metric": f.scope.metric,
        "segment": list(segment) if segment else None,
        "journeys": f.details.get("journeys"),
        "evidence": list(f.evidence),
    }


def _row(f: FindingPublic) -> dict[str, Any]:
    return {
        "id": f.id,
        "title": f.title,
        "deployment": f.scope.deployment,
        "status": f.status,
        "first_seen": f.first_seen.isoformat(),
    }


def problem_rows(
    manifest: dict[str, Any], findings: list[FindingPublic], scores: dict[str, float]
) -> list[dict[str, Any]]:
    """Each injected problem with the top-level findings that show it, its delay, its score."""
    top, _ = problems_of(findings)
    out = []
    for p, shows, deployments in injected(manifest):
        rows = [f for f in top if f.scope.deployment in deployments and shows(snapshot(f), p)]
        per_deployment = {d: sum(f.scope.deployment == d for f in rows) for d in deployments}
        onset = _at(p["onset"])
        first = min((f.first_seen for f in rows), default=None)
        delay = (first - onset) / timedelta(days=1) if first is not None else None
        out.append(
            {
                "problem": p["id"],
                "kind": p["kind"],
                "onset": p["onset"],
                "top_level_rows": [_row(f) for f in rows],
                "rows_per_deployment": per_deployment,
                "exactly_one": all(n == 1 for n in per_deployment.values()),
                "first_seen": first.isoformat() if first else None,
                "delay_days": round(delay, 2) if delay is not None else None,
                "in_time": delay is not None and -EARLY_DAYS <= delay <= DETECTION_DELAY_DAYS,
                "true_weekly_cost": p["expected"]["true_weekly_cost"]["value"],
                "score": scores.get(p["id"], 0.0),
            }
        )
    return out


def lead_changes(ledger: Ledger) -> dict[str, Any]:
    """How often each item's lead finding (the finding that names it) changed over the whole
    history: an item renamed look after look is a problem shown by findings taking turns."""
    changed: list[tuple[int, int, str]] = []  # changes, item id, title
    for item in list_items(ledger, include_merged=True):
        changes = sum(e.action == LEAD_CHANGED for e in get_item(ledger, item.id).history)
        if changes:
            changed.append((changes, item.id, item.title))
    changed.sort(key=lambda c: (-c[0], c[1]))
    return {
        "total": sum(c[0] for c in changed),
        "items_changed": len(changed),
        "max_per_item": max((c[0] for c in changed), default=0),
        "per_item": {str(i): {"changes": n, "title": t} for n, i, t in changed},
    }


def _built(settings: Settings, seed: int, per_day: int, history: bool, kept: Path | None) -> Path:
    """The seed's demo built (not yet analysed) in ``settings.data_dir``; with ``kept``, copied
    from ``kept/built-SEED`` when built there before, else built there first and copied."""
    config = DemoConfig(seed=seed, days=DAYS, interactions_per_day=per_day, end=END)
    if kept is None:
        return build_demo(settings, config, history=history).manifest_path
    folder = kept / f"{'built' if history else 'built-once'}-{seed}-{per_day}"
    if not (folder / MANIFEST).exists():
        build_demo(Settings(data_dir=folder), config, history=history)
    shutil.copytree(folder, settings.data_dir, dirs_exist_ok=True)
    return settings.data_dir / MANIFEST


def one_seed(
    work: Path,
    seed: int,
    per_day: int,
    *,
    history: bool = False,
    kept: Path | None = None,
    analysed: bool = False,
) -> dict[str, Any]:
    settings = Settings(data_dir=work / f"demo-{seed}")
    started = time.perf_counter()
    if analysed:  # judged again as analysed before (a change to this bench's matching)
        manifest = json.loads((settings.data_dir / MANIFEST).read_text())
    else:
        manifest = json.loads(_built(settings, seed, per_day, history, kept).read_text())
    # Analyses as `daytwo demo` (with --history: day by day) does, maps items.
    items = _items_on_demo(settings, manifest, history=history, analyse=not analysed)
    manifest = questions(settings, manifest)
    seconds = time.perf_counter() - started
    scores = {p["problem"]: float(p["score"]) for p in items["problems"]}
    ledger = Ledger(settings.resolved_ledger_url)
    try:
        every = list_findings(ledger, FindingFilter(limit=1000))
        shown = list_findings(ledger, FindingFilter(status=list(DEFAULT_VIEW), limit=500))
        leads = lead_changes(ledger)
    finally:
        ledger.dispose()
    problems = problem_rows(manifest, every, scores)
    view, symptoms = problems_of(shown, every)
    truth = [float(p["true_weekly_cost"]) for p in problems]
    rho = spearman(truth, [float(p["score"]) for p in problems])
    allowed = ROWS_PER_PROBLEM * len(problems)
    return {
        "seed": seed,
        "build_and_analyse_seconds": None if analysed else round(seconds, 1),
        "findings": len(every),
        "problems": problems,
        "every_problem_one_row": all(p["exactly_one"] for p in problems),
        "every_problem_in_time": all(p["in_time"] for p in problems),
        "spearman_score_vs_true_weekly_cost": rho,
        "rank_met": rho is not None and rho >= RHO_MIN,
        "default_view": {
            "rows": len(view),
            "symptoms_below": sum(symptoms.values()),
            "allowed": allowed,
            "met": len(view) <= allowed,
            "by_kind": dict(Counter(f.kind for f in view)),
            "titles": [f"{f.scope.deployment}: {f.title}" for f in view],
        },
        "lead_changes": leads,
    }


def run(
    work: Path,
    *,
    seeds: list[int],
    per_day: int,
    history: bool = False,
    kept: Path | None = None,
    analysed: bool = False,
) -> dict[str, Any]:
    per_seed = []
    if kept is None and os.environ.get("BENCH_PROBLEMS_DATA"):
        kept = Path(os.environ["BENCH_PROBLEMS_DATA"])
    for seed in seeds:
        per_seed.append(
            one_seed(work, seed, per_day, history=history, kept=kept, analysed=analysed)
        )
        shown = ("seed", "every_problem_one_row", "every_problem_in_time", "rank_met")
        progress = {k: per_seed[-1][k] for k in shown}
        progress["lead_changes"] = per_seed[-1]["lead_changes"]["total"]
        print(json.dumps(progress), flush=True)
    checks = {
        "every_problem_one_top_level_row": all(s["every_problem_one_row"] for s in per_seed),
        "every_first_seen_in_time": all(s["every_problem_in_time"] for s in per_seed),
        "rank_by_true_weekly_cost": all(s["rank_met"] for s in per_seed),
        "default_view_at_most_twice_the_problems": all(s["default_view"]["met"] for s in per_seed),
    }
    return {
        "seeds": seeds,
        "history_day_by_day": history,
        "days": DAYS,
        "interactions_per_day": per_day,
        "targets": {
            "top_level_rows_per_problem_and_deployment": 1,
            "first_seen_days_after_onset": [-EARLY_DAYS, DETECTION_DELAY_DAYS],
            "spearman_min": RHO_MIN,
            "default_view_rows_per_problem_max": ROWS_PER_PROBLEM,
        },
        "checks": checks,
        "seeds_per_check": {
            "one_row": sum(s["every_problem_one_row"] for s in per_seed),
            "in_time": sum(s["every_problem_in_time"] for s in per_seed),
            "rank": sum(s["rank_met"] for s in per_seed),
            "default_view": sum(s["default_view"]["met"] for s in per_seed),
        },
        "per_seed": per_seed,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "met": all(checks.values()),
    }


def main() -> None:
    """``python -m bench.problems [--history] [--seeds 7 1] [--data DIR] [--label NAME]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--history", action="store_true", help="Build the demos day by day.")
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 1, 2, 3, 4])
    parser.add_argument("--per-day", type=int, default=2000)
    parser.add_argument("--data", type=Path, help="Keep (and reuse) each seed's build here.")
    parser.add_argument("--label", default="", help="Suffix of the results file.")
    parser.add_argument(
        "--work", type=Path, help="Analyse in DIR/demo-SEED and keep it (to look into after)."
    )
    parser.add_argument(
        "--analysed",
        action="store_true",
        help="Judge the demos kept in --work again, without analysing them afresh.",
    )
    args = parser.parse_args()
    if args.analysed and args.work is None:
        parser.error("--analysed judges the demos kept in --work: name it")
    import tempfile

    from bench.__main__ import RESULTS, _environment

    with tempfile.TemporaryDirectory(prefix="daytwo-bench-problems-") as tmp:
        work = args.work or Path(tmp)
        for seed in [] if args.analysed else args.seeds:  # a kept folder is analysed afresh
            shutil.rmtree(work / f"demo-{seed}", ignore_errors=True)
        result = run(
            work,
            seeds=args.seeds,
            per_day=args.per_day,
            history=args.history,
            kept=args.data,
            analysed=args.analysed,
        )
    name = "problems_history" if args.history else "problems"
    out = {"benchmark": name, "environment": _environment(), **result}
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}{'_' + args.label if args.label else ''}.json"
    path.write_text(json.dumps(out, indent=2, default=str) + "\n")
    print(json.dumps({k: v for k, v in out.items() if k != "per_seed"}, indent=2, default=str))
    sys.exit(0 if result["met"] else 1)


if __name__ == "__main__":
    main()
