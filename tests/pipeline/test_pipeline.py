"""The analysis pipeline: detectors, then every consumer in the declared order, each isolated;
outside plugins register consumers and detectors exactly as the product's own do."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import FrozenInstanceError
from pathlib import Path
from typing import Any

import orjson
import pytest

from daytwo.backlog.service import list_items
from daytwo.deployments.schemas import DeploymentPublic
from daytwo.detect import registry
from daytwo.detect.findings import Finding
from daytwo.ingest.decode import decode_json
from daytwo.pipeline import DEFAULT_CONSUMERS, AnalysisContext, analyze, hookimpl, plugins
from daytwo.settings import Settings
from daytwo.store.events import EventStore, open_event_store
from daytwo.store.ledger import Ledger
from tests.backlog.conftest import DEPLOYMENT, registered_ledger, store_of, synthetic_records


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path)


@pytest.fixture
def ledger(settings: Settings) -> Iterator[Ledger]:
    led = registered_ledger(settings.resolved_ledger_url)
    yield led
    led.dispose()


@pytest.fixture(scope="module")
def worse_records() -> list[dict[str, Any]]:
    # card_lost contains 0.50, then 0.25 from day 20: a degradation the detectors find.
    return synthetic_records(effect=-0.25)


@pytest.fixture
def events(worse_records: list[dict[str, Any]]) -> Iterator[EventStore]:
    store = store_of(worse_records)
    yield store
    store.close()


@pytest.fixture
def manager() -> Iterator[Any]:
    """The pipeline's plugin manager; plugins a test registers are removed afterwards."""
    pm = plugins.plugin_manager()
    before = {name for name, _ in pm.list_name_plugin()}
    yield pm
    for name, plugin in pm.list_name_plugin():
        if name not in before:
            pm.unregister(plugin, name=name)


class Recorder:
    def __init__(self, items_seen: list[int]) -> None:
        self.contexts: list[AnalysisContext] = []
        self.items_seen = items_seen

    @hookimpl
    def after_analysis(self, ctx: AnalysisContext) -> None:
        self.contexts.append(ctx)
        self.items_seen.append(len(list_items(ctx.ledger)))


class Failing:
    @hookimpl
    def after_analysis(self, ctx: AnalysisContext) -> None:
        raise RuntimeError(f"broken consumer on {ctx.deployment_name}")


def _declared_consumers(manager: Any) -> list[str]:
    """The product's plugins that consume a run, in the declared order (a plugin may only
    contribute detectors, as adoption's does)."""
    return [n for n in DEFAULT_CONSUMERS if hasattr(manager.get_plugin(n), "after_analysis")]


def test_the_backlog_is_the_first_consumer() -> None:
    assert DEFAULT_CONSUMERS[0] == "daytwo.backlog.consumer"
    manager = plugins.plugin_manager()
    names = [i.plugin_name for i in plugins.consumers(manager, "after_analysis")]
    declared = _declared_consumers(manager)
    assert declared[0] == "daytwo.backlog.consumer"
    assert names[: len(declared)] == declared


def test_the_adoption_detectors_are_contributed_by_its_plugin() -> None:
    plugins.plugin_manager()
    ids = [d.id for d in registry.detectors()]
    assert {"adoption_decline", "adoption_workarounds"} <= set(ids)
    contributed = [
        i.plugin_name for i in plugins.consumers(plugins.plugin_manager(), "register_detectors")
    ]
    assert "daytwo.adoption.plugin" in contributed


