"""Targets are checked, or refused when set: every target a deployment can hold is on a metric
the SLO detector computes, and every metric a detector monitors is in the catalog."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path
from typing import Any

import pytest

from daytwo.deployments.schemas import DeploymentCreate
from daytwo.deployments.service import create_deployment, get_deployment
from daytwo.detect import targets
from daytwo.detect.cells import MONITORED_BY_ID
from daytwo.detect.targets import target_misses, target_values
from daytwo.errors import InputError
from daytwo.metrics.catalog import REGISTRY
from daytwo.store.ledger import DeploymentKind, Ledger, upgrade
from tests.detect.test_golden import latency_target_data, utilisation_data


def test_every_monitored_metric_is_in_the_catalog() -> None:
    assert set(MONITORED_BY_ID) <= set(REGISTRY)
    for metric_id, monitored in MONITORED_BY_ID.items():
        assert REGISTRY[metric_id].good == monitored.good, metric_id
        assert REGISTRY[metric_id].targetable, metric_id


@pytest.mark.parametrize("metric_id", [m for m, d in REGISTRY.items() if d.targetable])
def test_every_targetable_metric_is_computed_from_the_analysis(metric_id: str) -> None:
    """The catalog's expressions run on the analysis' tables: every column they read is there."""
    for data in (latency_target_data(3000.0), utilisation_data(0.5)):
        values = target_values(REGISTRY[metric_id], data)
        assert values.period.n is not None
        assert len(values.days) <= 7


def test_a_catalog_value_matches_the_metric_by_hand() -> None:
    util = target_values(REGISTRY["feature_utilisation"], utilisation_data(0.5))
    assert (util.period.value, util.period.n) == (pytest.approx(0.5), 700)
    assert [d.n for d in util.days] == [100] * 7
    latency = target_values(REGISTRY["latency_mean"], latency_target_data(3000.0))
    assert (latency.period.value, latency.period.n) == (pytest.approx(3000.0), 700)


def test_a_target_nothing_checks_is_refused_when_set(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    upgrade(url)
    ledger = Ledger(url)
    try:

        def create(targets: dict[str, float]) -> None:
            create_deployment(
                ledger,
                DeploymentCreate(name="bot", kind=DeploymentKind.virtual_agent, targets=targets),
                replace=True,
            )

        with pytest.raises(
            InputError, match=r"targets\.contact_volume: 'contact_volume' is a count"
        ):
            create({"containment_rate": 0.6, "contact_volume": 1000})
        with pytest.raises(InputError, match=r"targets\.uptime: 'uptime' is not a metric"):
            create({"uptime": 0.99})
        with pytest.raises(InputError, match="a target can be set on availability, error_rate"):
            create({"hours_saved": 10})
        create({"latency_p95": 2500, "nps": 30, "availability": 0.99})
        assert get_deployment(ledger, "bot").targets == {
            "latency_p95": 2500,
            "nps": 30,
            "availability": 0.99,
        }
    finally:
        ledger.dispose()


def _values_in_child(send: Any) -> None:
    values = target_values(REGISTRY["latency_mean"], latency_target_data(3000.0))
    send.send((values.period.value, values.period.n, [d.n for d in values.days]))
    send.close()


def test_target_values_share_a_database_per_process_and_a_fork_opens_its_own() -> None:
    """The in-memory database is opened once a process (opening one cost more than the
    queries): a forked process, such as the replay's look-ahead worker, opens its own instead
    of using its parent's, whose threads it does not have (that hung)."""
    data = latency_target_data(3000.0)
    first = target_values(REGISTRY["latency_mean"], data)
    opened = dict(targets._DATABASES)
    assert os.getpid() in opened
    again = target_values(REGISTRY["latency_mean"], data)
    assert opened == targets._DATABASES  # the same database, no other
    assert (again.period, again.days) == (first.period, first.days)
    assert target_misses(REGISTRY["latency_mean"], data).equals(
        target_misses(REGISTRY["latency_mean"], data)
    )
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_values_in_child, args=(send,))
    child.start()
    send.close()
    try:
        assert receive.poll(60), "the forked process did not compute its target values"
        assert receive.recv() == (first.period.value, first.period.n, [d.n for d in first.days])
    finally:
        child.join(10)
        if child.is_alive():
            child.terminate()
    assert child.exitcode == 0


@pytest.mark.parametrize("metric_id", [m for m, d in REGISTRY.items() if d.targetable])
def test_a_metric_reads_next_contacts_only_where_it_needs_them(
    metric_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A metric computed without each contact's next contact (the window is skipped where no
    expression reads it) has the values and misses it has with it."""
    metric = REGISTRY[metric_id]
    data = latency_target_data(3000.0)
    values, misses = target_values(metric, data), target_misses(metric, data)
    monkeypatch.setattr(targets, "_reads_next_contact", lambda _m: True)
    assert target_values(metric, data) == values
    assert target_misses(metric, data).equals(misses)


def test_misses_are_the_periods_conversations_behind_the_number_in_time_order() -> None:
    data = latency_target_data(3000.0)
    misses = target_misses(REGISTRY["latency_mean"], data).to_pylist()
    w, t = data.window, data.interactions
    at = dict(zip(t["interaction_id"].to_pylist(), t["started_at"].to_pylist(), strict=True))
    behind = {  # the drill-down of a mean latency (lower is better): those with a latency
        i
        for i, when, n in zip(
            t["interaction_id"].to_pylist(),
            t["started_at"].to_pylist(),
            t["n_latency"].to_pylist(),
            strict=True,
        )
        if w.current_start <= when < w.current_end and n > 0
    }
    assert misses
    assert set(misses) == behind
    assert len(misses) == len(behind)
    assert [at[i] for i in misses] == sorted(at[i] for i in misses)
    assert targets._reads_next_contact(REGISTRY["repeat_contact_7d"])
    assert not targets._reads_next_contact(REGISTRY["latency_mean"])
