"""Validators plug into the silent-failure detector; the LLM judge speaks the OpenAI API."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from daytwo.detect import get_detector
from daytwo.detect.validators import (
    LLMJudge,
    Transcript,
    Verdict,
    configure_judge,
    register_validator,
    unregister_validator,
    validators,
)
from tests.detect.test_golden import silent_data


class FakeChat(BaseHTTPRequestHandler):
    """An OpenAI-compatible /chat/completions that fails every transcript mentioning 'bill'."""

    requests: list[dict[str, Any]] = []  # noqa: RUF012 - shared on purpose, one server per test
    reply: str | None = None

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeChat.requests.append({"path": self.path, "auth": self.headers.get("Authorization"),
                                  "body": body})  # fmt: skip
        transcript = body["messages"][-1]["content"]
        verdict = {"failed": "bill" in transcript, "reason": "did not pay the bill"}
        content = FakeChat.reply if FakeChat.reply is not None else json.dumps(verdict)
        payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(payload.encode())

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def fake_chat() -> Iterator[str]:
    FakeChat.requests = []
    FakeChat.reply = None
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeChat)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
        unregister_validator(LLMJudge.name)


def test_judge_is_off_by_default() -> None:
    assert configure_judge(None, "m", None) is None
    assert all(v.name != LLMJudge.name for v in validators())


def test_llm_judge_flags_failed_conversations(fake_chat: str) -> None:
    judge = configure_judge(fake_chat, "judge-model", "sk-test")
    assert judge is not None
    found = get_detector("silent_failures").run(silent_data(0.03))
    # All 300 current conversations say "pay my bill"; the 291 contained ones are sampled (50)
    # and every one is judged failed.
    (f,) = found
    assert f.key == ("validator", "llm_judge")
    assert f.current is not None
    assert f.current.value == 1.0
    assert f.current.n == 50
    assert f.details["reasons"][0] == "did not pay the bill"
    first = FakeChat.requests[0]
    assert first["path"] == "/v1/chat/completions"
    assert first["auth"] == "Bearer sk-test"
    assert first["body"]["model"] == "judge-model"
    assert first["body"]["temperature"] == 0
    assert "user: pay my bill" in first["body"]["messages"][-1]["content"]
    judge.close()


def test_a_reply_that_is_not_json_is_no_verdict(fake_chat: str) -> None:
    FakeChat.reply = "I think it went fine, mostly."
    judge = LLMJudge(fake_chat, "m")
    t = Transcript("c1", "billing", "contained", (("user", "pay my bill"),))
    assert judge.validate([t]) == []
    FakeChat.reply = '```json\n{"failed": false, "reason": "ok"}\n```'
    assert judge.validate([t]) == [Verdict("c1", False, "ok")]
    judge.close()


def test_an_unreachable_judge_raises_no_alarm() -> None:
    judge = LLMJudge("http://127.0.0.1:9/v1", "m", timeout_s=0.5)
    t = Transcript("c1", None, None, (("user", "hi"),))
    assert judge.validate([t]) == []
    judge.close()


class EveryOther:
    name = "every_other"

    def validate(self, transcripts: Sequence[Transcript]) -> list[Verdict]:
        return [Verdict(t.interaction_id, i % 2 == 0, "odd one") for i, t in enumerate(transcripts)]


def test_a_registered_validator_is_reported() -> None:
    register_validator(EveryOther())
    try:
        (f,) = get_detector("silent_failures").run(silent_data(0.03))
    finally:
        unregister_validator("every_other")
    assert f.key == ("validator", "every_other")
    assert f.current is not None
    assert f.current.value == 0.5


def test_register_refuses_what_is_not_a_validator() -> None:
    with pytest.raises(TypeError, match="validate"):
        register_validator(object())  # type: ignore[arg-type]