def test_consumers_get_the_run_in_order_and_one_failing_stops_nothing(
    settings: Settings,
    ledger: Ledger,
    events: EventStore,
    manager: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    items_seen: list[int] = []
    recorder = Recorder(items_seen)
    # Outside consumers run after the product's, by name: the failing one first.
    manager.register(Failing(), name="a-failing-consumer")
    manager.register(recorder, name="b-recorder")
    with caplog.at_level(logging.ERROR, logger="daytwo.pipeline"):
        (outcome,) = analyze(settings, ledger, events, trigger="api", deployment=DEPLOYMENT)
    assert outcome.run_id is not None
    assert outcome.findings
    assert outcome.failed_consumers == ("a-failing-consumer",)
    assert "consumer a-failing-consumer failed after analysis run" in caplog.text
    (ctx,) = recorder.contexts
    # The backlog ran first: its items were there when the recorder looked.
    assert items_seen == [len(list_items(ledger))]
    assert items_seen[0] > 0
    assert ctx.trigger == "api"
    assert ctx.settings is settings
    assert ctx.ledger is ledger
    assert ctx.events is events
    assert ctx.deployment_name == DEPLOYMENT
    assert isinstance(ctx.deployment, DeploymentPublic)
    assert ctx.run_id == outcome.run_id
    assert ctx.as_of == outcome.as_of == ctx.window.current_end
    assert ctx.window.baseline_end <= ctx.window.current_start
    assert ctx.findings == tuple(outcome.findings)
    assert ctx.recorded == outcome.recorded
    assert set(ctx.recorded.new_fingerprints) == {f.fingerprint for f in ctx.findings}
    assert ctx.recorded.new == len(ctx.recorded.new_fingerprints)
    assert ctx.since is None
    with pytest.raises(FrozenInstanceError):
        ctx.run_id = 0  # type: ignore[misc]
    # Nothing new: no run, so no consumer is called.
    again = analyze(settings, ledger, events, trigger="cli", deployment=DEPLOYMENT)
    assert again[0].skipped == "no new data since the last run"
    assert len(recorder.contexts) == 1


def test_a_forced_rerun_reports_updates_and_resolutions(
    settings: Settings, ledger: Ledger, events: EventStore, manager: Any
) -> None:
    recorder = Recorder([])
    manager.register(recorder, name="b-recorder")
    (first,) = analyze(settings, ledger, events, trigger="cli", deployment=DEPLOYMENT)
    # The same data again, forced: every finding is seen again, none is new.
    (second,) = analyze(
        settings, ledger, events, trigger="schedule", deployment=DEPLOYMENT, force=True
    )
    assert [c.trigger for c in recorder.contexts] == ["cli", "schedule"]
    again = recorder.contexts[1].recorded
    assert again.new_fingerprints == ()
    assert set(again.updated_fingerprints) == {f.fingerprint for f in first.findings}
    assert second.failed_consumers == ()


def _outside_package(root: Path) -> None:
    """An installed distribution with a ``daytwo`` entry point, as pip would leave it."""
    (root / "outside_plugin.py").write_text(
        textwrap.dedent(
            '''
            from dataclasses import dataclass

            from daytwo.detect.registry import Detector
            from daytwo.pipeline import hookimpl

            SEEN = []


            @dataclass(frozen=True)
            class Params:
                label: str = "outside"


            def count_rows(data, params):
                """Finds nothing; records how many interactions it was given."""
                SEEN.append((params.label, data.interactions.num_rows))
                return []


            @hookimpl
            def register_detectors():
                return [Detector("outside_rows", "Outside rows", count_rows, Params())]


            @hookimpl
            def after_analysis(ctx):
                SEEN.append(("consumer", ctx.deployment_name, ctx.trigger))
            '''
        )
    )
    info = root / "outside_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: outside-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[daytwo]\noutside = outside_plugin\n")


def test_an_outside_package_plugs_in_through_an_entry_point(
    settings: Settings,
    ledger: Ledger,
    events: EventStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    _outside_package(site)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(plugins, "_manager", plugins.build_plugin_manager())
    import outside_plugin  # type: ignore[import-not-found]

    assert registry.detectors()[-1].id == "outside_rows"  # after the built-in ones
    names = [i.plugin_name for i in plugins.consumers(plugins._manager, "after_analysis")]
    assert names == [*_declared_consumers(plugins._manager), "outside"]
    (outcome,) = analyze(settings, ledger, events, trigger="demo", deployment=DEPLOYMENT)
    assert outcome.run_id is not None
    seen = outside_plugin.SEEN
    assert seen[0][0] == "outside"
    assert seen[0][1] > 0
    assert seen[1] == ("consumer", DEPLOYMENT, "demo")
    assert len(list_items(ledger)) > 0  # the backlog still ran


def test_a_contributed_detector_must_be_a_definition(monkeypatch: pytest.MonkeyPatch) -> None:
    class Wrong:
        @hookimpl
        def register_detectors(self) -> list[Finding]:
            return ["not a detector"]  # type: ignore[list-item]

    manager = plugins.build_plugin_manager()
    manager.register(Wrong(), name="wrong")
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    with pytest.raises(TypeError, match="plugin 'wrong': register_detectors must return"):
        plugins._register_detectors(manager)


DOCS = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"


def test_every_hook_and_consumer_is_documented() -> None:
    text = DOCS.read_text()
    for name in plugins.plugin_manager().hook.__dict__:
        if not name.startswith("_"):
            assert f"### `{name}(" in text, f"the {name} hook is not in docs/architecture.md"
    for module in DEFAULT_CONSUMERS:
        assert f'"{module}"' in text


def test_the_documented_example_runs_as_written(
    settings: Settings, ledger: Ledger, worse_records: list[dict[str, Any]], tmp_path: Path
) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.S)
    consumer = next(b for b in blocks if "def after_analysis" in b)
    script = next(b for b in blocks if "import print_runs" in b)
    with open_event_store(settings.resolved_events_url) as events:
        events.write(decode_json(orjson.dumps(worse_records)).batch, source="t", batch_id="1")
    ledger.dispose()
    work = tmp_path / "example"
    work.mkdir()
    (work / "print_runs.py").write_text(consumer)
    (work / "example.py").write_text(script)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAYTWO_")}
    proc = subprocess.run(
        [sys.executable, "example.py"],
        cwd=work,
        env={**env, "DAYTWO_DATA_DIR": str(settings.data_dir)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    line = proc.stdout.strip()
    assert line.startswith(f"{DEPLOYMENT} as of 2026-04-09 ")
    assert re.search(r"\(cli, run 1\): (\d+) findings, \1 new, 0 resolved$", line), line
