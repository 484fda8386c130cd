"""The API keeps its contract under Schemathesis: a bounded fuzzing run against a live server.

A real `daytwo serve` over a small deployment (conversations, an owner, a rule, an item, a
change, feedback, all made through the API) is fuzzed from its own OpenAPI document three
times: with an admin key, a read key and no key. Any 5xx, any answer that breaks the schema or
lists an undocumented status, a wrong answer to a wrong method, a schema-violating request
accepted, or a 2xx on a route the caller may not use (``schemathesis_hooks.py``) fails the
test, which prints Schemathesis's report and the command that reproduces each failure.

Not checked: Schemathesis's ``positive_data_acceptance``, which takes any 4xx to a request
the schema allows as a failure. Business rules no schema can state (a journey the deployment
does not have, a status move the workflow forbids) rightly answer 400, 404 or 409.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.factory import interaction
from tests.server.serving import stop, wait_until_serving
from tests.server.test_durability import _free_port

ROOT = Path(__file__).resolve().parents[2]
# Seconds of fuzzing per caller: the admin reaches every route's logic, the others mostly
# its front door. Together with the server's start, about three minutes on two cores.
BUDGET = {"admin": 75, "read": 35, "none": 25}
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_headers_conformance,response_schema_conformance,negative_data_rejection,"
    "unsupported_method,allow_header_conformance,missing_required_header,"
    "caller_may_use_the_route"
)


@dataclass(frozen=True)
class Live:
    url: str
    keys: dict[str, str]


def _keys(ledger_url: str) -> dict[str, str]:
    from daytwo.governance.keys import create_key
    from daytwo.governance.models import KeyScope
    from daytwo.store.ledger import Ledger, upgrade

    upgrade(ledger_url)
    ledger = Ledger(ledger_url)
    try:
        admin, _ = create_key(ledger, scope=KeyScope.admin, deployment=None, name="fuzz-admin")
        read, _ = create_key(ledger, scope=KeyScope.read, deployment="care-bot", name="fuzz-read")
    finally:
        ledger.dispose()
    return {"admin": admin, "read": read}


def _seed(api: httpx.Client) -> None:
    def ok(r: httpx.Response) -> None:
        assert r.status_code < 300, f"{r.request.method} {r.request.url}: {r.text}"

    ok(
        api.post(
            "/api/v1/deployments",
            json={
                "name": "care-bot",
                "kind": "virtual_agent",
                "go_live": "2026-03-01",
                "journeys": ["billing", "card_lost", "address_change"],
                "cost_model": {"escalation": 4.0},
            },
        )
    )
    records = [interaction(n, turns=4) for n in range(120)]
    ok(api.post("/api/v1/ingest", json={"interactions": records}))
    ok(api.post("/api/v1/owners", json={"handle": "maria.s", "name": "Maria S"}))
    ok(api.post("/api/v1/routing-rules", json={"deployment": "care-bot", "owner": "maria.s"}))
    ok(
        api.post(
            "/api/v1/items",
            json={
                "deployment": "care-bot",
                "title": "Card questions escalate",
                "journey": "card_lost",
                "signal": {"volume_per_week": 40},
            },
        )
    )
    ok(
        api.post(
            "/api/v1/changes",
            json={
                "deployment": "care-bot",
                "kind": "prompt",
                "title": "Clearer card answer",
                "author": "maria.s",
                "shipped_at": "2026-03-02T12:00:00Z",
                "journeys": ["card_lost"],
            },
        )
    )
    ok(api.post("/api/v1/feedback", json={"deployment": "care-bot", "text": "slow answers"}))


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    base = tmp_path_factory.mktemp("fuzz")
    data = base / "data"
    keys = _keys(f"sqlite:///{data / 'ledger.sqlite'}")
    port = _free_port()
    env = {
        **os.environ,
        "DAYTWO_DATA_DIR": str(data),
        "DAYTWO_RATE_LIMIT_PER_MINUTE": "1000000",  # the fuzzer is one fast caller
        "DAYTWO_RETENTION_INTERVAL_MINUTES": "0",
    }
    log = (base / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "daytwo", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, proc, (base / "server.log").read_text)
        with httpx.Client(
            base_url=url, timeout=60, headers={"authorization": f"Bearer {keys['admin']}"}
        ) as api:
            _seed(api)
        yield Live(url, keys)
    finally:
        stop(proc)
        log.close()


def _short(report: str, width: int = 600) -> str:
    """``report`` with each line cut to ``width``: a generated body in a reproducing command
    can run to tens of kilobytes and push the failures out of the message."""
    return "\n".join(
        line if len(line) <= width else line[:width] + " …" for line in report.split("\n")
    )


@pytest.mark.parametrize("caller", ["admin", "read", "none"])
def test_the_api_keeps_its_contract_under_fuzzing(live: Live, caller: str) -> None:
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{live.url}/api/openapi.json",
        "--checks",
        CHECKS,
        "--phases",
        "examples,coverage,fuzzing",
        "--max-time",
        str(BUDGET[caller]),
        # One worker: with two, Hypothesis's lambda-source cache races in CPython 3.11's ast
        # ("AST constructor recursion depth mismatch"), an error of the tool, not the API.
        "--workers",
        "1",
        "--request-timeout",
        "60",
        "--seed",
        "20",
        "--no-color",
    ]
    if caller in live.keys:
        command += ["--header", f"Authorization: Bearer {live.keys[caller]}"]
    done = subprocess.run(
        command,
        cwd=ROOT,
        env={
            **os.environ,
            "SCHEMATHESIS_HOOKS": "tests.server.schemathesis_hooks",
            "DAYTWO_FUZZ_CALLER": caller,
        },
        capture_output=True,
        text=True,
        timeout=BUDGET[caller] + 240,
        check=False,
    )
    report = _short(done.stdout)[-12_000:] + done.stderr[-3_000:]
    assert done.returncode == 0, f"Schemathesis found problems as {caller}:\n{report}"
    assert "Tested:" in done.stdout, report
