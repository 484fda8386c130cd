"""Real receivers for the notification tests: an HTTP server on a loopback port that checks
webhook signatures (and can be down, slow or back), and an aiosmtpd SMTP server with login."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from daytwo.notify.calc import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    signature_ok: bool | None

    def json(self) -> Any:
        return orjson.loads(self.body)

    @property
    def idempotency_key(self) -> str:
        return self.headers.get(IDEMPOTENCY_HEADER.lower(), "")


@dataclass
class WebhookReceiver:
    """Records every POST; ``mode`` is ``up``, ``down`` (503) or ``slow`` (answers late);
    with a ``secret`` it verifies the signature as docs/notify.md tells receivers to."""

    secret: str | None = None
    mode: str = "up"
    slow_s: float = 2.0
    received: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hook"

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if receiver.mode == "down":
                    self.send_response(503)
                    self.end_headers()
                    self.wfile.write(b"maintenance")
                    return
                if receiver.mode == "slow":
                    time.sleep(receiver.slow_s)
                headers = {k.lower(): v for k, v in self.headers.items()}
                ok = None
                if receiver.secret is not None:
                    ok = verify(
                        receiver.secret, headers.get(TIMESTAMP_HEADER.lower(), ""),
                        headers.get(SIGNATURE_HEADER.lower(), ""), body, now=time.time(),
                    )  # fmt: skip
                receiver.received.append(Received(self.path, headers, body, ok))
                self.send_response(200 if ok is not False else 401)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[Envelope] = []
        self.logins: list[bool] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        self.envelopes.append(envelope)
        self.logins.append(session.authenticated)
        raw = envelope.original_content or b""
        self.messages.append(message_from_bytes(raw, policy=policy.default))  # type: ignore[arg-type]
        return "250 OK"


def _free_port() -> int:
    # aiosmtpd checks its server by connecting to the configured port, so it needs a real one.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SmtpServer:
    """aiosmtpd on a loopback port; with ``username``/``password`` it requires that login
    (AUTH over plain SMTP, as a local relay allows)."""

    def __init__(self, username: str | None = None, password: str | None = None) -> None:
        self.mailbox = _Mailbox()
        self._login = (username, password)
        kwargs: dict[str, Any] = {}
        if username is not None:
            kwargs = {
                "authenticator": self._authenticate,
                "auth_required": False,  # offered; handle_DATA records who logged in
                "auth_require_tls": False,
            }
        self._port = _free_port()
        self._controller = Controller(self.mailbox, hostname="127.0.0.1", port=self._port, **kwargs)

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and (data.login.decode(), data.password.decode()) == self._login
        )
        return AuthResult(success=ok, handled=False)

    def start(self) -> SmtpServer:
        self._controller.start()
        return self

    @property
    def port(self) -> int:
        return self._port

    @property
    def messages(self) -> list[EmailMessage]:
        return self.mailbox.messages

    def stop(self) -> None:
        self._controller.stop()
