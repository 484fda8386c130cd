"""How fast the command line starts: whole processes, as a person runs them.

``daytwo --version``, ``daytwo --help`` and a ledger command (``daytwo keys list`` on a
migrated ledger with a few keys) are each run ``repeat`` times (at least 5) in fresh processes
after one warm-up (the first run compiles bytecode); the median wall time of each is reported
against the 0.5 s target.

    python -m bench startup
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

TARGET_S = 0.5
COMMANDS = {
    "version": ["--version"],
    "help": ["--help"],
    "keys_list": ["keys", "list"],
    "users_list": ["users", "list"],
}


def _daytwo() -> str:
    found = shutil.which("daytwo", path=str(Path(sys.executable).parent))
    if found is None:
        raise RuntimeError("the daytwo command is not installed next to this Python")
    return found


def run(work: Path, *, repeat: int) -> dict[str, Any]:
    from daytwo.governance.keys import create_key
    from daytwo.governance.models import KeyScope
    from daytwo.settings import Settings
    from daytwo.store.ledger import Ledger, upgrade

    data = work / "data"
    url = Settings(data_dir=data).resolved_ledger_url
    upgrade(url)
    ledger = Ledger(url)
    try:
        for i in range(3):
            create_key(ledger, scope=KeyScope.admin, deployment=None, name=f"bench {i}")
    finally:
        ledger.dispose()
    env = {**os.environ, "DAYTWO_DATA_DIR": str(data)}
    exe = _daytwo()
    out: dict[str, Any] = {"target_seconds": TARGET_S, "commands": {}}
    for name, args in COMMANDS.items():
        subprocess.run([exe, *args], env=env, capture_output=True, check=True)  # warm-up
        runs = []
        for _ in range(max(repeat, 5)):
            t = time.perf_counter()
            subprocess.run([exe, *args], env=env, capture_output=True, check=True)
            runs.append(time.perf_counter() - t)
        out["commands"][name] = {
            "argv": ["daytwo", *args],
            "median_seconds": statistics.median(runs),
            "runs": runs,
            "met": statistics.median(runs) <= TARGET_S,
        }
    out["load_average"] = os.getloadavg()
    out["met"] = all(c["met"] for c in out["commands"].values())
    return out
