"""The command line as a client of a ``daytwo serve`` running on the same data dir.

A command that needs the events store calls :func:`server_for` first. When the data dir
records a live server (see :mod:`daytwo.http.link`), the command sends its work to that
server's API with the local credential and prints the answer exactly as it prints its own
result; otherwise it opens the stores itself. Errors come back as the same
:class:`~daytwo.errors.DaytwoError` (message and exit code) the command raises when it works
alone.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from daytwo.cli.console import err
from daytwo.errors import DaytwoError, StoreError, error_from_body
from daytwo.http import link

if TYPE_CHECKING:
    import httpx

    from daytwo.settings import Settings

# A server that was just started binds its port a moment after it records itself.
CONNECT_WAIT_S = 15.0
# Imports, analyses and retention can take minutes on a large store.
TIMEOUT_S = 3600.0


@dataclass
class Remote:
    """A live server and an HTTP client that carries the local credential."""

    record: link.ServerRecord
    client: httpx.Client

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """``method path``; the JSON answer, or the server's error raised as it was raised."""
        response = self.client.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise _error(response)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=_params(params))

    def post(self, path: str, body: Any = None, **params: Any) -> Any:
        return self.request("POST", path, json=body, params=_params(params))

    @contextmanager
    def stream(self, method: str, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        with self.client.stream(method, path, **kwargs) as response:
            if response.status_code >= 400:
                response.read()
                raise _error(response)
            yield response


def _params(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}


def _error(response: httpx.Response) -> DaytwoError:
    try:
        body = response.json()
    except ValueError:
        body = None
    return error_from_body(response.status_code, body)


def server_for(settings: Settings, actor: str) -> Remote | None:
    """The server running on ``settings``' data dir, ready to take requests as ``actor``;
    None when none runs (the command then works on the stores itself)."""
    record = link.read(settings.data_dir)
    if record is None:
        return None
    import httpx

    client = httpx.Client(
        base_url=record.url,
        headers={"authorization": f"Bearer {record.token}", link.ACTOR_HEADER: actor},
        timeout=httpx.Timeout(TIMEOUT_S, connect=5.0),
        trust_env=False,  # a loopback address: never through a proxy
    )
    deadline = time.monotonic() + CONNECT_WAIT_S
    while True:
        try:
            client.get("/healthz").raise_for_status()
            return Remote(record, client)
        except httpx.TransportError:
            if time.monotonic() > deadline or not link.pid_alive(record.pid):
                break
            time.sleep(0.2)
        except httpx.HTTPStatusError as exc:
            client.close()
            raise StoreError(
                f"daytwo serve (process {record.pid}) at {record.url} answers "
                f"{exc.response.status_code} to its health check; see its log."
            ) from None
    client.close()
    if link.pid_alive(record.pid):
        raise StoreError(
            f"daytwo serve (process {record.pid}) holds {settings.data_dir} but does not answer "
            f"at {record.url}; stop it or wait until it is up."
        )
    err.print(f"[dim]daytwo serve (process {record.pid}) has stopped; working on the files.[/]")
    return None
