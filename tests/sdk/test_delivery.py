"""End to end over real loopback HTTP: every interaction arrives, once, whatever fails.

A tiny ``http.server`` on 127.0.0.1 plays the ingest endpoint: it fails the first requests
(500, or by storing the batch and then dropping the connection so the answer is lost) and
stores the rest by id, as the real server does.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest

from daytwo.sdk import Client
from tests.sdk.conftest import record


@dataclass
class LoopbackIngest:
    fail_first: int = 0
    lose_answer_of_first: int = 0
    always_busy: bool = False
    requests: int = 0
    deliveries: list[str] = field(default_factory=list)  # ids as they arrived, repeats kept
    stored: dict[str, dict[str, Any]] = field(default_factory=dict)  # by id: later copy wins
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""


def _handler(state: LoopbackIngest) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go in two writes

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self, status: int, body: dict[str, Any], **headers: str) -> None:
            data = orjson.dumps(body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with state.lock:
                state.requests += 1
                n = state.requests
            if state.always_busy:
                self._answer(
                    503, {"error": {"code": "busy", "message": "busy"}}, **{"Retry-After": "30"}
                )
                return
            if n <= state.fail_first:
                self._answer(500, {"error": {"code": "internal_error", "message": "boom"}})
                return
            records = [orjson.loads(line) for line in body.splitlines()]
            with state.lock:
                for rec in records:
                    state.deliveries.append(rec["id"])
                    state.stored[rec["id"]] = rec
            if n <= state.fail_first + state.lose_answer_of_first:
                self.close_connection = True  # stored, but the client never hears so
                return
            k = len(records)
            self._answer(
                200,
                {
                    "received": k,
                    "accepted": k,
                    "rejected": 0,
                    "inserted": k,
                    "replaced": 0,
                    "turns": 0,
                    "errors": [],
                },
            )

    return Handler


@pytest.fixture
def loopback() -> Iterator[LoopbackIngest]:
    state = LoopbackIngest()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _log_from_threads(client: Client, threads: int, per_thread: int) -> list[str]:
    def work(t: int) -> None:
        for k in range(per_thread):
            client.log(record(t * per_thread + k, text=f"thread {t}"))

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return [f"c-{n:06d}" for n in range(threads * per_thread)]


def test_every_interaction_arrives_exactly_once_after_server_errors(
    loopback: LoopbackIngest,
) -> None:
    loopback.fail_first = 3
    client = Client(
        loopback.url, batch_size=50, flush_interval=0.05, backoff_base=0.01, backoff_max=0.05
    )
    expected = _log_from_threads(client, threads=4, per_thread=250)
    assert client.close(timeout=10)
    assert Counter(loopback.deliveries) == Counter(expected)  # each id exactly once
    stats = client.stats
    assert (stats.accepted, stats.failed, stats.dropped, stats.retries) == (1000, 0, 0, 3)


def test_a_lost_answer_resends_and_the_id_keeps_it_stored_once(
    loopback: LoopbackIngest,
) -> None:
    """The server stored a batch but the answer never came: the retry is a harmless repeat."""
    loopback.lose_answer_of_first = 2
    client = Client(
        loopback.url, batch_size=100, flush_interval=0.05, backoff_base=0.01, backoff_max=0.05
    )
    expected = _log_from_threads(client, threads=2, per_thread=150)
    assert client.close(timeout=10)
    assert len(loopback.deliveries) > len(expected)  # some batches really did arrive twice
    assert sorted(loopback.stored) == expected  # ... and are stored once, by id
    assert client.stats.accepted == len(expected)


def _run_child(code: str, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), url],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_records_logged_before_exit_are_flushed_by_the_atexit_hook(
    loopback: LoopbackIngest,
) -> None:
    loopback.fail_first = 1
    child = _run_child(
        """
        import sys
        from daytwo.sdk import Client

        client = Client(sys.argv[1], flush_interval=60, backoff_base=0.01, backoff_max=0.05)
        for n in range(40):
            client.log({"id": f"c-{n:06d}", "deployment": "care-bot",
                        "started_at": "2026-03-02T09:14:05Z"})
        # no close(), no flush(): the interpreter exits with everything still queued
        """,
        loopback.url,
    )
    assert child.returncode == 0, child.stderr
    assert child.stderr == ""
    assert Counter(loopback.deliveries) == Counter(f"c-{n:06d}" for n in range(40))


def test_the_exit_flush_is_bounded_when_the_server_is_down(loopback: LoopbackIngest) -> None:
    loopback.always_busy = True
    started = time.monotonic()
    child = _run_child(
        """
        import sys
        from daytwo.sdk import Client

        client = Client(sys.argv[1], flush_interval=60, shutdown_timeout=0.5)
        client.log({"id": "c-1", "deployment": "care-bot", "started_at": "2026-03-02T09:14:05Z"})
        """,
        loopback.url,
    )
    assert child.returncode == 0, child.stderr
    assert time.monotonic() - started < 10
    assert loopback.requests == 1
    assert "1 record(s) not stored (failed)" in child.stderr  # given up, and said so


def test_a_forked_child_gets_its_own_sender_and_nothing_is_sent_twice(
    loopback: LoopbackIngest,
) -> None:
    child = _run_child(
        """
        import os, sys
        from daytwo.sdk import Client

        client = Client(sys.argv[1], flush_interval=60)
        client.log({"id": "parent-1", "deployment": "d", "started_at": "2026-03-02T09:14:05Z"})
        pid = os.fork()
        who = "child" if pid == 0 else "parent"
        client.log({"id": f"{who}-2", "deployment": "d", "started_at": "2026-03-02T09:14:05Z"})
        if pid == 0:
            sys.exit(0 if client.flush(timeout=10) else 1)
        _, status = os.waitpid(pid, 0)
        sys.exit(os.waitstatus_to_exitcode(status))
        """,
        loopback.url,
    )
    assert child.returncode == 0, child.stderr
    assert Counter(loopback.deliveries) == Counter(["parent-1", "parent-2", "child-2"])
