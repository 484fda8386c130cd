"""Escalations avoided against the generator's truth over many seeds (issue 16), without a store.

``bench.report_value`` builds a whole demo per seed and reads the figures the way a report
does; a seed takes a minute or more, so it says little about how often an estimate misses.
This bench draws only the demo's history per seed (the same generator, the same ground truth),
counts each day's virtual-agent conversations and escalations by journey, and prices the
whole history's escalations avoided three ways with the report's own calculation
(:mod:`daytwo.report.calc`):

- *window*: the 14-day baseline window's rate alone;
- *pooled_after_window*: each journey's rate pooled over the window and the days after it
  until a change touched it or its rate moved, at the journey mix of the days all were pooled
  over (the estimate before days before the window were drawn on);
- *pooled*: the same, with the days from go-live to the window drawn on too (less any whose
  rate moved), as the reports count it (:func:`daytwo.report.calc.pooled_escalation_baseline`,
  with the changes the demo records, ``daytwo.demo.backlog.story_changes``).

Each is compared with two truths the generator records day by day:

- *expected*: each conversation's odds of a hand-over at the baseline summed, less the
  escalations had. Its sum of odds leaves out the draw: a journey nothing acted on has, by
  luck, a few more or fewer escalations than its odds, and this truth counts them as
  avoided (about 160 over 90 days, some 9% of the figure);
- *drawn*: the conversations a hand-over at the baseline's odds would have taken with the
  same random draw that decided their outcome, less the escalations had: only outcomes a
  problem or a fix turned, the count the figure names.

For each it reports how many seeds fall within +-25% of the truth, what that implies for a
check of five seeds (the share to the fifth, and the consecutive groups of five that passed),
how many 95% intervals hold the truth, and the mean, root-mean-square and worst relative
error.

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
    drawn = sum(d[BOT]["escalations_at_baseline_drawn"] - d[BOT]["escalations"] for d in days)
    return {
        "start": start,
        "days": len(days),
        "rows": rows,
        "changes": changes,
        "truth": truth,
        "truth_drawn": drawn,
    }


def _estimates(s: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """(estimate, half-width of its 95% interval) of the whole history, each way."""
    from daytwo.report.calc import JourneyDays, pooled_escalation_baseline

    start: date = s["start"]
    span = s["days"]
    conv: dict[str, list[int]] = {}
    esc: dict[str, list[int]] = {}
    n_all = e_all = 0
    for day, j, n, e in s["rows"]:
        n_all += n
        e_all += e
        at = (day - start).days
        if 0 <= at < span:
            conv.setdefault(j, [0] * span)[at] += n
            esc.setdefault(j, [0] * span)[at] += e

    def unchanged(j: str) -> int:
        # The demo's changes all ship after the window's start.
        return min((int(d) for d, js in s["changes"] if not js or j in js), default=span)

    window = slice(WINDOW_OFFSET, WINDOW_OFFSET + WINDOW_DAYS)
    n_w = sum(sum(c[window]) for c in conv.values())
    r_w = sum(sum(e[window]) for e in esc.values()) / n_w
    out = {"window": (r_w * n_all - e_all, Z95 * n_all * math.sqrt(r_w * (1 - r_w) / n_w))}
    for method, origin in (("pooled_after_window", WINDOW_OFFSET), ("pooled", 0)):
        pooled = pooled_escalation_baseline(
            [
                JourneyDays(j, conv[j][origin:], esc[j][origin:], unchanged(j) - origin)
                for j in sorted(conv)
            ],
            WINDOW_DAYS,
            window_start=WINDOW_OFFSET - origin,
        )
        if pooled is None:
            raise SystemExit("no conversation in the baseline window")
        out[method] = (pooled.rate * n_all - e_all, Z95 * n_all * pooled.se)
    return out


def _seeds(text: str) -> list[int]:
    if "-" in text:
        first, last = text.split("-")
        return list(range(int(first), int(last) + 1))
    return [int(x) for x in text.split(",")]


TRUTHS = {
    # Each conversation's odds of a hand-over at the baseline summed, less the escalations had.
    "expected": "truth",
    # The conversations a hand-over at the baseline's odds would have taken with the same draw,
    # less the escalations had: only outcomes a problem or a fix turned.
    "drawn": "truth_drawn",
}
METHODS = ("window", "pooled_after_window", "pooled")


def _summary(cells: list[dict[str, Any]]) -> dict[str, Any]:
    errors = [c["relative_error"] for c in cells]
    within = sum(c["within"] for c in cells)
    # Five seeds at a time in the order run: how many of those groups had all five within.
    groups = [cells[i : i + 5] for i in range(0, len(cells) - len(cells) % 5, 5)]
    return {
        "within": within,
        "of": len(cells),
        "share_within": round(within / len(cells), 4),
        "five_seed_pass_rate": round((within / len(cells)) ** 5, 4),
        "five_seed_groups_passed": sum(all(c["within"] for c in g) for g in groups),
        "five_seed_groups": len(groups),
        "interval_covers_truth": sum(c["interval_covers_truth"] for c in cells),
        "mean_relative_error": round(sum(errors) / len(errors), 4),
        "rms_relative_error": round(math.sqrt(sum(e * e for e in errors) / len(errors)), 4),
        "worst_relative_error": max(abs(e) for e in errors),
    }


def run(seeds: list[int], per_day: int, end: date) -> dict[str, Any]:
    per_seed: dict[str, dict[str, Any]] = {}
    for seed in seeds:
        s = _seed(seed, per_day, end)
        row: dict[str, Any] = {name: round(s[key], 1) for name, key in TRUTHS.items()}
        for method, (est, half) in _estimates(s).items():
            cell: dict[str, Any] = {
                "estimate": round(est, 1),
                "interval_half_width": round(half, 1),
            }
            for name, key in TRUTHS.items():
                error = (est - s[key]) / abs(s[key])
                cell[f"vs_{name}"] = {
                    "relative_error": round(error, 4),
                    "within": abs(error) <= TOLERANCE,
                    "interval_covers_truth": abs(est - s[key]) <= half,
                }
            row[method] = cell
        per_seed[str(seed)] = row
        print(
            seed,
            {m: [row[m][f"vs_{t}"]["relative_error"] for t in TRUTHS] for m in METHODS},
            flush=True,
        )
    summary: dict[str, Any] = {}
    for name in TRUTHS:
        summary[f"vs_{name}"] = {
            method: {
                **_summary([r[method][f"vs_{name}"] for r in per_seed.values()]),
                "mean_interval_half_width": round(
                    sum(r[method]["interval_half_width"] for r in per_seed.values())
                    / len(per_seed),
                    1,
                ),
            }
            for method in METHODS
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
