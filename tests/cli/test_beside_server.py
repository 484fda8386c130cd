"""Every command of the `daytwo` command line, once, while `daytwo serve` runs on the same data
dir: nothing stops on the store's lock, commands that need the events store work through the
server, two imports at once both land, and a command gives the same result with or without
the server."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer import _click as click

from daytwo.cli.main import LazyCommands, app, run
from daytwo.http import link
from tests.factory import interaction, ndjson

STARTUP_S = 120


@dataclass(frozen=True)
class Served:
    data_dir: Path
    url: str
    proc: subprocess.Popen[bytes]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DAYTWO_DATA_DIR": str(data_dir),
        "DAYTWO_ANALYZE_INTERVAL_MINUTES": "0",
        "DAYTWO_RATE_LIMIT_PER_MINUTE": "100000",
    }


def start_server(data_dir: Path, log: Path) -> Served:
    port = _free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "daytwo", "serve", "--port", str(port)],
            env=_env(data_dir),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"daytwo serve exited: {log.read_text(errors='replace')[-2000:]}")
        record = link.read(data_dir)
        try:
            if record is not None and httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return Served(data_dir, url, proc)
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    pytest.fail(f"daytwo serve did not start in {STARTUP_S} s")


def stop_server(served: Served) -> None:
    if served.proc.poll() is None:
        os.kill(served.proc.pid, signal.SIGTERM)
        served.proc.wait(timeout=60)
    assert link.read(served.data_dir) is None, "serve withdrew its record on the way out"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo (45 days, 300 conversations a day), analysed once."""
    from daytwo.demo.generator import DemoConfig
    from daytwo.demo.load import build_demo
    from daytwo.settings import Settings

    data_dir = tmp_path_factory.mktemp("cli") / "data"
    build_demo(
        Settings(data_dir=data_dir),
        DemoConfig(seed=5, days=45, interactions_per_day=300, end=date(2026, 10, 31)),
    )
    return data_dir


