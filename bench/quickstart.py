"""A fresh clone to a served demo: `git clone`, then `make demo`, until `/healthz` answers 200.

What a newcomer waits for, end to end: the clone, the virtual environment and the install,
the demo's build, its history replayed, its reports, and the server's start, up to the first
``200`` from ``/healthz``; the server is stopped then. Each phase is timed from the lines the
run prints (each line is stamped as it arrives): ``install`` ends when make starts ``daytwo
demo``, ``start`` is the command's own start-up (its imports) up to its first line, ``build``,
``replay`` and ``reports`` end with the lines that say they are done, and ``serve`` runs from
the sign-in line to the first ``200``.

Several revisions alternate run by run (``--refs main HEAD``: main, this one, main, …) so a
shared machine's load falls on each alike. A revision is cloned from the repository as
committed (the working tree's changes are not in a clone). The package caches of pip and uv
are whatever the machine has: say whether they were warm beside the numbers (the first run
of a revision with a cold cache downloads its packages).

    python -m bench.quickstart                       # this checkout's HEAD, 3 runs
    python -m bench.quickstart --refs main HEAD      # alternating with main
    python -m bench quickstart                       # HEAD only, results/quickstart.json
    python -m bench.quickstart --install-only --refs main HEAD

``--install-only`` stops after the install: it runs ``make demo DEMO_ARGS=--help``, so the
clone, the environment and the install are timed, then ``daytwo demo --help`` (the command's
start) instead of the demo; minutes less on a loaded machine, for what the install changes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

TARGET_S = 120.0
ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
# What each phase ends with: the first line that contains the marker (after the previous one).
MARKERS = (
    ("install", "daytwo demo"),  # make echoes the command it runs once the install is done
    ("start", "building the demo"),
    ("build", "demo built in"),
    ("replay", "analysed in"),
    ("reports", "reports issued"),
    ("sign_in", "sign in as"),
)
# Give up on a run after this long (a stuck run should not hold the machine).
RUN_LIMIT_S = 900.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _resolve(source: Path, ref: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(source), "rev-parse", "--verify", f"{ref}^{{commit}}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def _phases(lines: list[tuple[float, str]], clone_s: float, served_s: float) -> dict[str, float]:
    """Seconds of each phase, from the stamped lines (seconds since the clone began)."""
    ends: dict[str, float] = {"clone": clone_s}
    at = 0
    for name, marker in MARKERS:
        for i in range(at, len(lines)):
            if marker in lines[i][1]:
                ends[name] = lines[i][0]
                at = i + 1
                break
    ends["serve"] = served_s
    phases: dict[str, float] = {}
    previous = 0.0
    for name, end in ends.items():
        # The reports' line comes just before the sign-in line: one phase for the two.
        key = "reports" if name == "sign_in" else name
        phases[key] = round(phases.get(key, 0.0) + end - previous, 2)
        previous = end
    return phases


def run_once(
    source: Path, commit: str, work: Path, *, make_args: list[str], install_only: bool = False
) -> dict[str, Any]:
    """Clone ``commit`` of ``source`` into ``work``, run ``make demo`` there and time it to the
    first 200 from /healthz (``install_only``: to the end of ``daytwo demo --help``); the
    server is stopped and the clone removed afterwards."""
    clone = work / "clone"
    shutil.rmtree(clone, ignore_errors=True)
    port = _free_port()
    # A newcomer's shell: no daytwo settings, no active environment, bytecode written.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DAYTWO_", "VIRTUAL_ENV", "PYTHONDONTWRITEBYTECODE"))
    }
    env["PYTHONUNBUFFERED"] = "1"  # each line as it is printed, so its stamp is true
    load_before = [round(x, 2) for x in os.getloadavg()]
    t0 = time.perf_counter()
    subprocess.run(["git", "clone", "-q", "--no-checkout", str(source), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "checkout", "-q", commit], check=True)
    clone_s = time.perf_counter() - t0
    proc = subprocess.Popen(
        [
            "make",
            "demo",
            f"PORT={port}",
            "HOST=127.0.0.1",
            *(["DEMO_ARGS=--help"] if install_only else []),
            *make_args,
        ],
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # the server and make stop together
    )
    lines: list[tuple[float, str]] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append((time.perf_counter() - t0, line.rstrip()))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    url = f"http://127.0.0.1:{port}/healthz"
    served_s: float | None = None
    while time.perf_counter() - t0 < RUN_LIMIT_S:
        if proc.poll() is not None:
            if install_only and proc.returncode == 0:
                served_s = time.perf_counter() - t0
            break
        if not install_only and _healthy(url):
            served_s = time.perf_counter() - t0
            break
        time.sleep(0.1)
    load_after = [round(x, 2) for x in os.getloadavg()]
    if proc.poll() is None:
        # SIGTERM: the server stops gracefully on it, its trace workers and make just end.
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    reader.join(timeout=5)
    shutil.rmtree(clone, ignore_errors=True)
    if install_only and served_s is not None:
        install_s = next((t for t, text in lines if "daytwo demo" in text), served_s)
        return {
            "commit": commit,
            "seconds": round(served_s, 2),
            "phases": {
                "clone": round(clone_s, 2),
                "install": round(install_s - clone_s, 2),
                "start": round(served_s - install_s, 2),
            },
            "load_average_before": load_before,
            "load_average_after": load_after,
            "output": [f"{t:7.2f} {text}" for t, text in lines if "daytwo demo" in text],
        }
    if served_s is None:
        tail = "\n".join(text for _, text in lines[-30:])
        raise RuntimeError(f"make demo never served /healthz (exit {proc.returncode}):\n{tail}")
    # What it printed until it served, without the demo's one-time admin password.
    shown = [(t, text) for t, text in lines if t <= served_s and "password" not in text]
    return {
        "commit": commit,
        "seconds": round(served_s, 2),
        "phases": _phases(lines, clone_s, served_s),
        "load_average_before": load_before,
        "load_average_after": load_after,
        # The install's lines and the last ones (the replay's progress lines are many).
        "output": [f"{t:7.2f} {text}" for t, text in (shown[:8] + shown[8:][-32:])],
    }


def run(
    work: Path,
    *,
    refs: list[str],
    repeat: int,
    source: Path = ROOT,
    make_args: list[str] | None = None,
    install_only: bool = False,
    checkpoint: Path | None = None,
) -> dict[str, Any]:
    """``checkpoint``: a file the results so far are written to after each run."""
    commits = {ref: _resolve(source, ref) for ref in refs}
    runs: dict[str, list[dict[str, Any]]] = {ref: [] for ref in refs}
    for r in range(repeat):
        for ref in refs:
            print(f"quickstart: {ref} ({commits[ref][:10]}), run {r + 1} of {repeat}", flush=True)
            result = run_once(
                source, commits[ref], work, make_args=make_args or [], install_only=install_only
            )
            print(f"  {result['seconds']:.1f} s {result['phases']}", flush=True)
            runs[ref].append(result)
            if checkpoint is not None:
                so_far = _summary(runs, commits, make_args or [], install_only)
                partial = {"benchmark": "quickstart", "partial": True, **so_far}
                checkpoint.write_text(json.dumps(partial, indent=2) + "\n")
    return _summary(runs, commits, make_args or [], install_only)


def _summary(
    runs: dict[str, list[dict[str, Any]]],
    commits: dict[str, str],
    make_args: list[str],
    install_only: bool,
) -> dict[str, Any]:
    refs = [ref for ref in runs if runs[ref]]
    out: dict[str, Any] = {
        "target_seconds": TARGET_S,
        "install_only": install_only,
        "make_args": make_args,
        "refs": {},
    }
    for ref in refs:
        mine = runs[ref]
        names = list(mine[0]["phases"])
        out["refs"][ref] = {
            "commit": commits[ref],
            "median_seconds": statistics.median(x["seconds"] for x in mine),
            "median_phases": {
                n: round(statistics.median(x["phases"].get(n, 0.0) for x in mine), 2) for n in names
            },
            "runs": mine,
        }
    # The revision under test: HEAD where it is named, else the last named.
    first = out["refs"]["HEAD" if "HEAD" in out["refs"] else refs[-1]]
    out["median_seconds"] = first["median_seconds"]
    # Only a whole run, to the first 200, can meet the target.
    out["met"] = not install_only and first["median_seconds"] <= TARGET_S
    out["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.quickstart", description=__doc__)
    parser.add_argument("--refs", nargs="+", default=["HEAD"], help="revisions, alternated")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--source", type=Path, default=ROOT, help="the repository to clone")
    parser.add_argument("--out", type=Path, default=RESULTS / "quickstart.json")
    parser.add_argument(
        "--install-only", action="store_true", help="to the end of the install, not the demo"
    )
    parser.add_argument("make_args", nargs="*", help="more make variables, e.g. INSTALLER=pip")
    args = parser.parse_args()
    from bench.__main__ import _environment

    with tempfile.TemporaryDirectory(prefix="daytwo-bench-quickstart-") as tmp:
        result = run(
            Path(tmp),
            refs=args.refs,
            repeat=args.repeat,
            source=args.source,
            make_args=args.make_args,
            install_only=args.install_only,
            checkpoint=args.out,
        )
    result = {"benchmark": "quickstart", "environment": _environment(), **result}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for ref, got in result["refs"].items():
        print(f"{ref}: median {got['median_seconds']:.1f} s {got['median_phases']}")
    return 0 if result["met"] or args.install_only else 1


if __name__ == "__main__":
    sys.exit(main())
