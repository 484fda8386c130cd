"""Daily looks at the demo: what the repeated-look hold raises, and what one read per run of
looks saves.

For each seed the demo (90 days, the default volume; ``--calm``: nothing injected) is loaded
through the real ingest path. Then its segment-level detectors (degradation vs baseline and
adoption decline, the only ones whose findings name a segment) look at each deployment as of the
end of every day from day 28, as a daily schedule would, and every look's findings are recorded
into two ledgers: one as the product records them (a new segment finding of a repeated look is
held until a look a day later sees it again), one with every look treated as a first look (each
new finding raised at once), as before the hold. Reported per ledger: the distinct segment
findings raised, those of them that the look after the one that raised them no longer saw, and,
on a seed with problems, the Porto adoption decay's first-seen date against its onset.

Speed: each look's data is read both ways, by the query each look ran alone
(:func:`~daytwo.detect.runner.load_data`) and cut out of one read of the whole run of looks
(:func:`~daytwo.detect.runner.read_history`, :func:`~daytwo.detect.runner.look_at`); the
seconds of each are summed over the looks.

    python -m bench.repeated_looks [--seeds 7] [--calm]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from daytwo.demo.generator import DemoConfig
from daytwo.demo.load import FIRST_ANALYSIS_DAY, build_demo
from daytwo.deployments.service import get_deployment
from daytwo.detect import service
from daytwo.detect.data import DeploymentInfo, Window
from daytwo.detect.models import FindingRecord
from daytwo.detect.registry import select as select_detectors
from daytwo.detect.roots import with_roots
from daytwo.detect.runner import analysis_window, load_data, look_at, read_history, run_detectors
from daytwo.pipeline.plugins import plugin_manager
from daytwo.settings import Settings
from daytwo.store.events import open_event_store
from daytwo.store.ledger import Ledger, upgrade

END = date(2026, 11, 29)
DETECTORS = ["degradation", "adoption_decline"]
RESULTS = Path(__file__).resolve().parent / "results" / "repeated_looks.json"


def _as_first_looks(
    session: Session, deployment: str, run_id: int, detectors: Sequence[str]
) -> set[str]:
    """Every look as a first look: what the ledger did before the hold."""
    return set()


def run_seed(seed: int, *, calm: bool, work: Path) -> dict[str, Any]:
    data_dir = work / f"demo-{seed}"
    config = DemoConfig(seed=seed, end=END, problems=not calm)
    build_demo(Settings(data_dir=data_dir), config, force=True)
    return {"seed": seed, "calm": calm, **measure(data_dir, work, config.days)}


def measure(data_dir: Path, work: Path, n_days: int) -> dict[str, Any]:
    """Daily looks at the demo built in ``data_dir`` (``n_days`` of history)."""
    settings = Settings(data_dir=data_dir)
    seed = data_dir.name
    manifest = json.loads((data_dir / "demo-manifest.json").read_text())
    start = datetime.combine(date.fromisoformat(manifest["start"]), datetime.min.time(), UTC)
    ledger = Ledger(settings.resolved_ledger_url)
    before_url = f"sqlite:///{work / f'before-{seed}.sqlite'}"
    upgrade(before_url)
    before = Ledger(before_url)
    plugin_manager()  # the adoption detectors join the registry through the pipeline's plugins
    chosen = select_detectors(DETECTORS)
    needs = [d.needs for d in chosen]
    seconds = {"read_each_look": 0.0, "cut_from_one_read": 0.0, "one_read": 0.0}
    looks = 0
    try:
        with open_event_store(settings.resolved_events_url) as events:
            for name in manifest["deployments"]:
                dep = get_deployment(ledger, name)
                info = DeploymentInfo(name, kind=str(dep.kind), targets=dict(dep.targets))
                first = start
                days = range(FIRST_ANALYSIS_DAY, n_days)
                windows: list[Window] = [
                    w
                    for d in days
                    if (w := analysis_window(dep, first, start + timedelta(days=d + 1)))
                ]
                t = time.perf_counter()
                history = read_history(events, info, windows, needs)
                seconds["one_read"] += time.perf_counter() - t
                for w in windows:
                    t = time.perf_counter()
                    data = look_at(history, w)
                    seconds["cut_from_one_read"] += time.perf_counter() - t
                    t = time.perf_counter()
                    alone = load_data(events, info, w, needs)
                    seconds["read_each_look"] += time.perf_counter() - t
                    if alone.interactions.num_rows != data.interactions.num_rows:
                        raise AssertionError(f"the cut look differs at {w.current_end}")
                    findings = with_roots(data, run_detectors(data, chosen))
                    looks += 1
                    for label, target in (("held", ledger), ("before", before)):
                        if label == "before":
                            saved = service._looked_before
                            service._looked_before = _as_first_looks
                        try:
                            run_id = service.start_run(target, name, DETECTORS)
                            service.record_findings(
                                target, run_id, name, DETECTORS, findings, since=None,
                                data_through=w.current_end,
                                interactions=data.interactions.num_rows,
                            )  # fmt: skip
                        finally:
                            if label == "before":
                                service._looked_before = saved
        out: dict[str, Any] = {"looks": looks, "seconds": seconds}
        decay = next((p for p in manifest["problems"] if p["id"] == "adoption-decay-porto"), None)
        for label, target in (("held", ledger), ("before", before)):
            with target.session() as session:
                rows = list(
                    session.scalars(
                        select(FindingRecord).where(
                            FindingRecord.detector.in_(DETECTORS),
                            FindingRecord.segment_key.is_not(None),
                        )
                    )
                )
                session.expunge_all()
            gone = [r for r in rows if r.times_seen == 1]
            entry: dict[str, Any] = {
                "segment_findings": len(rows),
                # Raised, then not seen by the next look.
                "gone_after_the_look_that_raised_it": len(gone),
            }
            if decay is not None:
                porto = [
                    r
                    for r in rows
                    if r.deployment == "care-assist"
                    and (r.segment_key, r.segment_value) == ("site", "porto")
                ]
                onset = datetime.fromisoformat(decay["onset"].replace("Z", "+00:00"))
                entry["porto_decay_first_seen_days_after_onset"] = (
                    round((min(r.first_seen for r in porto) - onset).total_seconds() / 86400, 2)
                    if porto
                    else None
                )
            out[label] = entry
        return out
    finally:
        ledger.dispose()
        before.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[7])
    parser.add_argument("--calm", action="store_true", help="demos with nothing injected")
    args = parser.parse_args()
    seeds = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            seeds.append(run_seed(seed, calm=args.calm, work=Path(tmp)))
            print(json.dumps(seeds[-1]))
    result = {
        "benchmark": "repeated_looks",
        "detectors": DETECTORS,
        "seeds": seeds,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    out = RESULTS if not args.calm else RESULTS.with_name("repeated_looks_calm.json")
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
