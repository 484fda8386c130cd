"""What the step benches share (:mod:`bench.demo_steps`, :mod:`bench.demo_ledger`): their
command line, a step run in a fresh process with one revision's source first on its path, the
revisions alternating round by round, and the results written as JSON.

A bench module gives its steps and a ``child(step, data)`` that runs one step in the child
process (after :func:`child_imports` put the revision's source first) and returns a dict with
at least ``cpu_s``; its ``main`` calls :func:`parser`, then :func:`alternate`, summarises the
runs and calls :func:`write`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent
Runs = dict[str, dict[str, list[dict[str, Any]]]]


def parser(description: str, steps: Sequence[str], name: str) -> argparse.ArgumentParser:
    """The shared command line: the two sources, rounds, steps, the results' name and labels,
    and the child's own arguments (``--child SRC --step STEP``)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--data", type=Path, help="the data the steps run over")
    p.add_argument("--a", help="source dir of revision A (the baseline)")
    p.add_argument("--b", help="source dir of revision B")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", default=",".join(steps))
    p.add_argument("--name", default=name)
    p.add_argument("--label-a", default="A", help="what A is, for the results")
    p.add_argument("--label-b", default="B", help="what B is, for the results")
    p.add_argument("--child")
    p.add_argument("--step", choices=steps)
    return p


def child_imports(src: str) -> None:
    """Put ``src`` first on the path, and make sure daytwo comes from it."""
    sys.path.insert(0, src)
    import daytwo

    if not Path(daytwo.__file__).resolve().is_relative_to(Path(src).resolve()):
        raise SystemExit(f"daytwo came from {daytwo.__file__}, not {src}")


def run_once(module: str, src: str, step: str, data: Path) -> dict[str, Any]:
    """One step of ``module`` in a fresh process (fixed string hashing), its printed answer,
    with the load average before it."""
    load = [round(x, 2) for x in os.getloadavg()]
    cmd = [sys.executable, "-m", module, "--child", src, "--step", step, "--data", str(data)]
    env = dict(os.environ, PYTHONHASHSEED="0")
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"{step} failed for {src}")
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    out["load_average_before"] = load
    return out


def alternate(module: str, args: argparse.Namespace) -> tuple[list[str], Runs]:
    """Every step for both revisions, ``args.rounds`` times, the side that goes first
    alternating round by round."""
    steps = args.steps.split(",")
    runs: Runs = {s: {"a": [], "b": []} for s in steps}
    for r in range(args.rounds):
        for step in steps:
            for side in ("a", "b") if r % 2 == 0 else ("b", "a"):
                src = args.a if side == "a" else args.b
                runs[step][side].append(run_once(module, src, step, args.data.resolve()))
                print(step, side, runs[step][side][-1]["cpu_s"], flush=True)
    return steps, runs


def write(args: argparse.Namespace, summary: dict[str, Any], runs: Runs) -> None:
    """The results as ``bench/results/NAME.json``, the summary printed."""
    result = {
        "a": args.label_a, "b": args.label_b, "rounds": args.rounds, "cpus": os.cpu_count(),
        "summary": summary, "runs": runs,
    }  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
