"""Escalations avoided against the generator's truth over many seeds (issue 16), without a store.

``bench.report_value`` builds a whole demo per seed and reads the figures the way a report
does; a seed takes a minute or more, so it says little about how often an estimate misses.
This bench draws only the demo's history per seed (the same generator, the same ground truth),
counts each day's virtual-agent conversations and escalations by journey, and prices the
whole history's escalations avoided two ways with the report's own calculation
(:mod:`daytwo.report.calc`):

- *window*: the 14-day baseline window's rate (the estimate before the pooled one);
- *pooled*: each journey's rate pooled until a change touched it or its rate moved, at the
  window's journey mix (:func:`daytwo.report.calc.pooled_escalation_baseline`), with the
  changes the demo records (``daytwo.demo.backlog.story_changes``).

For each it reports how many seeds fall within +-25% of the truth, how many 95% intervals hold
the truth, the mean and root-mean-square relative error and the mean interval half-width.

    python -m bench.report_value_many --seeds 101-200

Results in bench/results/report_value_many.json with the machine's load average.
"""

from __future__ import annotations

import argparse
import math
import sys
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bench.reports import save

TOLERANCE = 0.25
Z95 = 1.959963984540054
BOT = "care-bot"
WINDOW_OFFSET, WINDOW_DAYS = 7, 14  # the product's default baseline window, in days


def _seed(seed: int, per_day: int, end: date) -> dict[str, Any]:
    """Day-by-journey counts (delivered, deduplicated), the truth and the change days."""
    import duckdb
    import pyarrow as pa

    from daytwo.demo.backlog import story_changes
    from daytwo.demo.generator import DemoConfig, generate

    ds = generate(DemoConfig(seed=seed, interactions_per_day=per_day, end=end))
    cols = ["interaction_id", "deployment", "started_at", "journey", "outcome"]
    con = duckdb.connect()
    con.register("batches", pa.concat_tables([b.interactions.select(cols) for b in ds.batches()]))
    rows = con.execute(
        "SELECT CAST(started_at AT TIME ZONE 'UTC' AS DATE) AS day, coalesce(journey, '') AS j, "
        "count_if(outcome IS NOT NULL) AS n, "
        "count_if(outcome IN ('escalated', 'transferred')) AS esc "
        "FROM (SELECT DISTINCT interaction_id, started_at, journey, outcome FROM batches "
        f"WHERE deployment = '{BOT}') GROUP BY 1, 2"
    ).fetchall()
    start = ds.start
    changes = [
        ((c.shipped_at.date() - start).days, tuple(c.journeys)) for c in story_changes(ds.manifest)
    ]
    days = ds.manifest["value"]["days"]
    truth = sum(d[BOT]["escalations_at_baseline_odds"] - d[BOT]["escalations"] for d in days)
    return {"start": start, "days": len(days), "rows": rows, "changes": changes, "truth": truth}


def _estimates(s: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """(estimate, half-width of its 95% interval) of the whole history, both ways."""
    from daytwo.report.calc import JourneyDays, pooled_escalation_baseline

    start: date = s["start"]
    span = s["days"] - WINDOW_OFFSET
    conv: dict[str, list[int]] = {}
    esc: dict[str, list[int]] = {}
    n_all = e_all = 0
    for day, j, n, e in s["rows"]:
        n_all += n
        e_all += e
        at = (day - start).days - WINDOW_OFFSET
        if 0 <= at < span:
            conv.setdefault(j, [0] * span)[at] += n
            esc.setdefault(j, [0] * span)[at] += e

    def unchanged(j: str) -> int:
        hit = [int(d) - WINDOW_OFFSET for d, js in s["changes"] if not js or j in js]
        return min(hit, default=span)

    n_w = sum(sum(c[:WINDOW_DAYS]) for c in conv.values())
    r_w = sum(sum(e[:WINDOW_DAYS]) for e in esc.values()) / n_w
    out = {"window": (r_w * n_all - e_all, Z95 * n_all * math.sqrt(r_w * (1 - r_w) / n_w))}
    pooled = pooled_escalation_baseline(
        [JourneyDays(j, conv[j], esc[j], unchanged(j)) for j in sorted(conv)], WINDOW_DAYS
    )
    if pooled is None:
        raise SystemExit("no conversation in the baseline window")
    out["pooled"] = (pooled.rate * n_all - e_all, Z95 * n_all * pooled.se)
    return out


def _seeds(text: str) -> list[int]:
    if "-" in text:
        first, last = text.split("-")
        return list(range(int(first), int(last) + 1))
    return [int(x) for x in text.split(",")]


def run(seeds: list[int], per_day: int, end: date) -> dict[str, Any]:
    per_seed: dict[str, dict[str, Any]] = {}
    for seed in seeds:
        s = _seed(seed, per_day, end)
        truth = s["truth"]
        row: dict[str, Any] = {"truth": round(truth, 1)}
        for method, (est, half) in _estimates(s).items():
            error = (est - truth) / abs(truth)
            row[method] = {
                "estimate": round(est, 1),
                "relative_error": round(error, 4),
                "within": abs(error) <= TOLERANCE,
                "interval_covers_truth": abs(est - truth) <= half,
                "interval_half_width": round(half, 1),
            }
        per_seed[str(seed)] = row
        print(seed, {m: row[m]["relative_error"] for m in ("window", "pooled")}, flush=True)
    summary: dict[str, Any] = {}
    for method in ("window", "pooled"):
        cells = [r[method] for r in per_seed.values()]
        errors = [c["relative_error"] for c in cells]
        summary[method] = {
            "within": sum(c["within"] for c in cells),
            "interval_covers_truth": sum(c["interval_covers_truth"] for c in cells),
            "of": len(cells),
            "mean_relative_error": round(sum(errors) / len(errors), 4),
            "rms_relative_error": round(math.sqrt(sum(e * e for e in errors) / len(errors)), 4),
            "worst_relative_error": max(abs(e) for e in errors),
            "mean_interval_half_width": round(
                sum(c["interval_half_width"] for c in cells) / len(cells), 1
            ),
        }
    return {"summary": summary, "per_seed": per_seed}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report_value_many", description=__doc__)
    parser.add_argument("--seeds", default="101-200", help="a range (101-200) or a list (1,2,3)")
    parser.add_argument("--per-day", type=int, default=2000)
    parser.add_argument(
        "--end", default=None, help="last day of the history (default: yesterday, UTC)"
    )
    parser.add_argument("--out", default="report_value_many.json")
    args = parser.parse_args()
    end = (
        date.fromisoformat(args.end) if args.end else (datetime.now(UTC) - timedelta(days=1)).date()
    )
    seeds = _seeds(args.seeds)
    result = save(
        args.out,
        {
            "benchmark": "report_value_many",
            "command": f"python -m bench.report_value_many --seeds {args.seeds} "
            f"--per-day {args.per_day} --end {end}",
            "tolerance": TOLERANCE,
            "per_day": args.per_day,
            "end": end.isoformat(),
            **run(seeds, args.per_day, end),
        },
    )
    print(result["summary"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
