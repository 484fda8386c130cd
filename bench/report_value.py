"""The reports' value estimate against the demo generator's truth, over seeds (issue 16:
within +-25%).

For each seed a demo is built (``daytwo demo --no-serve --no-analyze``) and its value figures
are read the way the weekly update and the monthly review price them
(:func:`daytwo.report.sections.period_value`), over the whole history since go-live, each
full calendar month and each full ISO week:

- *agent time saved* (care-assist): the report's estimate (conversations where a suggestion
  was used against like-for-like ones without it) against the agent minutes the generator's
  own draws saved: each such conversation's handle time without the tool less the time it
  took (``manifest["value"]``, summed over the period's days);
- *escalations avoided vs baseline* (care-bot): the report's (baseline escalation rate less
  the period's, times its volume) against the escalations the period's conversations would
  have had at the baseline's odds (each journey's own, no injected problem or fix acting) less
  the escalations they had, counted two ways: the odds summed (``escalations_avoided``) and
  the hand-overs drawn at those odds with the same random numbers as the outcome
  (``escalations_avoided_vs_drawn``: only outcomes a problem or a fix turned). The baseline
  rate is each journey's own, pooled over its days from go-live until a change touched it or
  its rate moved, at the journey mix of the days all were pooled over
  (:func:`daytwo.report.calc.pooled_escalation_baseline`); the 14-day window's own rate is
  measured beside it in the same runs (``window_only``).

The target is the whole history (the review's "since go-live") within +-25% for every seed;
months and weeks are reported beside it. A week or month whose truth is small (under 2% of
its conversations for escalations) has no meaningful relative error: counted apart.

    python -m bench.report_value --seeds 1 2 3 4 5 --out report_value_tuning.json  # chosen on
    python -m bench.report_value --seeds 6 7 8 9 10 11 12     # held out: the reported figures

``--data-root DIR`` keeps each seed's demo in ``DIR/seed-N`` and reuses it when it is there
(a demo ends on the day it is built: reuse it only on that day).

The JSON goes to bench/results/report_value.json with the machine's load average.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.reports import save

TOLERANCE = 0.25
# Escalations avoided: a period whose true count is under this share of its conversations
# is noise around zero, where a relative error means nothing.
SMALL_SHARE = 0.02
BOT, ASSIST = "care-bot", "care-assist"


def _build(data: Path, seed: int, per_day: int) -> None:
    subprocess.run(
        [sys.executable, "-m", "daytwo.cli", "demo", "--no-serve", "--no-analyze",
         "--seed", str(seed), "--interactions-per-day", str(per_day)],
        env={**os.environ, "DAYTWO_DATA_DIR": str(data)}, check=True, capture_output=True,
    )  # fmt: skip


def _midnight(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def _periods(first: date, last: date) -> list[tuple[str, str, datetime, datetime]]:
    """(kind, label, start, end): the whole history, each full month and each full week."""
    from daytwo.report.monthly import month_bounds, months_between
    from daytwo.report.weekly import week_bounds

    start, end = _midnight(first), _midnight(last + timedelta(days=1))
    out = [("history", f"{first}..{last}", start, end)]
    for m in months_between(start, end):
        m_start, m_end = month_bounds(m)
        if m_start >= start and m_end <= end:
            out.append(("month", m, m_start, m_end))
    at = first + timedelta(days=(7 - first.weekday()) % 7)
    while at + timedelta(days=7) <= last + timedelta(days=1):
        year, week, _ = at.isocalendar()
        label = f"{year}-W{week:02d}"
        out.append(("week", label, *week_bounds(label)))
        at += timedelta(days=7)
    return out


def _truth(days: list[dict[str, Any]], start: datetime, end: datetime) -> dict[str, float]:
    inside = [d for d in days if start <= _midnight(date.fromisoformat(d["day"])) < end]
    return {
        "agent_minutes_saved": sum(d[ASSIST]["agent_minutes_saved"] for d in inside),
        "escalations_avoided": sum(
            d[BOT]["escalations_at_baseline_odds"] - d[BOT]["escalations"] for d in inside
        ),
        "escalations_avoided_drawn": sum(
            d[BOT]["escalations_at_baseline_drawn"] - d[BOT]["escalations"] for d in inside
        ),
    }


def _window_only(events: Any, bot: Any) -> Any:
    """The same subject with its escalation baseline measured on the 14-day window alone (the
    estimate before the rate pooled by journey), to measure both in the same run."""
    from dataclasses import replace

    from daytwo.interactions.slice import Slice
    from daytwo.metrics.service import baseline_window, totals
    from daytwo.report.service import BaselineEscalation

    bounds = baseline_window(bot.deployment, bot.first_data)
    if bounds is None:
        raise SystemExit("the demo's virtual agent has no baseline window")
    window = Slice(deployment=BOT, start=bounds[0], end=bounds[1])
    m = totals(events, ["escalation_rate"], window)["escalation_rate"]
    return replace(bot, baseline=BaselineEscalation(m.value, m.n, basis="the window alone"))


def measure_seed(data: Path) -> list[dict[str, Any]]:
    """Every period's report figures and truth on a demo built in ``data``."""
    os.environ["DAYTWO_DATA_DIR"] = str(data)
    from daytwo.demo.load import MANIFEST
    from daytwo.report.sections import cost_model, period_value, subject
    from daytwo.settings import Settings
    from daytwo.store.events import open_event_store
    from daytwo.store.ledger import Ledger

    manifest = json.loads((data / MANIFEST).read_text())
    days = manifest["value"]["days"]
    first, last = date.fromisoformat(days[0]["day"]), date.fromisoformat(days[-1]["day"])
    settings = Settings()
    ledger = Ledger(settings.resolved_ledger_url)
    rows: list[dict[str, Any]] = []
    try:
        with open_event_store(settings.resolved_events_url) as events:
            bot, assist = subject(ledger, events, BOT), subject(ledger, events, ASSIST)
            window_bot = _window_only(events, bot)
            bot_model = cost_model(bot.deployment, None)
            assist_model = cost_model(assist.deployment, None)
            if bot_model is None or assist_model is None:
                raise SystemExit("the demo's deployments have no cost model")
            for kind, label, start, end in _periods(first, last):
                truth = _truth(days, start, end)
                saved = period_value(events, assist, assist_model, start, end).figure(
                    "agent_time_saved"
                )
                bot_value = period_value(events, bot, bot_model, start, end)
                avoided = bot_value.figure("escalations_avoided")
                plain = period_value(events, window_bot, bot_model, start, end).figure(
                    "escalations_avoided"
                )
                small = abs(truth["escalations_avoided"]) < SMALL_SHARE * _bot_volume(
                    events, start, end
                )
                rows.append(
                    {
                        "kind": kind,
                        "period": label,
                        "agent_minutes_saved": _pair(
                            saved.quantity, truth["agent_minutes_saved"], saved.lo, saved.hi,
                            assist_model.costs["agent_minute"],
                        ),
                        "escalations_avoided": {
                            **_pair(avoided.quantity, truth["escalations_avoided"], avoided.lo,
                                    avoided.hi, bot_model.costs["escalation"]),
                            "small": small,
                            "baseline": avoided.assumptions[0],
                        },
                        "escalations_avoided_vs_drawn": {
                            **_pair(avoided.quantity, truth["escalations_avoided_drawn"],
                                    avoided.lo, avoided.hi, bot_model.costs["escalation"]),
                            "small": small,
                        },
                        "escalations_avoided_window_only": {
                            **_pair(plain.quantity, truth["escalations_avoided"], plain.lo,
                                    plain.hi, bot_model.costs["escalation"]),
                            "small": small,
                        },
                        "bot_roi": bot_value.roi,
                    }
                )  # fmt: skip
    finally:
        ledger.dispose()
    return rows


