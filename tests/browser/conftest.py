"""The real-browser suite: a real `daytwo serve` process, and Debian's chromium driven by
Playwright (``executable_path``; Playwright's own browser download is never used).

Fixtures:

- ``live_server`` (package): a real server process on a free loopback port over its own data
  dir, holding a small demo (``care-bot``, ``care-assist``) and one deployment registered and
  filled through the HTTP API (``live_server.seeded``: its name and exact counts); stopped by
  PID after the last test here. ``live_server.get_json(path)`` reads the API.
- ``server`` (package): ``live_server.url``, e.g. ``server + "/overview"``.
- ``browser`` (package): chromium (``$DAYTWO_CHROMIUM``, else ``/usr/bin/chromium``), headless.
- ``viewport`` (function): ``(1280, 800)``; parametrize a test on ``viewport`` to change it.
- ``page`` (function): a fresh context and page. A console error or warning, an uncaught page
  error, a failed request or an HTTP response >= 400 in any page of the test fails the test at
  teardown. A full-page screenshot of the last state goes to ``.test-artifacts/screenshots/``.

Package scope, not session: the Playwright sync API keeps an asyncio loop marked as running on
the main thread while it is open, and the server and chromium should not outlive this folder.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.factory import interaction

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Response

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / ".test-artifacts" / "screenshots"
DEFAULT_CHROMIUM = "/usr/bin/chromium"  # Debian's package; override with $DAYTWO_CHROMIUM
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",  # we run as root in a container
    "--disable-gpu",
    "--disable-dev-shm-usage",
    # Without these chromium calls home (updates, sync, field trials); the network is closed.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ACTION_TIMEOUT_MS = 10_000
# A loaded machine can take a while to import the app; a server that never starts still fails.
STARTUP_S = 120
DEMO_END = date(2026, 10, 31)

# The deployment the fixture registers and fills through the API: tests assert exact numbers.
SEEDED_DEPLOYMENT = "browser-bot"
SEEDED_INTERACTIONS = 7
SEEDED_TURNS_EACH = 4
ADMIN = "browser-admin"
ADMIN_PASSWORD = "a long browser-suite password"


@dataclass(frozen=True)
class Seeded:
    """What the fixture put in through the API, for exact assertions."""

    deployment: str
    interactions: int
    turns: int


@dataclass(frozen=True)
class LiveServer:
    url: str
    pid: int
    data_dir: Path
    seeded: Seeded
    api_key: str  # an admin key
    session_cookie: str  # the signed-in admin's session

    def get_json(self, path: str) -> Any:
        """GET an API path of the live server and return its JSON (asserting a 200)."""
        r = httpx.get(
            self.url + path, timeout=30, headers={"authorization": f"Bearer {self.api_key}"}
        )
        assert r.status_code == 200, f"GET {path}: {r.status_code} {r.text[:500]}"
        return r.json()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait_healthy(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_S
    while True:
        if proc.poll() is not None:
            pytest.fail(f"daytwo serve exited with {proc.returncode}:\n{_tail(log)}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"daytwo serve did not answer /healthz in {STARTUP_S} s:\n{_tail(log)}")
        time.sleep(0.1)


def _sign_in(url: str, username: str, password: str) -> str:
    """Sign in through the login form; the session cookie's value."""
    with httpx.Client(base_url=url, timeout=30) as browser:
        form = browser.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token, form.text[:500]
        r = browser.post(
            "/login",
            data={"username": username, "password": password, "csrf_token": token.group(1)},
        )
        assert r.status_code == 303, r.text[:500]
        cookie = browser.cookies.get("daytwo_session")
        assert cookie, "no session cookie after signing in"
        return str(cookie)


