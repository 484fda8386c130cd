"""A `daytwo serve` process in a test: wait until it answers, stop it however it is."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest


def wait_until_serving(
    url: str, proc: subprocess.Popen[Any], output: Callable[[], str], seconds: float = 120
) -> None:
    """Return once ``url``/healthz answers; fail with the server's ``output()`` if it exits."""
    deadline = time.monotonic() + seconds
    while True:
        if proc.poll() is not None:
            pytest.fail(f"the server did not start: {output()[-3000:]}")
        try:
            httpx.get(url + "/healthz", timeout=2)
            return
        except httpx.HTTPError:
            assert time.monotonic() < deadline, f"the server did not answer in {seconds:.0f} s"
            time.sleep(0.2)


def stop(proc: subprocess.Popen[Any]) -> None:
    """Terminate ``proc``, killing it if it does not end within 30 s."""
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)