@pytest.fixture(scope="module")
def served(built: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    log = tmp_path_factory.mktemp("cli-serve") / "serve.log"
    server = start_server(built, log)
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture
def cli(served: Served, monkeypatch: pytest.MonkeyPatch) -> Served:
    for key, value in _env(served.data_dir).items():
        if key.startswith("DAYTWO_"):
            monkeypatch.setenv(key, value)
    return served


def _command_paths() -> set[tuple[str, ...]]:
    """Every command of the CLI, as the words that name it."""
    import typer.main

    found: set[tuple[str, ...]] = set()

    def walk(cmd: Any, path: tuple[str, ...]) -> None:
        subs = getattr(cmd, "commands", None)
        if isinstance(cmd, LazyCommands):
            subs = cmd.every_command(click.Context(cmd))
        if subs is None:
            found.add(path)
            return
        if path and getattr(cmd, "invoke_without_command", False):
            found.add(path)
        for name, sub in subs.items():
            walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return found


def _ok(argv: list[str], capsys: pytest.CaptureFixture[str], code: int = 0) -> str:
    rc = run(argv)
    captured = capsys.readouterr()
    assert rc == code, f"daytwo {' '.join(argv)} -> {rc}\n{captured.out}\n{captured.err}"
    assert "Traceback" not in captured.err
    return captured.out + captured.err


# The words each command is run with, in an order where each finds what it needs.
def _script(tmp: Path) -> list[tuple[list[str], int]]:
    export = tmp / "more.jsonl"
    export.write_bytes(ndjson([interaction(i, turns=2, deployment="cli-bot") for i in range(20)]))
    return [
        (["deployments", "add", "cli-bot", "--kind", "virtual_agent", "--currency", "EUR",
          "--journeys", "billing,card_lost"], 0),
        (["import", str(export), "--quiet"], 0),
        (["deployments"], 0),
        (["db", "upgrade"], 0),
        (["doctor"], 0),
        (["metrics", "list"], 0),
        (["metrics", "show", "containment_rate", "-d", "care-bot", "--bucket", "week"], 0),
        (["analyze", "-d", "care-bot"], 0),
        (["findings", "-d", "care-bot"], 0),
        (["gaps", "-d", "care-bot"], 0),
        (["owners", "add", "cli-team", "--name", "CLI team", "--kind", "team"], 0),
        (["owners", "list"], 0),
        (["owners", "rule", "-d", "cli-bot", "--owner", "cli-team", "--journey", "billing"], 0),
        (["owners", "rules", "-d", "cli-bot"], 0),
        (["owners", "default", "-d", "cli-bot", "cli-team"], 0),
        (["items", "list", "-d", "care-bot"], 0),
        (["items", "show", "1"], 0),
        (["items", "assign", "1", "cli-team", "--note", "from the CLI suite"], 0),
        (["items", "move", "1", "reopened", "--reason", "seen again"], 0),
        (["change", "record", "-d", "care-bot", "--kind", "prompt", "--title", "Shorter answers",
          "--shipped-at", "2026-10-20T09:00:00Z", "--items", "1", "--measure"], 0),
        (["change", "impact", "-d", "care-bot"], 0),
        (["change", "list"], 0),
        (["users", "create", "cli-dana", "--role", "owner", "--grant", "care-bot"], 0),
        (["users", "list"], 0),
        (["users", "grant", "cli-dana", "cli-bot"], 0),
        (["users", "revoke", "cli-dana", "cli-bot"], 0),
        (["users", "set", "cli-dana", "--disabled"], 0),
        (["keys", "create", "--deployment", "cli-bot", "--scope", "ingest", "--name", "suite"], 0),
        (["keys", "list"], 0),
        (["redaction", "set", "cli-bot", "--kinds", "email,phone"], 0),
        (["redaction", "show"], 0),
        (["retention", "set", "cli-bot", "--text-days", "30"], 0),
        (["retention", "apply"], 0),
        (["audit", "list", "--limit", "5"], 0),
        (["audit", "verify"], 0),
        (["notify", "channels", "add", "cli-hook", "--kind", "webhook",
          "--url", "http://127.0.0.1:9/hook"], 0),
        (["notify", "channels", "list"], 0),
        (["notify", "routes", "add", "cli-hook", "-d", "care-bot"], 0),
        (["notify", "routes", "list"], 0),
        (["notify", "prefs", "cli-team", "--channel", "cli-hook", "--timezone", "Europe/Lisbon"],
         0),
        (["notify", "deliver"], 0),  # one pass, run by the server
        (["notify", "deliver", "--loop"], 78),  # the server delivers on its own: said
        (["notify", "alerts"], 0),
        (["notify", "log"], 0),
        (["notify", "test", "cli-hook"], 2),  # nothing listens there: said, exit 2
        (["notify", "ack", "999999"], 4),
        (["notify", "retry", "999999"], 4),
        (["notify", "routes", "remove", "1"], 0),
        (["notify", "channels", "remove", "cli-hook"], 0),
        (["report", "weekly", "-d", "care-bot", "--week", "2026-W47", "--pdf",
          str(tmp / "weekly.pdf")], 0),
        (["report", "monthly", "-d", "care-bot", "--month", "2026-10", "--pdf",
          str(tmp / "monthly.pdf")], 0),
        (["report", "issue", "weekly", "-d", "care-bot", "--period", "2026-W47"], 0),
        (["report", "archive", "-d", "care-bot"], 0),
        (["notify", "channels", "add", "cli-mail", "--kind", "email", "--smtp-host", "127.0.0.1",
          "--smtp-port", "9", "--smtp-security", "none", "--sender", "daytwo@example.org"], 0),
        (["report", "subscribe", "weekly", "-d", "care-bot", "--channel", "cli-mail", "--to",
          "lead@example.org"], 0),
        (["report", "send-due"], 78),  # the server sends them itself: said, exit 78
        (["plan", "template", "virtual_agent"], 0),
        (["plan", "apply", "--template", "-d", "cli-bot"], 0),
        (["plan", "show", "-d", "cli-bot"], 0),
        (["plan", "evaluate", "-d", "cli-bot"], 0),
        (["users", "create", "cli-ada", "--role", "admin"], 0),
        (["plan", "signoff", "stabilise", "-d", "cli-bot", "--as", "cli-ada", "--override",
          "--reason", "the suite passes it by hand"], 0),
        (["rollout", "show", "-d", "care-bot"], 0),
        (["rollout", "recommend", "-d", "care-bot"], 0),
        (["rollout", "set", "pilot", "-d", "cli-bot", "--journey", "billing"], 0),
        # Those that cannot run beside the server say so, with the server's address.
        (["serve"], 78),
        (["demo", "--no-serve"], 78),
        (["adoption", "show", "-d", "care-assist"], 78),
        (["adoption", "agents", "-d", "care-assist"], 78),
        (["adoption", "cohorts", "list", "-d", "care-assist"], 78),
        (["adoption", "cohorts", "add", "-d", "care-assist", "pilot"], 78),
        (["adoption", "cohorts", "remove", "-d", "care-assist", "pilot"], 78),
        (["adoption", "cohorts", "compare", "-d", "care-assist"], 78),
        (["adoption", "champions", "list", "-d", "care-assist"], 78),
        (["adoption", "champions", "add", "-d", "care-assist", "a-0001"], 78),
        (["adoption", "champions", "end", "-d", "care-assist", "1"], 78),
    ]  # fmt: skip


def test_every_command_runs_beside_the_server(
    cli: Served, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    script = _script(tmp_path)
    ran: set[tuple[str, ...]] = set()
    outputs: dict[str, str] = {}
    for argv, code in script:
        said = _ok(argv, capsys, code)
        outputs[" ".join(argv[:2])] = said
        words = [w for w in argv if not w.startswith("-")]
        ran.update(p for p in _command_paths() if tuple(words[: len(p)]) == p)
    keys_prefix = outputs["keys list"].split("\n")
    assert any("suite" in line for line in keys_prefix)
    revoke = next(line.split()[1] for line in keys_prefix if "suite" in line)
    _ok(["keys", "revoke", revoke], capsys)
    ran.add(("keys", "revoke"))
    assert "already serving" in outputs["serve"]
    assert cli.url in outputs["demo --no-serve"]
    assert f"{cli.url}/api/v1/adoption/" in outputs["adoption show"]
    assert "audit log intact" in outputs["audit verify"]
    missing = _command_paths() - ran
    assert missing == set(), f"commands the suite never ran beside the server: {missing}"
    # What needed the events store went through the server, as the person who ran it.
    r = httpx.get(
        cli.url + "/api/v1/deployments",
        headers={"authorization": f"Bearer {link.read(cli.data_dir).token}"},  # type: ignore[union-attr]
        timeout=30,
    )
    assert {"cli-bot", "care-bot"} <= {d["name"] for d in r.json()}
    assert "cli:" in outputs["audit list"]


def test_two_imports_at_once_both_land(cli: Served, tmp_path: Path) -> None:
    files = []
    for n, first in enumerate((10_000, 20_000)):
        path = tmp_path / f"batch-{n}.jsonl"
        rows = [interaction(first + i, turns=2, deployment="twin-bot") for i in range(400)]
        path.write_bytes(ndjson(rows))
        files.append(path)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "daytwo", "import", str(p), "--quiet"],
            env=_env(cli.data_dir),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for p in files
    ]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()
        assert b"400 stored" in out
    token = link.read(cli.data_dir).token  # type: ignore[union-attr]
    # The listing reads rollups the server refreshes off the request path (once writes pause
    # for a second, by default): the deployment appears, and both batches show, within a few
    # refreshes, never more than once.
    counts: tuple[int, int] = (0, 0)
    deadline = time.monotonic() + 30
    while counts != (800, 1600) and time.monotonic() < deadline:
        listed = httpx.get(
            cli.url + "/api/v1/deployments",
            headers={"authorization": f"Bearer {token}"},
            timeout=30,
        ).json()
        twin = next((d for d in listed if d["name"] == "twin-bot"), None)
        if twin is not None:
            counts = (twin["interactions"], twin["turns"])
        assert counts[0] <= 800
        assert counts[1] <= 1600
        time.sleep(0.2)
    assert counts == (800, 1600)


def test_a_command_gives_the_same_result_with_or_without_the_server(
    built: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "copy"
    shutil.copytree(built, data_dir, ignore=shutil.ignore_patterns(link.RECORD))
    for key, value in _env(data_dir).items():
        if key.startswith("DAYTWO_"):
            monkeypatch.setenv(key, value)
    reads = [
        ["deployments", "--json"],
        ["metrics", "show", "escalation_rate", "-d", "care-bot", "--by", "journey", "--json"],
        ["metrics", "show", "average_handle_time", "-d", "care-assist", "--bucket", "week"],
        ["change", "list", "--json"],
        ["gaps", "-d", "care-bot", "--no-refresh", "--json"],
    ]
    served = start_server(data_dir, tmp_path / "serve.log")
    try:
        with_server = [_ok(argv, capsys) for argv in reads]
    finally:
        stop_server(served)
    alone = [_ok(argv, capsys) for argv in reads]
    for argv, a, b in zip(reads, with_server, alone, strict=True):
        if "--json" in argv:
            assert json.loads(a) == json.loads(b), argv
        else:
            assert a == b, argv