def _seed_through_api(url: str, key: str) -> None:
    auth = {"authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, timeout=30, headers=auth) as api:
        r = api.post(
            "/api/v1/deployments",
            json={
                "name": SEEDED_DEPLOYMENT,
                "kind": "virtual_agent",
                "description": "registered and filled by the browser suite",
                "go_live": "2026-03-01",
                "journeys": ["billing", "card_lost", "address_change"],
            },
        )
        assert r.status_code == 201, r.text
        records = [
            interaction(n, turns=SEEDED_TURNS_EACH, deployment=SEEDED_DEPLOYMENT)
            for n in range(SEEDED_INTERACTIONS)
        ]
        r = api.post("/api/v1/ingest", json={"interactions": records})
        assert r.status_code == 200, r.text
        assert r.json()["accepted"] == SEEDED_INTERACTIONS, r.text
        # The pages read rollups that the server refreshes off the request path once writes
        # pause; the suite reads the seeded counts only once `/healthz` says they are current.
        deadline = time.monotonic() + 120
        while True:
            health = api.get("/healthz").json()
            if health["figures_as_of"] is not None and not health["figures_behind"]:
                return
            assert time.monotonic() < deadline, f"figures still behind after 120 s: {health}"
            time.sleep(0.2)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture(scope="package")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A real `daytwo serve` over a small demo plus one deployment seeded through the API."""
    from daytwo.demo.generator import DemoConfig
    from daytwo.demo.load import build_demo
    from daytwo.governance.accounts import create_user
    from daytwo.governance.keys import create_key
    from daytwo.governance.models import KeyScope, Role
    from daytwo.settings import Settings
    from daytwo.store.ledger import Ledger

    base = tmp_path_factory.mktemp("browser")
    data_dir = base / "data"
    build_demo(
        Settings(data_dir=data_dir),
        DemoConfig(seed=5, days=45, interactions_per_day=300, end=DEMO_END),
    )
    settings = Settings(data_dir=data_dir)
    ledger = Ledger(settings.resolved_ledger_url)
    try:
        create_user(ledger, ADMIN, ADMIN_PASSWORD, Role.admin)
        api_key, _ = create_key(ledger, scope=KeyScope.admin, deployment=None, name="browser")
    finally:
        ledger.dispose()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = base / "server.log"
    # Pages, fragments and charts of a whole suite from one session: lift the rate limit.
    env = {
        **os.environ,
        "DAYTWO_DATA_DIR": str(data_dir),
        "DAYTWO_RATE_LIMIT_PER_MINUTE": "100000",
    }
    with log.open("wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "daytwo", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_healthy(proc, url, log)
        _seed_through_api(url, api_key)
        cookie = _sign_in(url, ADMIN, ADMIN_PASSWORD)
        seeded = Seeded(
            deployment=SEEDED_DEPLOYMENT,
            interactions=SEEDED_INTERACTIONS,
            turns=SEEDED_INTERACTIONS * SEEDED_TURNS_EACH,
        )
        yield LiveServer(
            url=url,
            pid=proc.pid,
            data_dir=data_dir,
            seeded=seeded,
            api_key=api_key,
            session_cookie=cookie,
        )
    finally:
        _stop(proc)


@pytest.fixture(scope="package")
def server(live_server: LiveServer) -> str:
    """The live server's base URL, without a trailing slash."""
    return live_server.url


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    executable = os.environ.get("DAYTWO_CHROMIUM") or DEFAULT_CHROMIUM
    if not os.access(executable, os.X_OK):
        pytest.fail(
            f"chromium not found at {executable}: run `make system-deps` (installs Debian's "
            "chromium), or point DAYTWO_CHROMIUM at a chromium binary. Never `playwright install`."
        )
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the Python package playwright is not installed: run `make install`.")
    with sync_playwright() as pw:
        try:
            chromium = pw.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        except PlaywrightError as exc:
            pytest.fail(f"chromium at {executable} did not start under Playwright: {exc}")
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def viewport() -> tuple[int, int]:
    """Width and height of the page; parametrize a test on ``viewport`` to change them."""
    return (1280, 800)


@pytest.fixture
def page(
    browser: Browser,
    live_server: LiveServer,
    viewport: tuple[int, int],
    request: pytest.FixtureRequest,
) -> Iterator[Page]:
    """A fresh page, signed in as an admin, that fails its test on any console error/warning
    or failed request."""
    width, height = viewport
    context = browser.new_context(viewport={"width": width, "height": height})
    context.add_cookies(
        [{"name": "daytwo_session", "value": live_server.session_cookie, "url": live_server.url}]
    )
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            where = message.location.get("url", "") if message.location else ""
            problems.append(f"console {message.type}: {message.text} ({where})")

    def on_request_failed(req: Request) -> None:
        # ERR_ABORTED is the browser cancelling a request because the page moved on (a form
        # submitted while the favicon loads); a server that fails answers >= 400, seen below.
        if req.failure and "ERR_ABORTED" in req.failure:
            return
        problems.append(f"request failed: {req.method} {req.url}: {req.failure}")

    def on_response(response: Response) -> None:
        if response.status >= 400:
            problems.append(f"HTTP {response.status}: {response.request.method} {response.url}")

    # On the context, so that popups and every page of the test are watched too.
    context.on("console", on_console)
    context.on("weberror", lambda err: problems.append(f"uncaught error: {err.error}"))
    context.on("requestfailed", on_request_failed)
    context.on("response", on_response)
    try:
        pg = context.new_page()
        yield pg
        last_url = pg.url
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.name)
        try:
            pg.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
        except Exception as exc:  # a crashed page must not hide what was recorded
            problems.append(f"screenshot failed: {exc}")
    finally:
        context.close()
    assert not problems, f"the page (last at {last_url}) was not clean:\n" + "\n".join(problems)
