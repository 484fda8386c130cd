"""The examples of docs/otlp.md, run as written (with the environment the page sets) against a
running server; the OpenAI calls go to the OpenAI-compatible fake on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ingest.otlp.conftest import LiveServer

EXAMPLES = Path(__file__).resolve().parents[3] / "docs" / "examples"


def _env(live: LiveServer, fake_openai: str, **extra: str) -> dict[str, str]:
    key = live.key()
    return {
        **os.environ,
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{live.url}/v1/traces",
        "OTEL_EXPORTER_OTLP_HEADERS": f"Authorization=Bearer%20{key}",
        "OTEL_RESOURCE_ATTRIBUTES": "daytwo.deployment=care-bot",
        "OPENAI_BASE_URL": fake_openai,
        "OPENAI_API_KEY": "not-a-real-key",
        "DAYTWO_URL": live.url,
        "DAYTWO_INGEST_KEY": key,
        **extra,
    }


def _run(command: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.parametrize(
    ("script", "conversation", "extra"),
    [
        ("openinference_openai.py", "chat-2026-0001", {}),
        (
            "otel_genai_openai.py",
            "ticket-2026-0002",
            {
                "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
                "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "span_only",
            },
        ),
    ],
)
def test_python_examples(
    live: LiveServer, fake_openai: str, script: str, conversation: str, extra: dict[str, str]
) -> None:
    out = _run([sys.executable, str(EXAMPLES / script)], _env(live, fake_openai, **extra))
    assert "Noted:" in out
    live.end_conversations()
    rows = live.query("SELECT interaction_id, deployment, customer_ref, n_turns FROM interactions")
    assert rows == [
        {
            "interaction_id": conversation,
            "deployment": "care-bot",
            "customer_ref": "customer-881",
            "n_turns": 5,  # the system prompt, two questions, two answers
        }
    ]


def test_curl_example(live: LiveServer, fake_openai: str) -> None:
    out = _run(["sh", str(EXAMPLES / "otlp_json.sh")], _env(live, fake_openai))
    assert out.strip() == "{}"
    live.end_conversations()
    rows = live.query("SELECT interaction_id, tokens_in, n_turns FROM interactions")
    assert rows == [{"interaction_id": "curl-0001", "tokens_in": 42, "n_turns": 2}]
