"""The `daytwo` command: import, deployments, db; errors are messages and exit codes."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from daytwo.cli.main import run
from daytwo.store.events import open_event_store
from tests.factory import interaction, ndjson


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "data"
    monkeypatch.setenv("DAYTWO_DATA_DIR", str(path))
    monkeypatch.delenv("DAYTWO_LEDGER_URL", raising=False)
    monkeypatch.delenv("DAYTWO_EVENTS_URL", raising=False)
    return path


def _counts(data_dir: Path) -> tuple[int, int]:
    with open_event_store(f"duckdb:///{data_dir / 'events.duckdb'}", read_only=True) as s:
        return s.count("interactions"), s.count("turns")


def test_import_jsonl_reports_and_is_idempotent(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "export.jsonl"
    path.write_bytes(ndjson([interaction(i, turns=3) for i in range(50)]))
    assert run(["import", str(path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "export.jsonl" in out
    assert _counts(data_dir) == (50, 150)
    assert run(["import", str(path), "--quiet"]) == 0
    assert _counts(data_dir) == (50, 150)


def test_import_gzip_in_small_chunks(data_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "export.jsonl.gz"
    path.write_bytes(gzip.compress(ndjson([interaction(i, turns=2) for i in range(300)])))
    from daytwo.ingest.files import import_file

    with open_event_store(f"duckdb:///{data_dir / 'events.duckdb'}") as store:
        seen: list[int] = []
        summary = import_file(store, path, chunk_bytes=4096, progress=seen.append)
    assert (summary.accepted, summary.turns) == (300, 600)
    assert len(seen) > 5  # many chunks, each reported
    assert _counts(data_dir) == (300, 600)


def test_import_writes_rejects_and_stores_the_rest(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mixed.jsonl"
    lines = ndjson([interaction(0), interaction(1, outcome="solved")]) + b"{broken\n"
    path.write_bytes(lines + ndjson([interaction(3)]))
    assert run(["import", str(path), "--quiet"]) == 0
    assert _counts(data_dir)[0] == 2
    rejects = [
        orjson.loads(x) for x in (tmp_path / "mixed.jsonl.rejects.jsonl").read_bytes().splitlines()
    ]
    assert [r["index"] for r in rejects] == [1, 2]
    assert rejects[0]["errors"][0]["field"] == "outcome"
    assert rejects[1]["record"] == "{broken"
    assert "rejected" in capsys.readouterr().err


def test_strict_import_stores_nothing_when_a_record_is_bad(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(ndjson([interaction(0), interaction(1, started_at="yesterday")]))
    assert run(["import", str(path), "--strict", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "record 1" in err
    assert "started_at" in err
    assert "Traceback" not in err
    assert _counts(data_dir) == (0, 0)


def test_missing_file_is_a_clear_error(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["import", "/nonexistent/file.jsonl", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "No such file" in err
    assert "Traceback" not in err


def test_deployments_add_and_list(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["db", "upgrade"]) == 0
    assert (
        run(
            [
                "deployments",
                "add",
                "care-bot",
                "--kind",
                "virtual_agent",
                "--go-live",
                "2026-03-01",
                "--journeys",
                "billing, card_lost",
            ]
        )
        == 0
    )
    assert run(["deployments", "add", "care-bot", "--kind", "virtual_agent"]) == 5
    assert "already exists" in capsys.readouterr().err
    assert run(["deployments", "--json"]) == 0
    listed = orjson.loads(capsys.readouterr().out)
    assert listed[0]["name"] == "care-bot"
    assert listed[0]["registered"] is True


def test_version_and_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--version"]) == 0
    assert run(["no-such-command"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_the_root_help_lists_each_command_with_its_own_first_line() -> None:
    """`daytwo --help` lists commands from a table without importing them; the table's line
    for each command is the command's own help, so the two cannot drift apart."""
    from daytwo.cli.main import COMMANDS, load_command

    for name, (_, _, line) in COMMANDS.items():
        own = (load_command(name).help or "").strip().split("\n\n")[0]
        assert " ".join(own.split()) == line, name


def test_a_ledger_command_imports_neither_the_reports_nor_the_notifications(
    data_dir: Path,
) -> None:
    assert run(["keys", "list"]) == 0  # creates the ledger (the migrations import every domain)
    code = (
        "import sys; from daytwo.cli.main import run; rc = run(['keys', 'list']);"
        "heavy = [m for m in ('daytwo.report', 'daytwo.notify', 'daytwo.cli.report', "
        "'duckdb', 'fastapi') if m in sys.modules]; print(rc, heavy)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip().splitlines()[-1] == "0 []", done.stdout + done.stderr


@pytest.mark.parametrize(("flags", "replayed"), [([], True), (["--no-history"], False)])
def test_demo_replays_its_history_by_default(
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    flags: list[str],
    replayed: bool,
) -> None:
    # The building and the replay are tested in tests/demo; here, what `daytwo demo` asks of
    # them: a build left to the replay, the history replayed look by look with its progress
    # shown, and the reports issued on their own dates, unless --no-history.
    from daytwo.demo import load, reports
    from daytwo.store.ledger import upgrade

    asked: dict[str, object] = {}

    def build_demo(settings, config, **options):  # type: ignore[no-untyped-def]
        asked["build"] = options["history"]
        asked["days"] = config.days
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        upgrade(settings.resolved_ledger_url)
        manifest = settings.data_dir / load.MANIFEST
        manifest.write_bytes(orjson.dumps({"deployments": ["care-bot"]}))
        return load.DemoSummary(["care-bot"], 10, 40, 10, 0.1, manifest)

    def analyze_demo(  # type: ignore[no-untyped-def]
        settings, manifest, progress=None, *, history=False, on_look=None, gaps_warmed=False
    ):
        asked["analyze"] = history
        asked["gaps_warmed"] = gaps_warmed
        if history:
            on_look(1, 2)
            on_look(2, 2)
        return load.DemoAnalysis(3, 2, 1, 0.1)

    def issue_demo_reports(settings, manifest, progress=None, *, dated=False):  # type: ignore[no-untyped-def]
        asked["dated"] = dated
        return 4

    monkeypatch.setattr(load, "build_demo", build_demo)
    monkeypatch.setattr(load, "analyze_demo", analyze_demo)
    monkeypatch.setattr(reports, "issue_demo_reports", issue_demo_reports)
    assert run(["demo", "--no-serve", "--days", "30", *flags]) == 0
    # The build embedded the gaps' texts in this process: the replay does not look them up
    # again.
    assert asked == {
        "build": replayed, "days": 30, "analyze": replayed, "gaps_warmed": True,
        "dated": replayed,
    }  # fmt: skip
    said = capsys.readouterr()
    label = "replaying the history day by day" if replayed else "analysing the demo"
    assert label in said.err
    assert "3 findings in 2 backlog items" in said.out