def _bot_volume(events: Any, start: datetime, end: datetime) -> int:
    rows = events.query(
        "SELECT count(*) AS n FROM interactions WHERE deployment = ? AND started_at >= ? "
        "AND started_at < ?",
        [BOT, start, end],
    ).to_pylist()
    return int(rows[0]["n"])


def _pair(
    estimate: float | None,
    truth: float,
    lo: float | None = None,
    hi: float | None = None,
    price: float | None = None,
) -> dict[str, Any]:
    error = None if estimate is None or truth == 0 else (estimate - truth) / abs(truth)
    out: dict[str, Any] = {
        "estimate": None if estimate is None else round(estimate, 1),
        "truth": round(truth, 1),
        "relative_error": None if error is None else round(error, 4),
        "within": error is not None and abs(error) <= TOLERANCE,
    }
    if lo is not None and hi is not None and price:
        # The interval is priced; in units it is the same interval divided by the price.
        out["interval_covers_truth"] = lo / price <= truth <= hi / price
        out["interval_half_width"] = round((hi - lo) / 2 / price, 1)
    return out


def _summary(seeds: dict[int, list[dict[str, Any]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for figure in (
        "agent_minutes_saved",
        "escalations_avoided",
        "escalations_avoided_vs_drawn",
        "escalations_avoided_window_only",
    ):
        history = {
            s: next(r for r in rows if r["kind"] == "history")[figure] for s, rows in seeds.items()
        }
        by_kind: dict[str, Any] = {}
        for kind in ("month", "week"):
            cells = [r[figure] for rows in seeds.values() for r in rows if r["kind"] == kind]
            sized = [c for c in cells if not c.get("small")]
            by_kind[kind] = {
                "periods": len(cells),
                "small_truth": len(cells) - len(sized),
                "within": sum(c["within"] for c in sized),
                "of": len(sized),
                "worst_relative_error": max(
                    (abs(c["relative_error"]) for c in sized if c["relative_error"] is not None),
                    default=None,
                ),
            }
        out[figure] = {
            "history_relative_error": {s: h["relative_error"] for s, h in history.items()},
            "history_within_each_seed": all(h["within"] for h in history.values()),
            "history_interval_covers_truth": {
                s: h.get("interval_covers_truth") for s, h in history.items()
            },
            **by_kind,
        }
    return out


def run(seeds: list[int], per_day: int, data_root: Path | None = None) -> dict[str, Any]:
    """Build each seed's demo (in ``data_root/seed-N`` when given, reused when it is there;
    else in a temporary folder) and compare its value figures."""
    rows: dict[int, list[dict[str, Any]]] = {}
    for seed in seeds:
        if data_root is not None:
            data = data_root / f"seed-{seed}"
            if not (data / "done").exists():
                shutil.rmtree(data, ignore_errors=True)
                _build(data, seed, per_day)
                (data / "done").write_text(date.today().isoformat())
            rows[seed] = measure_seed(data)
        else:
            with tempfile.TemporaryDirectory(prefix=f"daytwo-bench-value-{seed}-") as tmp:
                _build(Path(tmp), seed, per_day)
                rows[seed] = measure_seed(Path(tmp))
        print(f"seed {seed}: {json.dumps(rows[seed][0])}", flush=True)
    summary = _summary(rows)
    return {
        "command": f"python -m bench.report_value --seeds {' '.join(map(str, seeds))} "
        f"--per-day {per_day}",
        "tolerance": TOLERANCE,
        "seeds": seeds,
        "per_day": per_day,
        "summary": summary,
        "met": all(
            summary[f]["history_within_each_seed"]
            for f in ("agent_minutes_saved", "escalations_avoided")
        ),
        "periods": {str(s): r for s, r in rows.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report_value", description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[3, 4, 5, 6, 7])
    parser.add_argument("--per-day", type=int, default=2000)
    parser.add_argument("--out", default="report_value.json")
    parser.add_argument("--data-root", type=Path, default=None)
    args = parser.parse_args()
    result = save(
        args.out,
        {"benchmark": "report_value", **run(args.seeds, args.per_day, args.data_root)},
    )
    print(json.dumps({"summary": result["summary"], "met": result["met"]}, indent=2))
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
